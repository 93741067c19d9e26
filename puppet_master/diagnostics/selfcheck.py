"""An offline end-to-end check of the installed library with tiny random models (no downloads).

The tiny components are built here, saved in the layouts users have (a single-file UNet, a
diffusers-format SVD folder) and loaded back through the normal loaders, so the check runs the same
code paths as a real generation; the tests build their tiny models with the same functions.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ..configs import packaged_config
from ..loading import inspect_checkpoint, load_unet, save_unet, with_default_mode
from ..model import PuppetMasterUNet

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
DEMO_DRAGS = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15], [45, 10]]}]}


def tiny_unet_config() -> dict:
    """The official tiny test configuration (same block structure as the real model, 32 channels)."""
    return packaged_config("tiny_unet.json")


def random_tiny_unet(seed: int = 0) -> PuppetMasterUNet:
    """A tiny Puppet-Master UNet (the packaged tiny config) with every parameter drawn from N(0, 0.05^2).

    Every weight is random, the drag modulation and drag tokens included, so drags change the output.
    """
    generator = torch.Generator().manual_seed(seed)
    model = PuppetMasterUNet(**tiny_unet_config())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model.eval()


def write_tiny_svd_folder(root: str | Path, seed: int = 0) -> Path:
    """Save a tiny random SVD img2vid VAE + CLIP image encoder in the diffusers layout under `root`."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    root = Path(root)
    torch.manual_seed(seed)
    AutoencoderKLTemporalDecoder(
        down_block_types=("DownEncoderBlock2D",) * 4, block_out_channels=(32, 32, 32, 32), latent_channels=4
    ).save_pretrained(root / "vae")
    clip = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=1,
        num_attention_heads=4,
        patch_size=32,
        projection_dim=32,
    )
    CLIPVisionModelWithProjection(clip).save_pretrained(root / "image_encoder")
    for weights in root.glob("*/*.safetensors"):
        with_default_mode(weights)
    (root / "feature_extractor").mkdir(parents=True, exist_ok=True)
    (root / "feature_extractor" / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": CLIP_MEAN, "image_std": CLIP_STD, "crop_size": 224, "size": 224}), encoding="utf-8"
    )
    return root


def demo_image(width: int = 96, height: int = 80) -> tuple[Image.Image, Image.Image]:
    """A synthetic first frame (grey background, red box with a blue lid) and its object mask."""
    image = Image.new("RGB", (width, height), (90, 100, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 60, 60), fill=(200, 40, 40))
    draw.rectangle((30, 22, 60, 29), fill=(40, 40, 200))
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle((30, 22, 60, 60), fill=255)
    return image, mask


def _check_drag_cache(model: PuppetMasterUNet, frames: int, steps: int) -> bool:
    from ..drags import drag_tensor, parse_drag_document

    latent_size = (32, 32)
    document = parse_drag_document(DEMO_DRAGS)
    drags = drag_tensor(document.tracks(frames), document.width, document.height)[None]
    sample = torch.randn(1, frames, 4, *latent_size)
    conditioning = dict(image_latents=torch.randn(1, 4, *latent_size), encoder_hidden_states=torch.randn(1, 1, 32))
    ok = True
    with torch.no_grad():
        context = model.prepare_drags(drags, latent_size)
        for step in range(steps):
            timestep = torch.tensor(1.6 - step * 0.5)
            cached = model(sample, timestep, drag_context=context, **conditioning)
            same = torch.equal(cached, model(sample, timestep, drags=drags, **conditioning))
            ok &= same and bool(torch.isfinite(cached).all())
            print(f"UNet step {step}: output {tuple(cached.shape)}, cached drag context == uncached: {same}")
    return ok


def offline_generate_command(folder: str | Path = "outputs", python: str | None = None) -> str:
    """The `generate` command that runs on the tiny weights and demo inputs `run_selfcheck` leaves in `folder`
    (with the project's .venv Python, as scripts/demo.sh makes it, unless `python` is given)."""
    folder = Path(folder)
    python = python or str(Path(".venv", "Scripts", "python") if os.name == "nt" else Path(".venv", "bin", "python"))
    return (
        f"{python} -m puppet_master generate --image {folder / 'demo.png'} --mask {folder / 'demo_mask.png'} "
        f"--drags {folder / 'demo_drags.json'} --unet {folder / 'tiny_puppet_master.safetensors'} "
        f"--svd {folder / 'svd_tiny'} --size 64 --steps 3 --out {folder / 'demo.mp4'}"
    )


def run_selfcheck(out: str | Path = "outputs/selfcheck.mp4", frames: int = 14, steps: int = 3) -> bool:
    """Build, save, inspect and reload tiny random models, check the drag cache, then generate a video.

    The tiny weights (`tiny_puppet_master.safetensors`, `svd_tiny/`) and the demo inputs (`demo.png`,
    `demo_mask.png`, `demo_drags.json`) stay next to `out`, so `offline_generate_command` can use them.
    Returns True when every check passed; prints what it did.
    """
    from ..pipeline import PuppetMasterPipeline
    from ..video import draw_drags, save_video

    folder = Path(out).parent
    folder.mkdir(parents=True, exist_ok=True)
    unet_path = save_unet(random_tiny_unet(), folder / "tiny_puppet_master.safetensors")
    svd_path = write_tiny_svd_folder(folder / "svd_tiny")
    image, mask = demo_image()
    image.save(folder / "demo.png")
    mask.save(folder / "demo_mask.png")
    (folder / "demo_drags.json").write_text(json.dumps(DEMO_DRAGS), encoding="utf-8")
    print(inspect_checkpoint(unet_path).describe())
    ok = _check_drag_cache(load_unet(unet_path), frames, steps)
    pipeline = PuppetMasterPipeline.from_files(unet_path, svd_path, "cpu")
    started = time.perf_counter()
    result = pipeline(image, DEMO_DRAGS, mask, frames=frames, steps=steps, size=64, seed=0)
    seconds = time.perf_counter() - started
    video = draw_drags(result.on_original(image, mask), result.crop.to_original(result.tracks))
    path = save_video(video, out)
    ok &= bool(torch.isfinite(result.frames).all()) and len(video) == frames
    print(f"generated {len(video)} frames ({video.shape[2]}x{video.shape[1]}) in {seconds:.1f} s -> {path}")
    print("(tiny random weights: the video shows noise, not motion)")
    print(f"the same offline with the CLI, on the tiny weights and demo inputs it left in {folder}/:")
    print(f"  {offline_generate_command(folder)}")
    print("selfcheck passed" if ok else "selfcheck FAILED")
    return ok
