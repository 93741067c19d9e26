"""`python -m training.drag_sampling renders/`: candidate drags from 3-D animations, as the official
`sample_drags.py` draws them (spec 5.2), on the CPU.

For each of `samples` drag samples of an action: a start frame uniform in [0, N - 14) (the official exclusive
bound: the last window is never drawn, and an action of exactly 14 frames has none), then for every view and
every part (sub-model), with visibility from a z-buffer rasterised here instead of nvdiffrast:
- the part's visible pixels are those where it is the front surface at the start frame and the rendered
  alpha (of the start frame's PNG, when there) is > 127; a part with fewer than 100 is skipped;
- a start-frame vertex counts if its (truncated) pixel is inside the image and among those, and the z-buffer
  depth bilinearly interpolated at its exact position lies within 0.01 (object units, along the vertex's ray)
  of the vertex (the official code compares the bilinearly sampled 3-D surface position with the vertex);
- each vertex's displacement is its 3-D path length from the start frame to the END of the animation (not just
  the 14-frame window), 0 for vertices that do not count; if the largest exceeds 0.1 (objects are normalised to
  a unit box), n ~ U{1..max(1, visible_px // 5000)} vertices (at most the number that moved) are drawn without
  replacement with probability proportional to displacement;
- each drawn vertex is projected in frames start..start+13 and truncated to an integer pixel track.
Pixel counts are stated for a 512 px render and scale with the render's area. Every track is kept: the subset a
training step uses is drawn from them per step (training/drag_subsets.py).
"""

from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .geometry import AnimatedPart, Camera
from .renders import DRAGS_FILE, REFERENCE_RENDER_SIZE, frame_path, read_cameras, read_metadata, read_parts

WINDOW = 14
MOVING_THRESHOLD = 0.1
"""Minimum displacement of a part's most-moving counted vertex, in object units (objects normalised to a unit box)."""
VISIBLE_PIXELS_THRESHOLD = 100
"""A part needs at least this many visible pixels (at 512 px) in a view to get drags there."""
PIXELS_PER_DRAG = 5000
"""Visible pixels (at 512 px) per allowed drag: n ~ U{1..max(1, visible // 5000)}."""
ALPHA_THRESHOLD = 127
SURFACE_TOLERANCE = 0.01


@dataclass(frozen=True)
class ZBuffer:
    """Per pixel: the nearest surface's depth (inf where nothing is seen) and the index of its part (-1 there)."""

    depth: np.ndarray
    part: np.ndarray


def rasterise(parts: list[AnimatedPart], camera: Camera, frame: int = 0) -> ZBuffer:
    """The z-buffer of all parts at `frame`, rasterised triangle by triangle (perspective-correct depth)."""
    depth = np.full((camera.height, camera.width), np.inf)
    owner = np.full((camera.height, camera.width), -1, dtype=np.int64)
    for index, part in enumerate(parts):
        pixels, z = camera.project(part.vertices[frame])
        for triangle in part.faces:
            p, d = pixels[triangle], z[triangle]
            if np.any(d <= 0):
                continue
            x0, y0 = np.floor(p.min(0)).astype(int)
            x1, y1 = np.ceil(p.max(0)).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, camera.width - 1), min(y1, camera.height - 1)
            if x0 > x1 or y0 > y1:
                continue
            xs, ys = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
            (ax, ay), (bx, by), (cx, cy) = p
            area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
            if abs(area) < 1e-12:
                continue
            w0 = ((bx - xs) * (cy - ys) - (cx - xs) * (by - ys)) / area
            w1 = ((cx - xs) * (ay - ys) - (ax - xs) * (cy - ys)) / area
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            inverse_depth = w0 / d[0] + w1 / d[1] + w2 / d[2]
            candidate = np.where(inside, 1 / np.where(inside, inverse_depth, 1), np.inf)
            window = depth[y0 : y1 + 1, x0 : x1 + 1]
            nearer = candidate < window
            window[nearer] = candidate[nearer]
            owner[y0 : y1 + 1, x0 : x1 + 1][nearer] = index
    return ZBuffer(depth, owner)


