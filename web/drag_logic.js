// Pure drag-editor logic (no DOM, no ComfyUI): the drag document, resampling, geometry, undo history.
// Mirrors puppet_master/drags.py; tests/js/vectors.json pins both implementations to the same numbers.

export const MAX_DRAGS = 5;
export const DRAG_COLOURS = ["#ff3b30", "#34c759", "#0a84ff", "#ff9f0a", "#bf5af2"];
/** Colour of drags beyond MAX_DRAGS: shown so they can be found and removed, never sent as valid. */
export const EXCESS_COLOUR = "#8e8e93";
export const EASINGS = ["linear", "ease-in", "ease-out", "ease-in-out"];
/** An eased drag gets at least this many points, so its speed can change along a straight path. */
export const EASED_POINTS = 7;

export function emptyDocument(width, height) {
  return { version: 1, width, height, drags: [] };
}

/** Parse a widget value (JSON text or object) into a document, or an empty one for `fallbackSize`. */
export function parseDocument(value, fallbackSize = [512, 512]) {
  let doc = value;
  if (typeof value === "string") {
    try {
      doc = value.trim() ? JSON.parse(value) : null;
    } catch {
      doc = null;
    }
  }
  if (!doc || doc.version !== 1 || !Array.isArray(doc.drags) || !(doc.width > 0) || !(doc.height > 0)) {
    return emptyDocument(fallbackSize[0], fallbackSize[1]);
  }
  return {
    version: 1,
    width: doc.width,
    height: doc.height,
    drags: doc.drags
      .filter((d) => d && Array.isArray(d.points) && d.points.length >= 2)
      .map((d) => {
        const points = d.points.map((p) => [p[0], p[1]]);
        return Array.isArray(d.times) && d.times.length === points.length ? { points, times: [...d.times] } : { points };
      }),
  };
}

/** How many drags must go before the model accepts the document (0 when it has at most MAX_DRAGS). */
export function excessDrags(doc) {
  return Math.max(0, doc.drags.length - MAX_DRAGS);
}

/** A drag's points coincide: a point held in place (a click without moving). */
export function isZeroLength(drag) {
  const [x0, y0] = drag.points[0];
  return drag.points.every(([x, y]) => x === x0 && y === y0);
}

/** The same drags on the image shown at another size (points scaled proportionally). */
export function rescaleDocument(doc, width, height) {
  const sx = width / doc.width;
  const sy = height / doc.height;
  return {
    ...doc,
    width,
    height,
    drags: doc.drags.map((d) => ({ ...d, points: d.points.map(([x, y]) => [x * sx, y * sy]) })),
  };
}

/** Fraction of the path's length before each point (0 ... 1); evenly by index for a zero-length path. */
export function arcFractions(points) {
  const cumulative = [0];
  for (let i = 1; i < points.length; i++) {
    cumulative.push(cumulative[i - 1] + Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]));
  }
  const total = cumulative[cumulative.length - 1];
  if (total === 0) return points.map((_, i) => i / (points.length - 1));
  return cumulative.map((length, i) => (i === points.length - 1 ? 1 : length / total));
}

/** Inverse of each easing: the time (0..1) at which the eased motion has covered `s` of the path. */
const EASING_INVERSE = {
  linear: (s) => s,
  "ease-in": (s) => Math.sqrt(s),
  "ease-out": (s) => 1 - Math.sqrt(1 - s),
  "ease-in-out": (s) => (s < 0.5 ? Math.sqrt(s / 2) : 1 - Math.sqrt((1 - s) / 2)),
};

const round4 = (value) => Math.round(value * 1e4) / 1e4;

/** Per-point times for a drag moving from `start` to `end` (fractions of the video) with `easing`. */
export function timesFor(points, { start = 0, end = 1, easing = "linear" } = {}) {
  const inverse = EASING_INVERSE[easing] ?? EASING_INVERSE.linear;
  const times = arcFractions(points).map((s) => round4(start + (end - start) * inverse(s)));
  times[0] = round4(start);
  times[times.length - 1] = round4(end);
  return times;
}

