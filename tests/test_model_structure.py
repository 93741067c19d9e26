"""The full-size UNet's state dict equals the released checkpoint's, checked on the meta device."""

import json

import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from puppet_master.model import PuppetMasterUNet
from puppet_master.model.attention import AllToFirstAttnProcessor, ShortContextAttnProcessor
from support import shared_path


def test_state_dict_matches_official_manifest():
    manifest = json.loads(shared_path("reference/official_unet_manifest.json").read_text(encoding="utf-8"))
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
    short_context = {name for name, p in processors.items() if isinstance(p, ShortContextAttnProcessor)}
    assert len(processors) == 64
    assert len(all_to_first) == 16
    assert all(".transformer_blocks.0.attn1" in name for name in all_to_first)
    assert len(short_context) == 32 and all(name.endswith(".attn2.processor") for name in short_context)
    others = set(processors) - all_to_first - short_context
    assert len(others) == 16 and all(isinstance(processors[name], AttnProcessor2_0) for name in others)
