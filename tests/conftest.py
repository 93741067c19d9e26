"""Shared test fixtures: the official golden files and tiny models built from their config."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from puppet_master.model import PuppetMasterUNet
from puppet_master.selfcheck import write_tiny_svd_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PUPPET_MASTER_SHARED", REPO.parent / "shared"))


def shared_path(relative: str) -> Path:
    """Path of a file under shared/ (golden fixtures, reference), skipping the test, saying why, if absent."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} not found: set PUPPET_MASTER_SHARED to the folder holding fixtures/ and reference/")
    return path


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return json.loads(shared_path("fixtures/tiny_unet_config.json").read_text())


@pytest.fixture(scope="session")
def tiny_state_dict() -> dict[str, torch.Tensor]:
    return {
        name: value.float() for name, value in load_file(shared_path("fixtures/tiny_unet_weights.safetensors")).items()
    }


@pytest.fixture(scope="session")
def tiny_unet(tiny_config, tiny_state_dict) -> PuppetMasterUNet:
    """The official tiny model's weights in our UNet, float32, eval mode (shared: do not mutate)."""
    model = PuppetMasterUNet(**tiny_config)
    model.load_state_dict(tiny_state_dict, strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def unet_io() -> dict[str, torch.Tensor]:
    return load_file(shared_path("fixtures/tiny_unet_io.safetensors"))


@pytest.fixture(scope="session")
def drag_io() -> dict[str, torch.Tensor]:
    return load_file(shared_path("fixtures/drag_encoding_io.safetensors"))


@pytest.fixture(scope="session")
def tiny_svd_folder(tmp_path_factory) -> Path:
    """A tiny random SVD img2vid folder in the real diffusers layout (vae/, image_encoder/, feature_extractor/)."""
    return write_tiny_svd_folder(tmp_path_factory.mktemp("svd"))


@pytest.fixture(scope="session")
def tiny_unet_file(tiny_unet, tmp_path_factory) -> Path:
    """The official tiny weights saved as a single file through `save_unet` (config in its metadata)."""
    from puppet_master.loading import save_unet

    return save_unet(tiny_unet, tmp_path_factory.mktemp("unet") / "tiny_puppet_master.safetensors")


@contextmanager
def counting_drag_embedding_calls(model: PuppetMasterUNet) -> Iterator[list[int]]:
    """Count forward calls of the model's DragEmbedding CNNs (15 in the real and tiny models) while inside."""
    calls: list[int] = []
    hooks = [
        conv.register_forward_hook(lambda *_: calls.append(1))
        for block in model.drag_blocks().values()
        for conv in block.flow_convs
    ]
    try:
        yield calls
    finally:
        for hook in hooks:
            hook.remove()


def random_drags(batch: int, frames: int, slots: int = 5, used: int = 2, seed: int = 0) -> torch.Tensor:
    """Linear drags in the official convention: `used` slots filled, the rest all-zero."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.rand(batch, 1, used, 2, generator=generator) * 0.8 + 0.1
    end = torch.rand(batch, 1, used, 2, generator=generator) * 0.8 + 0.1
    t = torch.linspace(0, 1, frames).view(1, frames, 1, 1)
    drags = torch.zeros(batch, frames, slots, 4)
    drags[:, :, :used, :2] = start.expand(batch, frames, used, 2)
    drags[:, :, :used, 2:] = start * (1 - t) + end * t
    return drags
