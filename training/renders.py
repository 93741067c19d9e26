"""The rendered-animation layout shared by rendering, drag sampling and precompute (numpy only, no torch).

{root}/{object_id}/metadata.json          {"category": "...", "source": "objaverse", "size": 512}
{root}/{object_id}/cameras.json           [{"intrinsics": 3x3, "rotation": 3x3, "translation": 3}, ...]
                                          (one per view, OpenCV convention, pixels of `size`)
{root}/{object_id}/{action}/{view:03d}_{frame:03d}.png   RGBA frames
{root}/{object_id}/{action}/parts.npz     per part p: vertices_p (F, V, 3) and faces_p (T, 3)
{root}/{object_id}/{action}/drags.json     {"render_size": size, "fps": 1, "window": 14, "samples": [{"start_frame": s,
                                          "tracks": [per view v: [[[x, y] x 14], ...] (every candidate track)]}]}
                                          (integer pixels of `size`, written by drag_sampling.sample_drag_files)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .geometry import AnimatedPart, Camera

DRAGS_FILE = "drags.json"
REFERENCE_RENDER_SIZE = 512
"""The official render size: the pixel thresholds of drag sampling and de-duplication are stated at it."""


def frame_path(action_dir: Path, view: int, frame: int) -> Path:
    """The rendered RGBA frame `frame` of view `view`."""
    return action_dir / f"{view:03d}_{frame:03d}.png"


def read_metadata(object_dir: Path) -> dict:
    """An object's metadata.json (category, source, render size)."""
    return json.loads((object_dir / "metadata.json").read_text(encoding="utf-8"))


def write_metadata(object_dir: Path, metadata: dict) -> None:
    """Write an object's metadata.json."""
    (object_dir / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")


def read_cameras(object_dir: Path, size: int) -> list[Camera]:
    """The object's cameras (one per view), for frames of `size` pixels."""
    views = json.loads((object_dir / "cameras.json").read_text(encoding="utf-8"))
    return [
        Camera(np.array(v["intrinsics"]), np.array(v["rotation"]), np.array(v["translation"]), size, size)
        for v in views
    ]


def write_cameras(object_dir: Path, cameras: list[Camera]) -> None:
    """Write the object's cameras.json."""
    views = [
        {"intrinsics": c.intrinsics.tolist(), "rotation": c.rotation.tolist(), "translation": c.translation.tolist()}
        for c in cameras
    ]
    (object_dir / "cameras.json").write_text(json.dumps(views), encoding="utf-8")


def read_parts(action_dir: Path) -> list[AnimatedPart]:
    """An action's parts (sorted by name), each with its per-frame vertices."""
    with np.load(action_dir / "parts.npz") as archive:
        names = sorted(key[len("vertices_") :] for key in archive.files if key.startswith("vertices_"))
        return [AnimatedPart(archive[f"vertices_{n}"], archive[f"faces_{n}"]) for n in names]


def write_parts(action_dir: Path, parts: dict[str, AnimatedPart]) -> None:
    """Write an action's parts.npz."""
    arrays = {}
    for name, part in parts.items():
        arrays[f"vertices_{name}"], arrays[f"faces_{name}"] = part.vertices, part.faces
    np.savez_compressed(action_dir / "parts.npz", **arrays)