/** When a drag moves: start and end (fractions of the video) and the easing that made its times, or "custom". */
export function dragTiming(drag) {
  if (!drag.times) return { start: 0, end: 1, easing: "linear" };
  const start = drag.times[0];
  const end = drag.times[drag.times.length - 1];
  const easing =
    EASINGS.find((name) => timesFor(drag.points, { start, end, easing: name }).every((t, i) => Math.abs(t - drag.times[i]) < 2e-4)) ??
    "custom";
  return { start, end, easing };
}

/** Split every segment evenly until a path has at least `count` points (the shape stays the same). */
export function subdivide(points, count) {
  if (points.length >= count) return points;
  const pieces = Math.ceil((count - 1) / (points.length - 1));
  const result = [points[0]];
  for (let i = 1; i < points.length; i++) {
    const [ax, ay] = points[i - 1];
    const [bx, by] = points[i];
    for (let k = 1; k <= pieces; k++) result.push([ax + ((bx - ax) * k) / pieces, ay + ((by - ay) * k) / pieces]);
  }
  return result;
}

/** A copy of the drag timed to move from `start` to `end` with `easing`; an eased straight drag gains
 * points along its path (a 2-point drag has one speed). Start 0, end 1, linear drops `times` (the default). */
export function withTiming(drag, { start = 0, end = 1, easing = "linear" }) {
  const [from, to] = [Math.min(Math.max(start, 0), 1), Math.min(Math.max(end, 0), 1)];
  const [first, last] = [Math.min(from, to), Math.max(from, to)];
  const eased = EASING_INVERSE[easing] && easing !== "linear" && last > first && !isZeroLength(drag);
  const timing = { start: first, end: last, easing: eased ? easing : "linear" };
  if (first === 0 && last === 1 && !eased) return { points: drag.points };
  const points = eased ? subdivide(drag.points, EASED_POINTS) : drag.points;
  return { points, times: timesFor(points, timing) };
}

/** Positions at frames f/(frames-1) along a polyline: constant speed, or by per-point `times`. */
export function resamplePath(points, frames, times = null) {
  let knots;
  if (times) {
    knots = times;
  } else {
    const lengths = [];
    for (let i = 1; i < points.length; i++) {
      lengths.push(Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]));
    }
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total === 0) return Array.from({ length: frames }, () => [points[0][0], points[0][1]]);
    knots = [0];
    let running = 0;
    for (const length of lengths) {
      running += length;
      knots.push(running / total);
    }
    knots[knots.length - 1] = 1;
  }
  const result = [];
  for (let frame = 0; frame < frames; frame++) {
    const t = frame / (frames - 1);
    if (t <= knots[0]) {
      result.push([points[0][0], points[0][1]]);
      continue;
    }
    if (t >= knots[knots.length - 1]) {
      const last = points[points.length - 1];
      result.push([last[0], last[1]]);
      continue;
    }
    let segment = 0;
    while (segment + 1 < knots.length && knots[segment + 1] <= t) segment++;
    const span = knots[segment + 1] - knots[segment];
    const u = span > 0 ? (t - knots[segment]) / span : 1;
    const [ax, ay] = points[segment];
    const [bx, by] = points[segment + 1];
    result.push([ax * (1 - u) + bx * u, ay * (1 - u) + by * u]);
  }
  return result;
}

/** Where every drag is at `frame` of `frames`. */
export function positionsAt(doc, frames, frame) {
  return doc.drags.map((d) => resamplePath(d.points, frames, d.times ?? null)[frame]);
}

/** The points that prompt SAM3 Detect through the Drags node's start_points output: each drag's first point
 * (held points included), for the drags that reach the model, as whole pixels {x, y}: rounded half up, at most
 * the last pixel. The same rule as nodes/start_points.py (tests/js/vectors.json pins both). */
export function startPoints(doc) {
  const pixel = (value, size) => Math.min(Math.floor(value + 0.5), size - 1);
  return doc.drags.slice(0, MAX_DRAGS).map(({ points: [[x, y]] }) => ({ x: pixel(x, doc.width), y: pixel(y, doc.height) }));
}

/** Image pixel under a pointer, for an image drawn letterboxed (aspect kept, centred) in `rect`. */
export function clientToImage(clientX, clientY, rect, width, height) {
  const { scale, offsetX, offsetY } = letterbox(rect.width, rect.height, width, height);
  return [(clientX - rect.left - offsetX) / scale, (clientY - rect.top - offsetY) / scale];
}

