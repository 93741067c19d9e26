"""The rendered-animation layout shared by rendering, drag sampling and precompute (numpy only, no torch).

{root}/{object_id}/metadata.json          {"category": "...", "source": "objaverse", "size": 512}
{root}/{object_id}/cameras.json           [{"intrinsics": 3x3, "rotation": 3x3, "translation": 3}, ...]
                                          (one per view, OpenCV convention, pixels of `size`)
{root}/{object_id}/{action}/{view:03d}_{frame:03d}.png   RGBA frames
{root}/{object_id}/{action}/parts.npz     per part p: vertices_p (F, V, 3) and faces_p (T, 3)
{root}/{object_id}/{action}/drags_{view:03d}.json        [{"start_frame": s, "tracks": [[[x, y], ...], ...]}]
                                          (tracks in pixels of `size`, written by drag_sampling.sample_drag_files)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .geometry import AnimatedPart, Camera


def read_cameras(object_dir: Path, size: int) -> list[Camera]:
    views = json.loads((object_dir / "cameras.json").read_text())
    return [
        Camera(np.array(v["intrinsics"]), np.array(v["rotation"]), np.array(v["translation"]), size, size)
        for v in views
    ]


def write_cameras(object_dir: Path, cameras: list[Camera]) -> None:
    views = [
        {"intrinsics": c.intrinsics.tolist(), "rotation": c.rotation.tolist(), "translation": c.translation.tolist()}
        for c in cameras
    ]
    (object_dir / "cameras.json").write_text(json.dumps(views))


def read_parts(action_dir: Path) -> list[AnimatedPart]:
    with np.load(action_dir / "parts.npz") as archive:
        names = sorted(key[len("vertices_") :] for key in archive.files if key.startswith("vertices_"))
        return [AnimatedPart(archive[f"vertices_{n}"], archive[f"faces_{n}"]) for n in names]


def write_parts(action_dir: Path, parts: dict[str, AnimatedPart]) -> None:
    arrays = {}
    for name, part in parts.items():
        arrays[f"vertices_{name}"], arrays[f"faces_{name}"] = part.vertices, part.faces
    np.savez_compressed(action_dir / "parts.npz", **arrays)
