"""Evaluation metrics, trackers and the Drag-a-Move runner (synthetic clips, tiny models; the shipped clips load)."""

import csv
import importlib.util
import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from puppet_master.diagnostics.selfcheck import tiny_unet_config
from puppet_master.encoders import load_svd_encoders
from puppet_master.loading import load_unet, save_unet
from puppet_master.model import PuppetMasterUNet
from puppet_master.sampler_settings import SamplerSettings
from support import REPO, SHARED, random_drags
from training.evaluation.clips import load_clips
from training.evaluation.fvd import I3DFeatures
from training.evaluation.lpips import CONVOLUTIONS, LPIPS
from training.evaluation.metrics import frechet_distance, psnr, ssim
from training.evaluation.runner import evaluate
from training.evaluation.tracking import CoTrackerTracker, LucasKanadeTracker, foreground_points, motion_error

CLIPS = SHARED / "data" / "drag-a-move-test"


def video(seed=0, frames=3, size=32):
    return torch.rand(frames, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_psnr_matches_its_definition():
    a = torch.zeros(2, 8, 8, 3, dtype=torch.float64)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-9)
    assert psnr(a, a) == pytest.approx(100.0)


def test_ssim_is_one_for_identical_and_matches_the_closed_form_for_flat_images():
    a = video()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, video(1)) < 0.2 and ssim(a, video(1)) == pytest.approx(ssim(video(1), a), abs=1e-12)
    c1 = 0.01**2
    flat = ssim(
        torch.full((1, 16, 16, 3), 0.2, dtype=torch.float64), torch.full((1, 16, 16, 3), 0.6, dtype=torch.float64)
    )
    assert flat == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), abs=1e-9)
    with pytest.raises(ValueError, match="equal shape"):
        ssim(a, a[:, :10])


def test_frechet_distance_of_gaussians():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=generator)
    b = torch.randn(20000, 3, generator=generator) * 2 + 1
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(3 * 1 + 3 * (1 - 2) ** 2, rel=0.03)
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(a[:1], b)


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lpips")
    generator = torch.Generator().manual_seed(0)
    backbone = {}
    for index, (cin, cout, kernel, _, _) in CONVOLUTIONS.items():
        backbone[f"features.{index}.weight"] = torch.randn(cout, cin, kernel, kernel, generator=generator) * 0.05
        backbone[f"features.{index}.bias"] = torch.zeros(cout)
    backbone["classifier.1.weight"] = torch.zeros(4, 4)
    torch.save(backbone, root / "alexnet.pth")
    lins = {
        f"lin{i}.model.1.weight": torch.rand(1, c[1], 1, 1, generator=generator)
        for i, c in enumerate(CONVOLUTIONS.values())
    }
    save_file(lins, str(root / "alex.safetensors"))
    return root / "alexnet.pth", root / "alex.safetensors"


def test_lpips_from_user_files(lpips_files):
    model = LPIPS.from_files(*lpips_files)
    a, b = video(size=64), video(1, size=64)
    assert model.video_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert model.video_distance(a, b) > 0
    assert model.video_distance(a, b) == pytest.approx(model.video_distance(b, a), rel=1e-5)
    assert model.video_distance(a, (a + 0.02).clamp(0, 1)) < model.video_distance(a, b)
    with pytest.raises(ValueError, match="not torchvision AlexNet weights"):
        LPIPS.from_files(lpips_files[1], lpips_files[1])
    with pytest.raises(FileNotFoundError, match="LPIPS weight file not found"):
        LPIPS.from_files("missing.pth", lpips_files[1])


