"""Speed levers keep the model's results: folded short-context cross-attention against diffusers' standard one."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from test_model_behaviour import inputs
from torch import nn

from puppet_master.model.attention import ShortContextAttnProcessor
from support import random_drags


class CastLinear(nn.Linear):
    """Stands for a host's cast-on-use layer (ComfyUI's ops): not a plain nn.Linear, weights read in forward."""


def cross_attention(channels=64, context_dim=48, heads=2, linear=nn.Linear):
    torch.manual_seed(0)
    attention = Attention(channels, cross_attention_dim=context_dim, heads=heads, dim_head=channels // heads)
    if linear is not nn.Linear:
        for name in ("to_q", "to_k", "to_v"):
            old = getattr(attention, name)
            new = linear(old.in_features, old.out_features, bias=old.bias is not None)
            new.load_state_dict(old.state_dict())
            setattr(attention, name, new)
    return attention.eval()


@pytest.mark.parametrize("context_tokens", [1, 6])
@pytest.mark.parametrize("linear", [nn.Linear, CastLinear])
@torch.no_grad()
def test_spatial_short_context_equals_standard_attention(context_tokens, linear):
    attention = cross_attention(linear=linear)
    hidden = torch.randn(5, 40, 64)
    context = torch.randn(5, context_tokens, 48)
    expected = AttnProcessor2_0()(attention, hidden, context)
    folded = ShortContextAttnProcessor()(attention, hidden, context)
    assert folded.shape == expected.shape
    assert (folded - expected).abs().max() < 1e-5


@torch.no_grad()
def test_temporal_short_context_shares_each_videos_first_frame_context():
    attention = cross_attention()
    videos, positions, frames = 2, 9, 7
    hidden = torch.randn(videos * positions, frames, 64)
    per_video = torch.randn(videos, 6, 48)
    context = per_video.repeat_interleave(positions, dim=0)
    processor = ShortContextAttnProcessor(temporal=True)
    processor.temporal_videos = videos
    expected = AttnProcessor2_0()(attention, hidden, context)
    assert (processor(attention, hidden, context) - expected).abs().max() < 1e-5


def test_temporal_processor_refuses_to_guess_the_video_count():
    attention = cross_attention()
    with pytest.raises(RuntimeError, match="temporal_videos"):
        ShortContextAttnProcessor(temporal=True)(attention, torch.randn(4, 3, 64), torch.randn(4, 2, 48))


@torch.no_grad()
def test_unet_cross_attention_is_folded_by_default_and_matches_the_standard_processor(tiny_unet):
    processors = {type(a.processor) for a in tiny_unet.cross_attentions().values()}
    assert processors == {ShortContextAttnProcessor}
    assert len(tiny_unet.cross_attentions()) == 2 * len(tiny_unet.spatial_self_attentions())
    args = inputs(2, 6, 16, 16)
    drags = random_drags(2, 6)
    folded = tiny_unet(**args, drags=drags)
    tiny_unet.use_short_context_attention(False)
    try:
        assert {type(a.processor) for a in tiny_unet.cross_attentions().values()} == {AttnProcessor2_0}
        standard = tiny_unet(**args, drags=drags)
    finally:
        tiny_unet.use_short_context_attention(True)
    assert (folded - standard).abs().max() < 1e-5
    assert not torch.equal(folded, standard)