def visible_pixels(zbuffer: ZBuffer, part: int, alpha: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: pixels where `part` is the front surface (and, given the rendered alpha, alpha > 127)."""
    mask = zbuffer.part == part
    if alpha is not None:
        mask &= alpha > ALPHA_THRESHOLD
    return mask


def pixel_tracks(camera: Camera, points: np.ndarray) -> np.ndarray:
    """(..., 2) integer pixels of (..., 3) world points, truncated toward zero as the official int32 cast."""
    return np.trunc(camera.project(points)[0]).astype(np.int64)


def surface_depth(depth: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(N,) z-buffer depth bilinearly interpolated at (N, 2) exact pixel positions (pixel centres at i + 0.5).

    As the official grid_sample of the position buffer (align_corners=False): a neighbour without a surface or
    outside the image makes the result infinite, so vertices on a silhouette between pixel centres do not count.
    """
    x, y = pixels[:, 0] - 0.5, pixels[:, 1] - 0.5
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    wx, wy = x - x0, y - y0
    result = np.zeros(len(pixels))
    height, width = depth.shape
    for dx, dy, weight in ((0, 0, (1 - wx) * (1 - wy)), (1, 0, wx * (1 - wy)), (0, 1, (1 - wx) * wy), (1, 1, wx * wy)):
        columns, rows = x0 + dx, y0 + dy
        inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
        value = np.full(len(pixels), np.inf)
        value[inside] = depth[rows[inside], columns[inside]]
        used = weight > 0
        result[used] += weight[used] * value[used]
    return result


def visible_vertices(
    vertices: np.ndarray, camera: Camera, zbuffer: ZBuffer, mask: np.ndarray, tolerance: float = SURFACE_TOLERANCE
) -> np.ndarray:
    """(V,) bool: (V, 3) vertices whose truncated pixel is inside the image and in `mask`, on the visible surface.

    On the surface: the z-buffer depth interpolated at the vertex's exact position lies within `tolerance` (object
    units, along the vertex's ray) of the vertex; the official code compares interpolated 3-D positions.
    """
    pixels, z = camera.project(vertices)
    pixels = np.nan_to_num(pixels, nan=-1.0, posinf=-1.0, neginf=-1.0)
    columns, rows = np.trunc(pixels).astype(np.int64).T
    inside = (z > 0) & (columns >= 0) & (columns < camera.width) & (rows >= 0) & (rows < camera.height)
    visible = np.zeros(len(vertices), dtype=bool)
    r, c, exact = rows[inside], columns[inside], pixels[inside]
    ray = np.linalg.solve(camera.intrinsics, np.stack([exact[:, 0], exact[:, 1], np.ones(len(r))]))
    gap = np.abs(surface_depth(zbuffer.depth, exact) - z[inside]) * np.linalg.norm(ray, axis=0)
    visible[inside] = mask[r, c] & (gap < tolerance)
    return visible


def path_length(vertices: np.ndarray) -> np.ndarray:
    """(V,) 3-D path length of every vertex over (F, V, 3) positions."""
    return np.linalg.norm(np.diff(vertices, axis=0), axis=2).sum(axis=0)


def sample_drags(
    parts: list[AnimatedPart],
    camera: Camera,
    start: int,
    rng: np.random.Generator,
    alpha: np.ndarray | None = None,
    frames: int = WINDOW,
) -> np.ndarray:
    """(K, frames, 2) integer pixel tracks of one view of the window at `start` (K may be 0); see the module doc."""
    zbuffer = rasterise(parts, camera, start)
    area = (camera.width * camera.height) / REFERENCE_RENDER_SIZE**2
    tracks = []
    for index, part in enumerate(parts):
        mask = visible_pixels(zbuffer, index, alpha)
        visible = int(mask.sum())
        if visible < VISIBLE_PIXELS_THRESHOLD * area:
            continue
        moved = path_length(part.vertices[start:])
        moved[~visible_vertices(part.vertices[start], camera, zbuffer, mask)] = 0
        if moved.max() <= MOVING_THRESHOLD:
            continue
        allowed = max(1, int(visible // (PIXELS_PER_DRAG * area)))
        count = min(int(rng.integers(1, allowed + 1)), int((moved > 0).sum()))
        chosen = rng.choice(len(moved), size=count, replace=False, p=moved / moved.sum())
        tracks.extend(pixel_tracks(camera, part.vertices[start : start + frames, vertex]) for vertex in chosen)
    return np.stack(tracks) if tracks else np.zeros((0, frames, 2), dtype=np.int64)


def _alpha(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    image = Image.open(path)
    return np.asarray(image.convert("RGBA"))[..., 3] if "A" in image.getbands() else None


def sample_action(
    action_dir: Path, cameras: list[Camera], samples: int, rng: np.random.Generator, frames: int = WINDOW
) -> list[dict] | None:
    """`samples` drag samples of one action ({"start_frame", "tracks": per view [K][frames][2]}); None if too short."""
    parts = read_parts(action_dir)
    length = parts[0].vertices.shape[0]
    if length <= frames:
        return None
    entries = []
    for _ in range(samples):
        start = int(rng.integers(0, length - frames))
        views = []
        for view, camera in enumerate(cameras):
            alpha = _alpha(frame_path(action_dir, view, start))
            views.append(sample_drags(parts, camera, start, rng, alpha, frames).tolist())
        entries.append({"start_frame": start, "tracks": views})
    return entries


def sample_drag_files(root: str | Path, frames: int = WINDOW, samples: int = 20, seed: int = 0) -> int:
    """Write `drags.json` (renders.py) for every object and action below `root`; returns the actions written."""
    root = Path(root)
    written = 0
    for object_dir in sorted(p for p in root.iterdir() if (p / "cameras.json").is_file()):
        size = int(read_metadata(object_dir).get("size", REFERENCE_RENDER_SIZE))
        cameras = read_cameras(object_dir, size)
        for action_dir in sorted(p for p in object_dir.iterdir() if (p / "parts.npz").is_file()):
            rng = np.random.default_rng([seed, zlib.crc32(action_dir.relative_to(root).as_posix().encode("utf-8"))])
            entries = sample_action(action_dir, cameras, samples, rng, frames)
            if entries is None:
                continue
            content = {"render_size": size, "fps": 1, "window": frames, "samples": entries}
            (action_dir / DRAGS_FILE).write_text(json.dumps(content), encoding="utf-8")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.drag_sampling", description=__doc__)
    parser.add_argument("renders", help="rendered animations (see training/renders.py)")
    parser.add_argument("--samples", type=int, default=20, help="drag samples (start frames) per action")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = sample_drag_files(args.renders, samples=args.samples, seed=args.seed)
    print(f"{written} actions with drag samples written below {args.renders}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
