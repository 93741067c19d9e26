"""The full-size UNet's state dict equals the released checkpoint's, checked on the meta device."""

import json

import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from puppet_master.model import PuppetMasterUNet
from puppet_master.model.attention import AllToFirstAttnProcessor
from support import shared_path


def test_state_dict_matches_official_manifest():
    manifest = json.loads(shared_path("reference/official_unet_manifest.json").read_text())
    with torch.device("meta"):
        model = PuppetMasterUNet(**{k: v for k, v in manifest["config"].items() if not k.startswith("_")})
    state = model.state_dict()
    assert {name: list(t.shape) for name, t in state.items()} == manifest["state_dict"]
    assert sum(t.numel() for t in state.values()) == manifest["total_params"] == 1_675_809_962


def test_defaults_are_the_released_configuration():
    with torch.device("meta"):
        model = PuppetMasterUNet()
    assert model.config.num_drags == 5
    assert len(model.state_dict()) == 1664


def test_attention_processors_all_to_first_on_spatial_self_attention_only():
    with torch.device("meta"):
        model = PuppetMasterUNet()
    processors = model.attn_processors
    all_to_first = {name for name, p in processors.items() if isinstance(p, AllToFirstAttnProcessor)}
    assert len(processors) == 64
    assert len(all_to_first) == 16
    assert all(".transformer_blocks.0.attn1" in name for name in all_to_first)
    assert all(isinstance(p, AttnProcessor2_0) for name, p in processors.items() if name not in all_to_first)