/** Scale and offsets that fit a width x height image inside a box, centred. */
export function letterbox(boxWidth, boxHeight, width, height) {
  const scale = Math.min(boxWidth / width, boxHeight / height);
  return { scale, offsetX: (boxWidth - width * scale) / 2, offsetY: (boxHeight - height * scale) / 2 };
}

export function clampToImage([x, y], width, height) {
  return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
}

function distanceToSegment([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const lengthSquared = dx * dx + dy * dy;
  const u = lengthSquared ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / lengthSquared)) : 0;
  return Math.hypot(px - (ax + u * dx), py - (ay + u * dy));
}

/** What is under `point` (image pixels) within `radius`: a point, a segment, or nothing. The `preferred`
 * drag (the selected one) wins, then later drags, so overlapping points stay reachable. */
export function hitTest(doc, point, radius, preferred = null) {
  const later = doc.drags.map((_, i) => doc.drags.length - 1 - i);
  const order = preferred !== null && preferred < doc.drags.length ? [preferred, ...later.filter((d) => d !== preferred)] : later;
  for (const d of order) {
    const points = doc.drags[d].points;
    for (let p = points.length - 1; p >= 0; p--) {
      if (Math.hypot(points[p][0] - point[0], points[p][1] - point[1]) <= radius) return { kind: "point", drag: d, point: p };
    }
  }
  for (const d of order) {
    const points = doc.drags[d].points;
    for (let s = 0; s + 1 < points.length; s++) {
      if (distanceToSegment(point, points[s], points[s + 1]) <= radius) return { kind: "segment", drag: d, segment: s };
    }
  }
  return null;
}

/** A copy of `doc` with `point` inserted into drag `drag` after segment start `segment`; with `times`,
 * the new point's time lies between its neighbours' as its place lies along the segment. */
export function insertPoint(doc, drag, segment, point) {
  const drags = doc.drags.map((d, i) => {
    if (i !== drag) return d;
    const points = [...d.points.slice(0, segment + 1), point, ...d.points.slice(segment + 1)];
    if (!d.times) return { points };
    const [a, b] = [d.points[segment], d.points[segment + 1]];
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const u = length ? Math.min(1, Math.hypot(point[0] - a[0], point[1] - a[1]) / length) : 0.5;
    const time = round4(d.times[segment] + (d.times[segment + 1] - d.times[segment]) * u);
    return { points, times: [...d.times.slice(0, segment + 1), time, ...d.times.slice(segment + 1)] };
  });
  return { ...doc, drags };
}

/** A copy without point `point` of drag `drag` (its time goes too); a drag left with one point is removed. */
export function deletePoint(doc, drag, point) {
  const { points, times } = doc.drags[drag];
  const remaining = points.filter((_, i) => i !== point);
  if (remaining.length < 2) return deleteDrag(doc, drag);
  const edited = times ? { points: remaining, times: times.filter((_, i) => i !== point) } : { points: remaining };
  return { ...doc, drags: doc.drags.map((d, i) => (i === drag ? edited : d)) };
}

/** A copy with drag `drag` retimed (see withTiming). */
export function retimeDrag(doc, drag, timing) {
  return { ...doc, drags: doc.drags.map((d, i) => (i === drag ? withTiming(d, timing) : d)) };
}

/** A copy with point `point` of drag `drag` at `position` (its time, if any, kept). */
export function movePoint(doc, drag, point, position) {
  return {
    ...doc,
    drags: doc.drags.map((d, i) => (i === drag ? { ...d, points: d.points.map((p, j) => (j === point ? position : p)) } : d)),
  };
}

export function deleteDrag(doc, drag) {
  return { ...doc, drags: doc.drags.filter((_, i) => i !== drag) };
}

/** Undo/redo over document snapshots. */
export class History {
  constructor(doc) {
    this.past = [];
    this.future = [];
    this.current = doc;
  }

  push(doc) {
    this.past.push(this.current);
    this.current = doc;
    this.future = [];
  }

  undo() {
    if (!this.past.length) return this.current;
    this.future.push(this.current);
    this.current = this.past.pop();
    return this.current;
  }

  redo() {
    if (!this.future.length) return this.current;
    this.past.push(this.current);
    this.current = this.future.pop();
    return this.current;
  }
}
