// node --test: the editor's pure logic, including the resampling vectors shared with Python.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  History,
  MAX_DRAGS,
  clientToImage,
  deletePoint,
  hitTest,
  insertPoint,
  parseDocument,
  positionsAt,
  rescaleDocument,
  resamplePath,
} from "../../web/drag_logic.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url)));

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
  assert.equal(parseDocument(JSON.stringify(six)).drags.length, MAX_DRAGS);
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
