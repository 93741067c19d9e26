"""An offline end-to-end check of the installed library with a tiny random UNet (no downloads)."""

from __future__ import annotations

import json
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch

from .loading import inspect_checkpoint, load_unet, save_unet
from .model import PuppetMasterUNet


def tiny_unet_config() -> dict:
    """The official tiny test configuration (same block structure as the real model, 32 channels)."""
    return json.loads(resources.files("puppet_master").joinpath("configs/tiny_unet.json").read_text())


def linear_drags(frames: int, moves: list[tuple[float, float, float, float]], slots: int = 5) -> torch.Tensor:
    """(1, F, slots, 4) drags moving linearly from (x0, y0) to (x1, y1), as the official demo builds them."""
    drags = torch.zeros(1, frames, slots, 4)
    t = torch.linspace(0, 1, frames)[:, None]
    for slot, (x0, y0, x1, y1) in enumerate(moves):
        start = torch.tensor([x0, y0])
        drags[0, :, slot, :2] = start
        drags[0, :, slot, 2:] = start * (1 - t) + torch.tensor([x1, y1]) * t
    return drags


def run_selfcheck(frames: int = 14, latent_size: tuple[int, int] = (32, 32), steps: int = 3) -> bool:
    """Save, inspect, reload and run a tiny random UNet; print what happened; True when all checks pass."""
    torch.manual_seed(0)
    model = PuppetMasterUNet(**tiny_unet_config())
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.05)
    with tempfile.TemporaryDirectory() as folder:
        path = save_unet(model, Path(folder) / "tiny_puppet_master.safetensors")
        print(inspect_checkpoint(path).describe())
        model = load_unet(path)
    drags = linear_drags(frames, [(0.4, 0.5, 0.6, 0.45), (0.3, 0.3, 0.3, 0.2)])
    sample = torch.randn(1, frames, 4, *latent_size)
    conditioning = dict(image_latents=torch.randn(1, 4, *latent_size), encoder_hidden_states=torch.randn(1, 1, 32))
    ok = True
    with torch.no_grad():
        started = time.perf_counter()
        context = model.prepare_drags(drags, latent_size)
        prepared = time.perf_counter()
        for step in range(steps):
            timestep = torch.tensor(1.6 - step * 0.5)
            cached = model(sample, timestep, drag_context=context, **conditioning)
            direct = model(sample, timestep, drags=drags, **conditioning)
            same = torch.equal(cached, direct)
            ok &= same and bool(torch.isfinite(cached).all())
            print(f"step {step}: output {tuple(cached.shape)}, cached == uncached: {same}")
    print(f"drag context prepared once in {prepared - started:.3f} s; {steps} steps reused it")
    print("selfcheck passed" if ok else "selfcheck FAILED")
    return ok
