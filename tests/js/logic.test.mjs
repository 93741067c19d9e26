// node --test: the editor's pure logic, including the resampling vectors shared with Python.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  EASED_POINTS,
  EASINGS,
  History,
  MAX_DRAGS,
  clientToImage,
  deletePoint,
  dragTiming,
  excessDrags,
  hitTest,
  insertPoint,
  isZeroLength,
  movePoint,
  parseDocument,
  positionsAt,
  rescaleDocument,
  resamplePath,
  retimeDrag,
  startPoints,
  timesFor,
  withTiming,
} from "../../web/drag_logic.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url)));

test("the SAM points are the start_points output's pixels (nodes/start_points.py) on the shared vectors", () => {
  assert.ok(vectors.start_points.length >= 3);
  for (const { document, expected } of vectors.start_points) assert.deepEqual(startPoints(document), expected);
});

test("only the drags that reach the model prompt SAM: the excess beyond 5 is not marked", () => {
  const drags = Array.from({ length: 7 }, (_, i) => ({ points: [[10 + i, 20], [30, 40]] }));
  const marked = startPoints({ version: 1, width: 64, height: 64, drags });
  assert.deepEqual(marked.map(({ x }) => x), [10, 11, 12, 13, 14]);
});

test("resampling equals puppet_master.drags.resample_path on the shared vectors", () => {
  assert.ok(vectors.cases.length >= 8);
  for (const { points, frames, times, expected } of vectors.cases) {
    const ours = resamplePath(points, frames, times ?? null);
    assert.equal(ours.length, expected.length);
    ours.forEach(([x, y], i) => {
      assert.ok(Math.abs(x - expected[i][0]) < 1e-9 && Math.abs(y - expected[i][1]) < 1e-9, `${JSON.stringify(points)} frame ${i}`);
    });
  }
});

test("a two-point drag is the official linear interpolation", () => {
  const track = resamplePath([[0, 0], [13, 26]], 14);
  track.forEach(([x, y], f) => assert.deepEqual([x, y], [f, 2 * f]));
});

test("documents parse, fall back and rescale", () => {
  assert.deepEqual(parseDocument("not json", [64, 32]), { version: 1, width: 64, height: 32, drags: [] });
  const six = { version: 1, width: 10, height: 10, drags: Array.from({ length: 6 }, () => ({ points: [[1, 1], [2, 2]] })) };
  assert.equal(parseDocument(JSON.stringify(six)).drags.length, 6, "every drag stays, so the excess can be seen and removed");
  assert.equal(excessDrags(parseDocument(six)), 6 - MAX_DRAGS);
  assert.equal(excessDrags(parseDocument({ ...six, drags: six.drags.slice(1) })), 0);
  const timed = { version: 1, width: 10, height: 10, drags: [{ points: [[1, 1], [2, 2]], times: [0.2, 0.8] }, { points: [[1, 1], [2, 2]], times: [0] }] };
  assert.deepEqual(parseDocument(timed).drags, [{ points: [[1, 1], [2, 2]], times: [0.2, 0.8] }, { points: [[1, 1], [2, 2]] }]);
  const doc = parseDocument({ version: 1, width: 100, height: 50, drags: [{ points: [[10, 10], [50, 25]] }] });
  assert.deepEqual(rescaleDocument(doc, 200, 100).drags[0].points, [[20, 20], [100, 50]]);
  assert.deepEqual(positionsAt(doc, 3, 1), [[30, 17.5]]);
});

test("pointer mapping accounts for CSS scaling and letterboxing", () => {
  const rect = { left: 100, top: 50, width: 400, height: 200 };
  assert.deepEqual(clientToImage(300, 150, rect, 1000, 1000), [500, 500]);
  assert.deepEqual(clientToImage(200, 50, rect, 1000, 1000), [0, 0]);
  assert.deepEqual(clientToImage(100, 50, { ...rect, height: 400 }, 200, 100), [0, -50]);
});

test("hit testing, insertion and deletion", () => {
  const doc = { version: 1, width: 100, height: 100, drags: [{ points: [[10, 10], [90, 10]] }] };
  assert.deepEqual(hitTest(doc, [11, 11], 3), { kind: "point", drag: 0, point: 0 });
  assert.deepEqual(hitTest(doc, [50, 12], 3), { kind: "segment", drag: 0, segment: 0 });
  assert.equal(hitTest(doc, [50, 40], 3), null);
  const curved = insertPoint(doc, 0, 0, [50, 30]);
  assert.deepEqual(curved.drags[0].points, [[10, 10], [50, 30], [90, 10]]);
  assert.deepEqual(deletePoint(curved, 0, 1).drags[0].points, [[10, 10], [90, 10]]);
  assert.equal(deletePoint(doc, 0, 0).drags.length, 0);
});

