// Pure drag-editor logic (no DOM, no ComfyUI): the drag document, resampling, geometry, undo history.
// Mirrors puppet_master/drags.py; tests/js/vectors.json pins both implementations to the same numbers.

export const MAX_DRAGS = 5;
export const DRAG_COLOURS = ["#ff3b30", "#34c759", "#0a84ff", "#ff9f0a", "#bf5af2"];

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
      .slice(0, MAX_DRAGS)
      .map((d) => (d.times ? { points: d.points.map((p) => [p[0], p[1]]), times: [...d.times] } : { points: d.points.map((p) => [p[0], p[1]]) })),
  };
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

/** What is under `point` (image pixels) within `radius`: a point, a segment, or nothing. Later drags win. */
export function hitTest(doc, point, radius) {
  for (let d = doc.drags.length - 1; d >= 0; d--) {
    const points = doc.drags[d].points;
    for (let p = points.length - 1; p >= 0; p--) {
      if (Math.hypot(points[p][0] - point[0], points[p][1] - point[1]) <= radius) return { kind: "point", drag: d, point: p };
    }
  }
  for (let d = doc.drags.length - 1; d >= 0; d--) {
    const points = doc.drags[d].points;
    for (let s = 0; s + 1 < points.length; s++) {
      if (distanceToSegment(point, points[s], points[s + 1]) <= radius) return { kind: "segment", drag: d, segment: s };
    }
  }
  return null;
}

/** A copy of `doc` with `point` inserted into drag `drag` after segment start `segment` (times dropped). */
export function insertPoint(doc, drag, segment, point) {
  const drags = doc.drags.map((d, i) => {
    if (i !== drag) return d;
    const points = [...d.points.slice(0, segment + 1), point, ...d.points.slice(segment + 1)];
    return { points };
  });
  return { ...doc, drags };
}

/** A copy without point `point` of drag `drag`; a drag left with fewer than 2 points is removed. */
export function deletePoint(doc, drag, point) {
  const remaining = doc.drags[drag].points.filter((_, i) => i !== point);
  if (remaining.length < 2) return deleteDrag(doc, drag);
  return { ...doc, drags: doc.drags.map((d, i) => (i === drag ? { points: remaining } : d)) };
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
