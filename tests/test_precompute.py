"""Rendered animations -> every candidate drag -> one encoded clip per animation (all views), sharded, resumable."""

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_drag_sampling import hinged_lid, static

from puppet_master.encoders import load_svd_encoders
from training.dataset import LATENT_SCALE, ClipDataset
from training.drag_sampling import rasterise, sample_drag_files
from training.geometry import look_at_camera
from training.precompute import find_animations, main, run_precompute
from training.renders import DRAGS_FILE, frame_path, write_cameras, write_metadata, write_parts

RENDER_SIZE, FRAMES_RENDERED, WINDOW = 128, 16, 14


def render(action_dir, parts, cameras):
    """RGBA frames of the parts' silhouettes: shade by depth, alpha where a surface is seen."""
    for view, camera in enumerate(cameras):
        for frame in range(FRAMES_RENDERED):
            depth = rasterise(parts, camera, frame).depth
            seen = np.isfinite(depth)
            shade = np.where(seen, 255 - 60 * np.nan_to_num(depth, posinf=0.0), 0).clip(0, 255).astype(np.uint8)
            rgba = np.stack([shade, shade // 2, 255 - shade, np.where(seen, 255, 0).astype(np.uint8)], -1)
            Image.fromarray(rgba, "RGBA").save(frame_path(action_dir, view, frame))


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """One object with two actions (the lid opening 70 and 40 degrees over 16 frames), two views."""
    root = tmp_path_factory.mktemp("renders")
    object_dir = root / "box01"
    object_dir.mkdir()
    write_metadata(object_dir, {"category": "Daily-Used", "size": RENDER_SIZE})
    cameras = [
        look_at_camera(np.array([0.0, -2.0, 1.2]), np.array([0.0, 0.0, 0.25]), RENDER_SIZE),
        look_at_camera(np.array([1.5, -1.5, 1.0]), np.array([0.0, 0.0, 0.25]), RENDER_SIZE),
    ]
    write_cameras(object_dir, cameras)
    for action, degrees in (("open", 70.0), ("peek", 40.0)):
        action_dir = object_dir / action
        action_dir.mkdir()
        parts = {
            "body": static((-0.3, -0.3, 0.0), (0.3, 0.3, 0.4), FRAMES_RENDERED, cuts=3),
            "lid": hinged_lid(degrees, FRAMES_RENDERED, cuts=3),
        }
        write_parts(action_dir, parts)
        render(action_dir, list(parts.values()), cameras)
    assert sample_drag_files(root, samples=3, seed=1) == 2
    return root


def test_every_view_and_candidate_is_encoded_once_per_animation(renders, tiny_svd_folder, tmp_path):
    specs = find_animations(renders)
    assert [s.name for s in specs] == ["box01/open", "box01/peek"]
    encoders = load_svd_encoders(tiny_svd_folder)
    out = tmp_path / "dataset"
    assert run_precompute(specs, out, encoders, shard=(0, 2), size=64) == (1, 0)
    assert run_precompute(specs, out, encoders, shard=(1, 2), size=64) == (1, 0)
    assert run_precompute(specs, out, encoders, size=64) == (0, 2)
    assert not list(out.rglob("*.partial"))
    dataset = ClipDataset(out)
    assert len(dataset) == 2 and dataset.groups() == {"daily_used": [0, 1]}
    assert dataset.metadata[0]["render_size"] == str(RENDER_SIZE) and dataset.metadata[0]["action"] == "open"

    drags = json.loads((renders / "box01" / "open" / DRAGS_FILE).read_text(encoding="utf-8"))
    clip = load_file(str(out / "box01" / "open.safetensors"))
    starts = [s["start_frame"] for s in drags["samples"]]
    frames = sorted({start + f for start in starts for f in range(WINDOW)})
    assert clip["frames"].tolist() == frames and clip["sample_start"].tolist() == starts
    assert clip["latent_mean"].shape == (2, len(frames), 4, 8, 8) and clip["embedding"].shape == (2, 3, 32)
    counts = [[len(view) for view in s["tracks"]] for s in drags["samples"]]
    assert clip["track_counts"].tolist() == counts and sum(map(sum, counts)) > 3
    every = [track for s in drags["samples"] for view in s["tracks"] for track in view]
    assert torch.equal(clip["tracks"], torch.tensor(every, dtype=torch.float32))
    assert not torch.allclose(clip["latent_mean"][0], clip["latent_mean"][1])  # each view has its own latents

    drawn = 0
    for seed in range(6):
        probe = torch.Generator().manual_seed(seed)
        sample, view = int(torch.randint(3, (1,), generator=probe)), int(torch.randint(2, (1,), generator=probe))
        example = dataset.example(0, torch.Generator().manual_seed(seed))
        row = frames.index(starts[sample])
        assert torch.equal(example.cond_latent, clip["latent_mean"][view, row])
        assert torch.equal(example.embedding, clip["embedding"][view, sample][None])
        assert example.latents.shape == (WINDOW, 4, 8, 8)
        noise = example.latents / LATENT_SCALE - clip["latent_mean"][view, row : row + WINDOW]
        assert (noise.abs() <= 6 * clip["latent_std"][view, row : row + WINDOW] + 1e-5).all()
        candidates = torch.tensor(drags["samples"][sample]["tracks"][view], dtype=torch.float32) / RENDER_SIZE
        present = example.drags[0, :, 2:].abs().sum(-1) > 0
        drawn += int(present.sum())
        for slot in torch.nonzero(present).flatten():
            track = example.drags[:, slot, 2:]
            assert any(torch.allclose(track, candidate) for candidate in candidates)
    assert drawn >= 6


def test_unrendered_frames_skip_the_animation_with_a_warning(renders, tmp_path, caplog):
    copy = tmp_path / "renders"
    shutil.copytree(renders, copy)
    start = json.loads((copy / "box01" / "peek" / DRAGS_FILE).read_text(encoding="utf-8"))["samples"][0]["start_frame"]
    frame_path(copy / "box01" / "peek", 1, start + 3).unlink()
    with caplog.at_level(logging.WARNING, logger="training.precompute"):
        assert [s.name for s in find_animations(copy)] == ["box01/open"]
    assert "box01/peek skipped: 1 frames not rendered" in caplog.text


def test_old_format_clips_are_refused(tmp_path):
    from safetensors.torch import save_file

    old = {"latent_mean": torch.zeros(14, 4, 8, 8), "tracks": torch.zeros(1, 14, 2)}
    save_file(old, str(tmp_path / "a.safetensors"))
    with pytest.raises(ValueError, match="write it again with `python -m training.precompute`"):
        ClipDataset(tmp_path)


def test_precompute_command(renders, tiny_svd_folder, tmp_path, capsys):
    argv = ["--renders", str(renders), "--out", str(tmp_path / "d"), "--svd", str(tiny_svd_folder), "--size", "64"]
    assert main([*argv, "--shard", "1/3", "--device", "cpu"]) == 0
    assert "shard 1/3: 1 clips written, 0 already done, 2 animations in all" in capsys.readouterr().out
    with pytest.raises(ValueError, match="shard must be i/n"):
        run_precompute([], tmp_path, None, shard=(3, 3))
