"""Drag-context caching, any frame count and latent size, dtype moves, dropout and input errors."""

import pytest
import torch

from puppet_master.model import PuppetMasterUNet
from puppet_master.model.attention import AllToFirstAttnProcessor
from support import counting_drag_embedding_calls, random_drags


def inputs(batch, frames, height, width, seed=0, channels=32):
    generator = torch.Generator().manual_seed(seed)
    return dict(
        sample=torch.randn(batch, frames, 4, height, width, generator=generator),
        timestep=torch.tensor(0.7),
        image_latents=torch.randn(batch, 4, height, width, generator=generator),
        encoder_hidden_states=torch.randn(batch, 1, channels, generator=generator),
    )


@torch.no_grad()
def test_cached_drag_context_gives_identical_output(tiny_unet):
    args = inputs(2, 14, 32, 32)
    drags = random_drags(2, 14)
    direct = tiny_unet(**args, drags=drags)
    context = tiny_unet.prepare_drags(drags, (32, 32))
    assert torch.equal(tiny_unet(**args, drag_context=context), direct)
    args["sample"] = args["sample"] * 0.5
    assert torch.equal(tiny_unet(**args, drag_context=context), tiny_unet(**args, drags=drags))


def test_cached_context_skips_all_drag_embedding_work(tiny_unet):
    with torch.no_grad(), counting_drag_embedding_calls(tiny_unet) as calls:
        context = tiny_unet.prepare_drags(random_drags(1, 14), (32, 32))
        assert len(calls) == 15
        for _ in range(3):
            tiny_unet(**inputs(1, 14, 32, 32), drag_context=context)
    assert len(calls) == 15


@pytest.mark.parametrize("frames", [8, 14, 25])
@torch.no_grad()
def test_any_frame_count(tiny_unet, frames):
    output = tiny_unet(**inputs(1, frames, 16, 16), drags=random_drags(1, frames))
    assert output.shape == (1, frames, 4, 16, 16)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("size", [(24, 40), (20, 28), (48, 32)])
@torch.no_grad()
def test_any_latent_size_including_non_square_and_odd(tiny_unet, size):
    drags = random_drags(1, 14)
    output = tiny_unet(**inputs(1, 14, *size), drags=drags)
    assert output.shape == (1, 14, 4, *size)
    assert torch.isfinite(output).all()
    assert not torch.equal(output, tiny_unet(**inputs(1, 14, *size), drags=torch.zeros_like(drags)))


@torch.no_grad()
def test_all_to_first_equals_naive_frame_zero_attention(tiny_unet):
    attention = tiny_unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1
    frames, videos, tokens = 8, 2, 16
    hidden = torch.randn(videos * frames, tokens, attention.to_q.in_features)
    processor = AllToFirstAttnProcessor()
    processor.num_frames = frames
    ours = processor(attention, hidden)

    heads = attention.heads
    query = attention.to_q(hidden)
    first = hidden.view(videos, frames, tokens, -1)[:, :1].expand(-1, frames, -1, -1)
    first = first.reshape(videos * frames, tokens, -1)
    key, value = attention.to_k(first), attention.to_v(first)
    split = lambda t: t.view(videos * frames, tokens, heads, -1).transpose(1, 2)  # noqa: E731
    q, k, v = split(query), split(key), split(value)
    weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
    naive = attention.to_out[0]((weights @ v).transpose(1, 2).reshape(videos * frames, tokens, -1))
    assert (ours - naive).abs().max().item() < 1e-5


@torch.no_grad()
def test_dtype_and_device_moves_after_a_forward_pass(tiny_config, tiny_state_dict):
    model = PuppetMasterUNet(**tiny_config)
    model.load_state_dict(tiny_state_dict)
    model.eval()
    args = inputs(1, 8, 16, 16)
    drags = random_drags(1, 8)
    reference = model(**args, drags=drags)
    model.to(torch.float64)
    as_double = model(**{k: v.double() for k, v in args.items()}, drags=drags)
    assert as_double.dtype == torch.float64
    assert (as_double.float() - reference).abs().max() < 1e-4
    model.to(torch.bfloat16)
    as_bf16 = model(**{k: v.bfloat16() for k, v in args.items()}, drags=drags)
    assert as_bf16.dtype == torch.bfloat16
    assert torch.isfinite(as_bf16).all()


@torch.no_grad()
def test_force_drop_ids_drop_only_the_drags(tiny_unet):
    args = inputs(2, 8, 16, 16)
    drags = random_drags(2, 8)
    dropped = tiny_unet(**args, drags=drags, force_drop_ids=torch.tensor([1, 0]))
    without = tiny_unet(**args, drags=drags * torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))
    assert torch.equal(dropped, without)


def test_training_mode_drops_drags_with_the_configured_probability(tiny_config):
    model = PuppetMasterUNet(**{**tiny_config, "cond_dropout_prob": 0.5}).train()
    drags = torch.ones(4000, 1, 5, 4)
    kept = model.drop_drags(drags)[:, 0, 0, 0]
    assert set(kept.unique().tolist()) == {0.0, 1.0}
    assert abs(kept.mean().item() - 0.5) < 0.05
    assert torch.equal(model.eval().drop_drags(drags), drags)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config, tiny_state_dict):
    def gradients(checkpointing):
        torch.manual_seed(0)
        model = PuppetMasterUNet(**tiny_config)
        model.load_state_dict(tiny_state_dict)
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(**inputs(1, 4, 8, 8), drags=random_drags(1, 4)).square().mean().backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain.keys() == checkpointed.keys()
    assert any("flow_convs" in n for n in plain) and any("drag_token_mlps" in n for n in plain)
    for name in plain:
        assert torch.allclose(plain[name], checkpointed[name], atol=1e-6), name


@torch.no_grad()
def test_bad_inputs_give_clear_errors(tiny_unet):
    args = inputs(1, 8, 16, 16)
    with pytest.raises(ValueError, match=r"\(batch, frames, 5, 4\)"):
        tiny_unet(**args, drags=torch.zeros(1, 8, 6, 4))
    with pytest.raises(ValueError, match="pass drags"):
        tiny_unet(**args)
    context = tiny_unet.prepare_drags(random_drags(1, 14), (16, 16))
    with pytest.raises(ValueError, match="prepared for"):
        tiny_unet(**args, drag_context=context)
    with pytest.raises(ValueError, match="do not also pass drags"):
        tiny_unet(**inputs(1, 14, 16, 16), drags=random_drags(1, 14), drag_context=context)
    with pytest.raises(ValueError, match="sample must be"):
        tiny_unet(**{**args, "sample": args["sample"][0]}, drags=random_drags(1, 8))
