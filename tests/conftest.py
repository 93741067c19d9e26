"""Shared test fixtures: tiny models built from the project's own config, and the official golden files.

Everything but the official-parity fixtures (`official_*`, `unet_io`, `drag_io`) works without ../shared; the node
tests need ComfyUI's source for its `comfy_api` (COMFYUI_PATH or ../shared/comfyui/src, see support.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from puppet_master.diagnostics.selfcheck import random_tiny_unet, tiny_unet_config, write_tiny_svd_folder
from puppet_master.model import PuppetMasterUNet
from support import add_comfy_api_to_path, shared_path

add_comfy_api_to_path()  # the nodes are V3 nodes: they import ComfyUI's comfy_api


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    """The packaged tiny configuration (same block structure as the released model, 32 channels)."""
    return tiny_unet_config()


@pytest.fixture(scope="session")
def tiny_unet() -> PuppetMasterUNet:
    """A tiny random Puppet-Master UNet, float32, eval mode (shared: do not mutate)."""
    return random_tiny_unet()


@pytest.fixture(scope="session")
def tiny_state_dict(tiny_unet) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in tiny_unet.state_dict().items()}


@pytest.fixture(scope="session")
def official_tiny_unet() -> PuppetMasterUNet:
    """The official tiny model's weights (../shared/fixtures) in our UNet, float32, eval mode (do not mutate)."""
    config = json.loads(shared_path("fixtures/tiny_unet_config.json").read_text(encoding="utf-8"))
    weights = load_file(shared_path("fixtures/tiny_unet_weights.safetensors"))
    model = PuppetMasterUNet(**config)
    model.load_state_dict({name: value.float() for name, value in weights.items()}, strict=True)
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
    """The tiny random UNet saved as a single file through `save_unet` (config in its metadata)."""
    from puppet_master.loading import save_unet

    return save_unet(tiny_unet, tmp_path_factory.mktemp("unet") / "tiny_puppet_master.safetensors")