test("undo and redo walk the snapshots", () => {
  const history = new History("a");
  history.push("b");
  history.push("c");
  assert.equal(history.undo(), "b");
  assert.equal(history.undo(), "a");
  assert.equal(history.undo(), "a");
  assert.equal(history.redo(), "b");
  history.push("d");
  assert.equal(history.redo(), "d");
});

test("a click without moving is a held point: zero length, in place at every frame", () => {
  const held = { points: [[30, 40], [30, 40]] };
  assert.ok(isZeroLength(held));
  assert.ok(!isZeroLength({ points: [[30, 40], [31, 40]] }));
  assert.deepEqual(resamplePath(held.points, 5), Array(5).fill([30, 40]));
});

test("timing: start and end frames and easing become per-point times, and read back", () => {
  const straight = { points: [[0, 0], [30, 0], [100, 0]] };
  assert.deepEqual(timesFor(straight.points), [0, 0.3, 1], "linear times follow the path length");
  assert.deepEqual(timesFor(straight.points, { start: 0.5, end: 1 }), [0.5, 0.65, 1]);
  assert.deepEqual(withTiming(straight, { start: 0, end: 1, easing: "linear" }), { points: straight.points }, "the default drops times");
  for (const easing of EASINGS) {
    for (const [start, end] of [[0, 1], [0.25, 0.75], [0.5, 0.5]]) {
      const drag = withTiming({ points: [[10, 10], [70, 10]] }, { start, end, easing });
      const eased = easing !== "linear" && end > start;
      assert.equal(drag.points.length, eased ? EASED_POINTS : 2, `${easing}: a straight drag gains points to change speed`);
      drag.points.forEach(([, y]) => assert.equal(y, 10), "the added points lie on the path");
      const times = drag.times ?? [0, 1];
      times.forEach((t, i) => assert.ok(t >= 0 && t <= 1 && (i === 0 || t >= times[i - 1]), `${times}`));
      assert.deepEqual(dragTiming(drag), { start, end, easing: eased ? easing : "linear" });
    }
  }
  assert.deepEqual(dragTiming({ points: [[0, 0], [1, 0], [2, 0]], times: [0, 0.9, 1] }).easing, "custom");
});

test("timing shows in the frame preview: nothing moves before the start frame, all has arrived at the end", () => {
  const doc = retimeDrag({ version: 1, width: 100, height: 100, drags: [{ points: [[10, 50], [90, 50]] }] }, 0, { start: 4 / 13, end: 9 / 13, easing: "ease-in-out" });
  const xs = Array.from({ length: 14 }, (_, f) => positionsAt(doc, 14, f)[0][0]);
  xs.slice(0, 5).forEach((x) => assert.equal(x, 10));
  xs.slice(9).forEach((x) => assert.equal(x, 90));
  const steps = xs.slice(4, 10).map((x, i) => xs[i + 5] - x).slice(0, 5);
  assert.ok(steps[0] < steps[2] && steps[4] < steps[2], `eased: slow, fast, slow (${steps})`);
});

test("edits keep timing: moving keeps times, inserting interpolates one, deleting drops one", () => {
  const doc = { version: 1, width: 100, height: 100, drags: [{ points: [[0, 10], [100, 10]], times: [0.2, 0.6] }] };
  assert.deepEqual(movePoint(doc, 0, 1, [80, 20]).drags[0], { points: [[0, 10], [80, 20]], times: [0.2, 0.6] });
  const inserted = insertPoint(doc, 0, 0, [25, 10]);
  assert.deepEqual(inserted.drags[0], { points: [[0, 10], [25, 10], [100, 10]], times: [0.2, 0.3, 0.6] });
  assert.deepEqual(deletePoint(inserted, 0, 1).drags[0], doc.drags[0]);
});

test("overlapping points: the selected drag is picked first", () => {
  const doc = { version: 1, width: 100, height: 100, drags: [{ points: [[10, 10], [50, 50]] }, { points: [[10, 10], [90, 10]] }] };
  assert.deepEqual(hitTest(doc, [10, 10], 3), { kind: "point", drag: 1, point: 0 });
  assert.deepEqual(hitTest(doc, [10, 10], 3, 0), { kind: "point", drag: 0, point: 0 });
});