class TinyI3D(torch.nn.Module):
    """Stands in for the I3D TorchScript file: same call signature, real TorchScript save/load."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = True, return_features: bool = True):
        return torch.stack([x.mean(dim=(1, 2, 3, 4)), x.std(dim=(1, 2, 3, 4)), x.amax(dim=(1, 2, 3, 4))], dim=1)


def test_i3d_features_from_a_torchscript_file(tmp_path):
    torch.jit.script(TinyI3D()).save(str(tmp_path / "i3d.pt"))
    features = I3DFeatures(tmp_path / "i3d.pt")(video())
    assert features.shape == (3,) and features[0] == pytest.approx(float(video().mean() * 2 - 1), abs=1e-5)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        I3DFeatures(tmp_path / "nothing.pt")


def translating_texture(shift=(1.3, -0.7), frames=6, size=96):
    noise = torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    kernel = torch.exp(-(torch.arange(-6, 7.0) ** 2) / 8)
    kernel = kernel / kernel.sum()
    texture = F.conv2d(F.pad(noise, (6, 6, 6, 6), mode="circular"), kernel.view(1, 1, 1, -1))
    texture = F.conv2d(texture, kernel.view(1, 1, -1, 1))
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    result = []
    for f in range(frames):
        grid = torch.stack([2 * (xs + 16 - shift[0] * f) / 127 - 1, 2 * (ys + 16 - shift[1] * f) / 127 - 1], -1)
        result.append(F.grid_sample(texture, grid[None], align_corners=True)[0, 0, ..., None].expand(size, size, 3))
    return torch.stack(result)


def test_lucas_kanade_follows_subpixel_motion():
    points = torch.tensor([[30.0, 30.0], [50.5, 40.2], [64.0, 70.0]])
    tracks = LucasKanadeTracker().track(translating_texture(), points)
    expected = points[None] + torch.tensor([1.3, -0.7]) * torch.arange(6.0)[:, None, None]
    assert tracks.shape == (6, 3, 2)
    assert (tracks - expected).norm(dim=-1).max() < 0.1


def test_motion_error_measures_track_differences():
    moving, still = translating_texture(), translating_texture(shift=(0.0, 0.0))
    points = torch.tensor([[40.0, 40.0], [60.0, 50.0]])
    tracker = LucasKanadeTracker()
    assert motion_error(moving, moving, points, tracker) == pytest.approx(0.0, abs=1e-6)
    expected = math.hypot(1.3, 0.7) * sum(range(6)) / 6
    assert motion_error(moving, still, points, tracker) == pytest.approx(expected, abs=0.1)
    assert math.isnan(motion_error(moving, still, torch.zeros(0, 2), tracker))


def test_foreground_points_lie_on_the_object():
    frame = torch.ones(64, 64, 3)
    frame[16:40, 24:48] = 0.3
    points = foreground_points(frame, stride=8)
    assert len(points) == 9
    assert ((points[:, 0] >= 24) & (points[:, 0] < 48) & (points[:, 1] >= 16) & (points[:, 1] < 40)).all()


def test_cotracker_without_the_package_is_a_clear_error():
    if importlib.util.find_spec("cotracker") is not None:
        pytest.skip("CoTracker is installed here")
    with pytest.raises(ImportError, match="CoTracker is not installed"):
        CoTrackerTracker("checkpoint.pth")


@pytest.fixture(scope="module")
def eval_unet(tmp_path_factory):
    """A tiny UNet with 1024-wide cross-attention, so the shipped clips' CLIP embeddings fit."""
    torch.manual_seed(0)
    model = PuppetMasterUNet(**{**tiny_unet_config(), "cross_attention_dim": 1024})
    return load_unet(save_unet(model, tmp_path_factory.mktemp("eval") / "unet.safetensors"))


def test_shipped_clips_load():
    clips = load_clips(CLIPS) if CLIPS.is_dir() else pytest.skip(f"{CLIPS} not found")
    assert len(clips) == 10
    clip = clips[0]
    assert clip.latents.shape == (14, 4, 32, 32) and clip.drags.shape == (14, 5, 4)
    assert clip.embedding.shape == (1, 1024) and clip.metadata["category"] == "StorageFurniture"


def write_synthetic_clips(folder, count=2):
    """Random clips in the converted Drag-a-Move format (the shipped ones are in ../shared/data)."""
    generator = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True)
    for index in range(count):
        tensors = {
            "latents": torch.randn(14, 4, 32, 32, generator=generator),
            "cond_latent": torch.randn(4, 32, 32, generator=generator) * 5,
            "embedding": torch.randn(1, 1024, generator=generator),
            "drags": random_drags(1, 14, seed=index)[0],
        }
        save_file(tensors, str(folder / f"{index:05d}.safetensors"))
        (folder / f"{index:05d}.json").write_text(json.dumps({"category": "Synthetic"}), encoding="utf-8")
    return folder


def test_evaluation_writes_tables_and_side_by_side_videos(eval_unet, tiny_svd_folder, lpips_files, tmp_path):
    clips = load_clips(write_synthetic_clips(tmp_path / "clips"), limit=2)
    torch.jit.script(TinyI3D()).save(str(tmp_path / "i3d.pt"))
    report = evaluate(
        clips,
        eval_unet,
        load_svd_encoders(tiny_svd_folder).vae,
        tmp_path / "out",
        LucasKanadeTracker(iterations=3),
        SamplerSettings(steps=1),
        lpips=LPIPS.from_files(*lpips_files),
        i3d=I3DFeatures(tmp_path / "i3d.pt"),
    )
    assert [c.clip for c in report.clips] == ["00000", "00001"]
    assert all(math.isfinite(value) for c in report.clips for value in (c.psnr, c.ssim, c.lpips, c.motion_error_drags))
    assert report.fvd is not None and math.isfinite(report.fvd)
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["clip"] for row in rows] == ["00000", "00001", "mean"]
    assert float(rows[-1]["psnr"]) == pytest.approx((report.clips[0].psnr + report.clips[1].psnr) / 2)
    assert "FVD over 2 clips" in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
    import av

    with av.open(str(tmp_path / "out" / "clips" / "00000.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 14 and frames[0].shape == (256, 768, 3)


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--cfg", "nan"], "--cfg must be a finite number"), (["--steps", "0"], "--steps must be from 1")],
)
def test_the_evaluation_command_checks_its_sampler_options_as_generate_does(tmp_path, option, message):
    import subprocess
    import sys

    missing = str(tmp_path / "missing")
    command = ["--data", missing, "--unet", missing, "--svd", missing, "--out", str(tmp_path / "out"), *option]
    result = subprocess.run(
        [sys.executable, "-m", "training.evaluation", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        encoding="utf-8",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"error: {message}" in result.stderr
