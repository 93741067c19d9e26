"""Rendering an animated GLB with Blender's bpy: a box with a hinged lid keyframed open, built by the test.

The cubes are subdivided (5 cuts) so their faces have inner vertices, as real assets do: drag sampling counts a
vertex only where the rendered surface around it is its own (spec 5.2)."""

import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from support import REPO
from training.drag_sampling import sample_drag_files
from training.renders import DRAGS_FILE, read_parts

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bpy") is None,
    reason="bpy is not installed (optional: pip install -r training/requirements-render.txt)",
)

BUILD_AND_RENDER = textwrap.dedent(
    """
    import math, sys
    import bpy
    from training.render import render_animation

    def subdivide():
        bpy.ops.object.mode_set(mode="EDIT")
        bpy.ops.mesh.select_all(action="SELECT")
        bpy.ops.mesh.subdivide(number_cuts=5)
        bpy.ops.object.mode_set(mode="OBJECT")

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 0.25))
    subdivide()
    body = bpy.context.object
    body.name = "body"
    body.scale = (0.6, 0.6, 0.5)
    bpy.ops.object.transform_apply(scale=True)
    hinge = bpy.data.objects.new("hinge", None)
    bpy.context.scene.collection.objects.link(hinge)
    hinge.location = (0, 0.3, 0.5)
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 0))
    subdivide()
    lid = bpy.context.object
    lid.name = "lid"
    lid.scale = (0.6, 0.6, 0.05)
    bpy.ops.object.transform_apply(scale=True)
    lid.parent = hinge
    lid.location = (0, -0.3, 0.025)
    hinge.rotation_euler = (0, 0, 0)
    hinge.keyframe_insert("rotation_euler", frame=1)
    hinge.rotation_euler = (-math.radians(70), 0, 0)
    hinge.keyframe_insert("rotation_euler", frame=20)
    hinge.animation_data.action.name = "open"
    glb = sys.argv[1] + "/box.glb"
    bpy.ops.export_scene.gltf(filepath=glb, export_animations=True)
    render_animation(glb, sys.argv[1] + "/renders", category="Daily-Used", views=2, size=128, max_frames=16,
                     engine="BLENDER_WORKBENCH")
    """
)


def test_box_with_a_hinged_lid_renders_and_only_the_lid_moves(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", BUILD_AND_RENDER, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    object_dir = tmp_path / "renders" / "box"
    assert json.loads((object_dir / "metadata.json").read_text(encoding="utf-8"))["size"] == 128
    assert len(json.loads((object_dir / "cameras.json").read_text(encoding="utf-8"))) == 2
    (action_dir,) = [p for p in object_dir.iterdir() if p.is_dir()]
    frames = sorted(action_dir.glob("000_*.png"))
    assert len(frames) >= 14 and len(list(action_dir.glob("001_*.png"))) == len(frames)
    parts = {len(p.vertices[0]): p for p in read_parts(action_dir)}
    motion = [np.linalg.norm(p.vertices[-1] - p.vertices[0], axis=1).max() for p in read_parts(action_dir)]
    assert sorted(m > 0.1 for m in motion) == [False, True]  # the body stays, the lid moves
    assert parts
    assert sample_drag_files(tmp_path / "renders", samples=4, seed=0) == 1
    samples = json.loads((action_dir / DRAGS_FILE).read_text(encoding="utf-8"))["samples"]
    tracks = [np.array(track) for sample in samples for view in sample["tracks"] for track in view]
    assert len(tracks) >= 4  # the z-buffer of the exported meshes agrees with the rendered alpha
    assert all(np.linalg.norm(np.diff(track, axis=0), axis=1).sum() > 3 for track in tracks)  # only the lid moves
