"""Rendered animation -> drag samples -> encoded training clips, sharded and resumable."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_drag_sampling import hinged_lid, scene

from puppet_master.encoders import load_svd_encoders
from training.dataset import ClipDataset
from training.drag_sampling import sample_drag_files
from training.geometry import look_at_camera
from training.precompute import find_clip_specs, main, run_precompute
from training.renders import write_cameras, write_parts

RENDER_SIZE, FRAMES_RENDERED = 128, 16


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """One object with one action (a lid opening over 16 frames), two views, RGBA frames."""
    root = tmp_path_factory.mktemp("renders")
    object_dir = root / "box01"
    action_dir = object_dir / "open"
    action_dir.mkdir(parents=True)
    (object_dir / "metadata.json").write_text(json.dumps({"category": "Daily-Used", "size": RENDER_SIZE}))
    cameras = [
        look_at_camera(np.array([0.0, -2.0, 1.2]), np.array([0.0, 0.0, 0.25]), RENDER_SIZE),
        look_at_camera(np.array([1.5, -1.5, 1.0]), np.array([0.0, 0.0, 0.25]), RENDER_SIZE),
    ]
    write_cameras(object_dir, cameras)
    body, _, _ = scene()[0]
    lid = hinged_lid()
    slow = type(lid)(np.concatenate([lid.vertices, lid.vertices[-1:].repeat(2, 0)]), lid.faces)
    fixed = type(body)(np.concatenate([body.vertices, body.vertices[-1:].repeat(2, 0)]), body.faces)
    write_parts(action_dir, {"body": fixed, "lid": slow})
    for view in range(2):
        for frame in range(FRAMES_RENDERED):
            image = Image.new("RGBA", (RENDER_SIZE, RENDER_SIZE), (0, 0, 0, 0))
            image.paste((150, 60 + 10 * frame, 40, 255), (40, 50, 90, 100))
            image.save(action_dir / f"{view:03d}_{frame:03d}.png")
    return root


def test_drag_files_then_sharded_resumable_precompute(renders, tiny_svd_folder, tmp_path):
    assert sample_drag_files(renders, samples=3, seed=1) == 2
    entries = json.loads((renders / "box01" / "open" / "drags_000.json").read_text())
    assert len(entries) == 3 and all(0 <= e["start_frame"] <= 2 for e in entries)
    specs = find_clip_specs(renders)
    assert len(specs) == 6
    encoders = load_svd_encoders(tiny_svd_folder)
    out = tmp_path / "dataset"
    assert len({s.name for s in specs}) == 6
    first = run_precompute(specs, out, encoders, shard=(0, 2), size=64)
    second = run_precompute(specs, out, encoders, shard=(1, 2), size=64)
    assert (first, second) == ((3, 0), (3, 0))
    assert run_precompute(specs, out, encoders, size=64) == (0, 6)
    dataset = ClipDataset(out)
    assert len(dataset) == 6
    assert dataset.metadata[0]["category"] == "Daily-Used" and dataset.groups() == {
        "daily_used": list(range(len(dataset)))
    }
    spec = specs[0]
    clip = dataset.example(0, torch.Generator().manual_seed(0))
    assert clip.latents.shape == (14, 4, 8, 8) and clip.embedding.shape == (1, 32)
    assert np.allclose(clip.drags[0, 0, :2].numpy(), spec.tracks[0, 0] / RENDER_SIZE, atol=1e-4)
    assert not list(out.rglob("*.partial"))


def test_precompute_command(renders, tiny_svd_folder, tmp_path, capsys):
    if not list(renders.glob("*/*/drags_*.json")):
        sample_drag_files(renders, samples=3, seed=1)
    argv = ["--renders", str(renders), "--out", str(tmp_path / "d"), "--svd", str(tiny_svd_folder), "--size", "64"]
    assert main([*argv, "--shard", "1/3", "--device", "cpu"]) == 0
    assert "shard 1/3:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="shard must be i/n"):
        run_precompute([], tmp_path, None, shard=(3, 3))
