"""Drags from 3-D animations (paper section 4), on the CPU.

Given per-frame vertex positions of an animated mesh split into parts, a camera and the frame size:
visibility is a depth test against a z-buffer rasterised here (no nvdiffrast); for every moving part (or,
for a single-part mesh, a random number of times) one visible vertex is drawn with probability
proportional to its total 3-D displacement over the clip and projected into every frame; tracks whose
summed per-frame distance to an already kept, larger track is at most delta * F (delta = 20 px at 256 px)
are dropped, and at most 5 remain (largest motion first).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from puppet_master.drags import MAX_DRAGS

from .geometry import AnimatedPart, Camera
from .renders import read_cameras, read_parts

DEDUP_PIXELS_AT_256 = 20.0
MOVING_THRESHOLD = 0.1
"""Minimum total displacement of a part's most-moving vertex, in object units (objects normalised to a unit box)."""


def depth_map(parts: list[AnimatedPart], camera: Camera, frame: int = 0) -> np.ndarray:
    """(H, W) z-buffer of all parts at `frame` (inf where nothing is seen), rasterised triangle by triangle."""
    depth = np.full((camera.height, camera.width), np.inf)
    for part in parts:
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
            np.minimum(window, candidate, out=window)
    return depth


def visible_vertices(part: AnimatedPart, camera: Camera, depth: np.ndarray, tolerance: float = 0.01) -> np.ndarray:
    """(V,) bool: frame-0 vertices inside the image and not behind the z-buffer (relative depth tolerance)."""
    pixels, z = camera.project(part.vertices[0])
    inside = (z > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < camera.width) & (pixels[:, 1] >= 0)
    inside &= pixels[:, 1] < camera.height
    visible = np.zeros(len(z), dtype=bool)
    columns = np.clip(pixels[inside, 0].astype(int), 0, camera.width - 1)
    rows = np.clip(pixels[inside, 1].astype(int), 0, camera.height - 1)
    visible[inside] = z[inside] <= depth[rows, columns] * (1 + tolerance)
    return visible


def deduplicate(tracks: list[np.ndarray], frames: int, size: int, limit: int = MAX_DRAGS) -> list[np.ndarray]:
    """Drop tracks within delta * F summed distance of a kept, longer one; keep at most `limit`."""
    threshold = DEDUP_PIXELS_AT_256 * size / 256 * frames
    ordered = sorted(tracks, key=lambda t: -np.linalg.norm(np.diff(t, axis=0), axis=1).sum())
    kept: list[np.ndarray] = []
    for track in ordered:
        if all(np.linalg.norm(track - other, axis=1).sum() > threshold for other in kept):
            kept.append(track)
    return kept[:limit]


def sample_drags(
    parts: list[AnimatedPart], camera: Camera, rng: np.random.Generator, max_random_drags: int = MAX_DRAGS
) -> np.ndarray:
    """(K, F, 2) pixel drag tracks for one view of one animation clip (K may be 0)."""
    frames = parts[0].vertices.shape[0]
    depth = depth_map(parts, camera)
    tracks = []
    for part in parts:
        displacement = np.linalg.norm(np.diff(part.vertices, axis=0), axis=2).sum(axis=0)
        candidates = np.nonzero(visible_vertices(part, camera, depth) & (displacement > 0))[0]
        if len(candidates) == 0 or displacement[candidates].max() <= MOVING_THRESHOLD:
            continue
        count = 1 if len(parts) > 1 else int(rng.integers(1, max_random_drags + 1))
        weights = displacement[candidates] / displacement[candidates].sum()
        chosen = rng.choice(candidates, size=min(count, len(candidates)), replace=False, p=weights)
        for vertex in chosen:
            tracks.append(camera.project(part.vertices[:, vertex])[0])
    kept = deduplicate(tracks, frames, camera.width)
    return np.stack(kept) if kept else np.zeros((0, frames, 2))


def sample_drag_files(root: str | Path, frames: int = 14, samples: int = 20, seed: int = 0) -> int:
    """For every object, action and view: `samples` drag sets on random 14-frame windows; returns files written."""
    written = 0
    for object_dir in sorted(p for p in Path(root).iterdir() if (p / "cameras.json").is_file()):
        size = int(json.loads((object_dir / "metadata.json").read_text()).get("size", 512))
        cameras = read_cameras(object_dir, size)
        for action_dir in sorted(p for p in object_dir.iterdir() if (p / "parts.npz").is_file()):
            parts = read_parts(action_dir)
            length = parts[0].vertices.shape[0]
            if length < frames:
                continue
            for view, camera in enumerate(cameras):
                rng = np.random.default_rng([seed, zlib.crc32(action_dir.relative_to(root).as_posix().encode()), view])
                entries = []
                for _ in range(samples):
                    start = int(rng.integers(0, length - frames + 1))
                    window = [AnimatedPart(p.vertices[start : start + frames], p.faces) for p in parts]
                    tracks = sample_drags(window, camera, rng)
                    if len(tracks):
                        entries.append({"start_frame": start, "tracks": tracks.round(2).tolist()})
                (action_dir / f"drags_{view:03d}.json").write_text(json.dumps(entries))
                written += 1
    return written
