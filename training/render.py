"""`python -m training.render`: render an animated GLB into the layout of renders.py with Blender's bpy.

Paper defaults (section 4, spec 5.1): the asset is normalised to a unit bounding box at the origin, lit by
fixed sun lights, filmed by `views` cameras around it (35 mm lens on a 32 mm sensor, elevation 0-45 degrees,
radius 1.5-2.2) at 512 px with a transparent film (composited over white later); every action is
rendered alone with at most `max_frames` frames. Per frame, the world-space vertices of every mesh
object (part) are exported for drag sampling. `bpy` comes from PyPI (`pip install bpy`, an optional extra
matching the Python version); the engine is Cycles on the CPU or the fast Workbench. This module imports
no torch: with bpy 4.5, torch and bpy's glTF exporter in one process hang at interpreter exit.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from .geometry import AnimatedPart, Camera
from .renders import frame_path, write_cameras, write_metadata, write_parts

LENS_MM, SENSOR_MM = 35.0, 32.0


def _reset_scene(bpy) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _mesh_objects(bpy) -> list:
    return sorted((o for o in bpy.context.scene.objects if o.type == "MESH"), key=lambda o: o.name)


def _normalise(bpy, frame: int) -> None:
    """Parent the roots to an empty that scales the frame-`frame` bounding box to unit size at the origin."""
    from mathutils import Vector

    scene = bpy.context.scene
    scene.frame_set(frame)
    corners = [o.matrix_world @ Vector(c) for o in _mesh_objects(bpy) for c in o.bound_box]
    low = Vector(tuple(min(c[i] for c in corners) for i in range(3)))
    high = Vector(tuple(max(c[i] for c in corners) for i in range(3)))
    scale = 1.0 / max(high - low)
    root = bpy.data.objects.new("normaliser", None)
    scene.collection.objects.link(root)
    for obj in [o for o in scene.objects if o.parent is None and o is not root]:
        obj.parent = root
    root.scale = (scale, scale, scale)
    root.location = -(low + high) / 2 * scale


def _lights(bpy) -> None:
    for name, rotation, energy in (
        ("key", (0.8, 0.2, 0.6), 3.0),
        ("fill", (0.9, -0.2, -2.4), 1.5),
        ("rim", (-0.8, 0.0, 3.1), 2.0),
        ("bottom", (math.pi, 0.0, 0.0), 0.8),
    ):
        light = bpy.data.lights.new(name, "SUN")
        light.energy = energy
        obj = bpy.data.objects.new(name, light)
        obj.rotation_euler = rotation
        bpy.context.scene.collection.objects.link(obj)


def _camera_positions(views: int, rng: np.random.Generator) -> list[np.ndarray]:
    positions = []
    for view in range(views):
        azimuth = 2 * math.pi * view / views
        elevation = rng.uniform(0, math.radians(45))
        radius = rng.uniform(1.5, 2.2)
        positions.append(
            radius
            * np.array(
                [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
            )
        )
    return positions


def _opencv_camera(bpy_camera, size: int) -> Camera:
    """Blender camera (looks down -Z, +Y up) -> OpenCV world->camera rotation and translation, intrinsics."""
    world = np.array(bpy_camera.matrix_world)
    rotation = np.diag([1.0, -1.0, -1.0]) @ world[:3, :3].T
    translation = -rotation @ world[:3, 3]
    focal = LENS_MM / SENSOR_MM * size
    intrinsics = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]])
    return Camera(intrinsics, rotation, translation, size, size)


def _add_cameras(bpy, positions: list[np.ndarray]) -> list:
    from mathutils import Vector

    cameras = []
    for index, position in enumerate(positions):
        data = bpy.data.cameras.new(f"view{index:03d}")
        data.lens, data.sensor_width, data.sensor_fit = LENS_MM, SENSOR_MM, "HORIZONTAL"
        obj = bpy.data.objects.new(f"view{index:03d}", data)
        bpy.context.scene.collection.objects.link(obj)
        obj.location = Vector(position.tolist())
        obj.rotation_euler = (Vector((0.0, 0.0, 0.0)) - obj.location).to_track_quat("-Z", "Y").to_euler()
        cameras.append(obj)
    bpy.context.view_layer.update()
    return cameras


def _part_vertices(bpy) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World-space vertices and triangles of every mesh object at the current frame."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    parts = {}
    for obj in _mesh_objects(bpy):
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        mesh.calc_loop_triangles()
        matrix = np.array(evaluated.matrix_world)
        vertices = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64)
        vertices = vertices @ matrix[:3, :3].T + matrix[:3, 3]
        faces = np.array([t.vertices[:] for t in mesh.loop_triangles], dtype=np.int64).reshape(-1, 3)
        parts[obj.name] = (vertices, faces)
        evaluated.to_mesh_clear()
    return parts


def render_animation(
    glb: str | Path,
    out: str | Path,
    category: str = "",
    views: int = 12,
    size: int = 512,
    max_frames: int = 32,
    engine: str = "CYCLES",
    samples: int = 128,
    seed: int = 0,
) -> Path:
    """Render every action of `glb` into `out/<asset name>/` (see renders.py); returns that folder."""
    import bpy

    glb, object_dir = Path(glb), Path(out) / Path(glb).stem
    _reset_scene(bpy)
    bpy.ops.import_scene.gltf(filepath=str(glb))
    actions = sorted(bpy.data.actions, key=lambda a: a.name)
    animated = [o for o in bpy.context.scene.objects if o.animation_data is not None]
    if not actions or not animated:
        raise ValueError(f"{glb} has no animation")
    _normalise(bpy, int(actions[0].frame_range[0]))
    _lights(bpy)
    scene = bpy.context.scene
    scene.render.engine = engine
    if engine == "CYCLES":
        scene.cycles.device, scene.cycles.samples = "CPU", samples
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.film_transparent = True
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGBA"
    cameras = _add_cameras(bpy, _camera_positions(views, np.random.default_rng(seed)))
    object_dir.mkdir(parents=True, exist_ok=True)
    write_cameras(object_dir, [_opencv_camera(c, size) for c in cameras])
    write_metadata(object_dir, {"category": category, "source": "objaverse", "size": size})
    for action in actions:
        for obj in animated:
            obj.animation_data.action = action
        start, end = (int(round(v)) for v in action.frame_range)
        stride = max(1, (end - start + 1) // max_frames)
        frames = list(range(start, end + 1, stride))[:max_frames]
        action_dir = object_dir / action.name.split("_")[0]
        action_dir.mkdir(exist_ok=True)
        per_frame = []
        for index, frame in enumerate(frames):
            scene.frame_set(frame)
            per_frame.append(_part_vertices(bpy))
            for view, camera in enumerate(cameras):
                scene.camera = camera
                scene.render.filepath = str(frame_path(action_dir, view, index))
                bpy.ops.render.render(write_still=True)
        parts = {
            name: AnimatedPart(np.stack([f[name][0] for f in per_frame]), per_frame[0][name][1])
            for name in per_frame[0]
        }
        write_parts(action_dir, parts)
    return object_dir


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.render", description=__doc__)
    parser.add_argument("glb", nargs="+", help="animated .glb assets")
    parser.add_argument("--out", required=True)
    parser.add_argument("--category", default="", help="GObjaverse category (for the training mixture)")
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--max-frames", type=int, default=32)
    parser.add_argument("--engine", choices=("CYCLES", "BLENDER_WORKBENCH", "BLENDER_EEVEE_NEXT"), default="CYCLES")
    parser.add_argument("--samples", type=int, default=128)
    args = parser.parse_args(argv)
    for path in args.glb:
        folder = render_animation(
            path, args.out, args.category, args.views, args.size, args.max_frames, args.engine, args.samples
        )
        print(f"rendered {path} -> {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
