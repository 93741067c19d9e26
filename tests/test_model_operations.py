"""The UNet with a host's weight layers (ComfyUI's comfy.ops), and in the frames-as-batch layout.

The operations namespace here is a real alternative layer implementation (torch layers that compute with
weights cast to the input's dtype, as comfy.ops.manual_cast does), not a mock; tests/e2e runs the real
comfy.ops.
"""

import json
import types

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from puppet_master.model import FrameBatchUNet, PuppetMasterUNet, build_unet
from puppet_master.model.operations import WEIGHT_LAYERS
from support import counting_drag_embedding_calls, shared_path


class _CastOnUse:
    """Stores weights in whatever dtype they are given; computes in the input's dtype."""

    def forward(self, input):
        weight = self.weight.to(input.dtype) if self.weight is not None else None
        bias = self.bias.to(input.dtype) if self.bias is not None else None
        return self.compute(input, weight, bias)


class CastLinear(_CastOnUse, nn.Linear):
    def compute(self, input, weight, bias):
        return nn.functional.linear(input, weight, bias)


class CastConv2d(_CastOnUse, nn.Conv2d):
    def compute(self, input, weight, bias):
        return self._conv_forward(input, weight, bias)


class CastConv3d(_CastOnUse, nn.Conv3d):
    def compute(self, input, weight, bias):
        return self._conv_forward(input, weight, bias)


class CastGroupNorm(_CastOnUse, nn.GroupNorm):
    def compute(self, input, weight, bias):
        return nn.functional.group_norm(input, self.num_groups, weight, bias, self.eps)


class CastLayerNorm(_CastOnUse, nn.LayerNorm):
    def compute(self, input, weight, bias):
        return nn.functional.layer_norm(input, self.normalized_shape, weight, bias, self.eps)


CAST_OPS = types.SimpleNamespace(
    Linear=CastLinear, Conv2d=CastConv2d, Conv3d=CastConv3d, GroupNorm=CastGroupNorm, LayerNorm=CastLayerNorm
)


@pytest.fixture(scope="module")
def official_config() -> dict:
    return json.loads(shared_path("fixtures/tiny_unet_config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def official_state_dict() -> dict[str, torch.Tensor]:
    weights = load_file(shared_path("fixtures/tiny_unet_weights.safetensors"))
    return {name: value.float() for name, value in weights.items()}


def test_default_build_is_the_plain_torch_model(tiny_config):
    torch.manual_seed(0)
    built = build_unet(tiny_config)
    torch.manual_seed(0)
    plain = PuppetMasterUNet(**tiny_config)
    assert type(built) is PuppetMasterUNet
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), plain.state_dict().values(), strict=True))


def test_every_weight_layer_comes_from_the_operations(tiny_config, tiny_state_dict):
    model = build_unet(tiny_config, CAST_OPS, dtype=torch.float16)
    layers = [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    assert layers and all(type(m) in vars(CAST_OPS).values() for m in layers)
    assert not any(p.is_meta for p in model.parameters())
    assert set(model.state_dict()) == set(tiny_state_dict)
    assert {p.dtype for m in layers for p in m.parameters()} == {torch.float16}


@pytest.mark.parametrize("storage", [torch.float32, torch.bfloat16])
def test_operations_model_keeps_parity(official_config, official_state_dict, unet_io, storage):
    model = build_unet(official_config, CAST_OPS, dtype=storage)
    stored = {k: v.to(storage) if k.endswith(("weight", "bias")) else v for k, v in official_state_dict.items()}
    model.load_state_dict(stored)
    with torch.no_grad():
        output = model.eval()(
            unet_io["sample"],
            unet_io["timestep"],
            image_latents=unet_io["image_latents"],
            encoder_hidden_states=unet_io["encoder_hidden_states"],
            drags=unet_io["drags"],
        )
    error = (output - unet_io["output"]).abs().max().item()
    if storage == torch.float32:
        assert error < 1e-5
    else:  # bf16 storage, float32 compute: close, not equal
        assert 1e-6 < error < 0.05 * unet_io["output"].abs().max().item()


def rows_layout(io, prefix=""):
    """The fixture's (B, F, ...) inputs laid out as a video sampler passes them: rows = B x F."""
    sample = io[prefix + "sample"]
    batch, frames = sample.shape[:2]
    image = io[prefix + "image_latents"][:, None].expand(batch, frames, *io[prefix + "image_latents"].shape[1:])
    x = torch.cat([sample, image], dim=2).flatten(0, 1)
    timesteps = torch.as_tensor(io[prefix + "timestep"]).reshape(-1).expand(batch).repeat_interleave(frames)
    context = io[prefix + "encoder_hidden_states"].repeat_interleave(frames, dim=0)
    drags = io[prefix + "drags"].flatten(0, 1)
    return x, timesteps, context, drags, frames


@pytest.fixture
def frame_batch_unet(official_config, official_state_dict):
    model = FrameBatchUNet(**official_config)
    model.load_state_dict(official_state_dict)
    return model.eval()


@pytest.mark.parametrize("prefix", ["", "cfg_"])
def test_frames_as_batch_matches_the_official_forward(frame_batch_unet, unet_io, prefix):
    x, timesteps, context, drags, frames = rows_layout(unet_io, prefix)
    with torch.no_grad():
        output = frame_batch_unet(x, timesteps, context=context, drags=drags, num_video_frames=frames)
    expected = unet_io[prefix + "output"].flatten(0, 1)
    assert (output - expected).abs().max().item() < 1e-5


def test_drag_cache_keyed_by_identity_runs_drag_work_once(frame_batch_unet, unet_io):
    x, timesteps, context, drags, frames = rows_layout(unet_io, "cfg_")
    with torch.no_grad(), counting_drag_embedding_calls(frame_batch_unet) as calls:
        for _step in range(3):
            rebuilt = drags.clone()  # a sampler builds new tensors every step
            frame_batch_unet(
                x, timesteps, context=context, drags=rebuilt, num_video_frames=frames,
                transformer_options={"uuids": ["cond-uuid", "uncond-uuid"]},
            )  # fmt: skip
    assert len(calls) == 15
    with torch.no_grad(), counting_drag_embedding_calls(frame_batch_unet) as calls:
        frame_batch_unet(
            x, timesteps, context=context, drags=drags, num_video_frames=frames,
            transformer_options={"uuids": ["next-generation", "uncond"]},
        )  # fmt: skip
    assert len(calls) == 15


def test_drag_cache_without_identity_compares_values(frame_batch_unet, unet_io):
    x, timesteps, context, drags, frames = rows_layout(unet_io)
    frame_batch_unet.drag_cache.clear()
    with torch.no_grad(), counting_drag_embedding_calls(frame_batch_unet) as calls:
        first = frame_batch_unet(x, timesteps, context=context, drags=drags.clone(), num_video_frames=frames)
        again = frame_batch_unet(x, timesteps, context=context, drags=drags.clone(), num_video_frames=frames)
        assert len(calls) == 15
        moved = drags.clone()
        moved[drags != 0] += 0.01
        other = frame_batch_unet(x, timesteps, context=context, drags=moved, num_video_frames=frames)
    assert len(calls) == 30
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_frames_as_batch_errors_name_the_fix(frame_batch_unet, unet_io):
    x, timesteps, context, drags, frames = rows_layout(unet_io)
    with pytest.raises(ValueError, match="Puppet-Master Conditioning"):
        frame_batch_unet(x, timesteps, context=context, num_video_frames=frames)
    with pytest.raises(ValueError, match="not a multiple of num_video_frames"):
        frame_batch_unet(x, timesteps, context=context, drags=drags, num_video_frames=frames + 1)


def test_a_clip_embedding_of_another_width_is_refused_naming_the_encoder(tiny_unet):
    model = FrameBatchUNet.from_config(tiny_unet.config).eval()
    frames, width = 14, model.config.cross_attention_dim
    drags = torch.zeros(frames, model.config.num_drags, 4)
    message = f"the CLIP image embedding has {width + 1} values but this Puppet-Master model takes {width}"
    with torch.no_grad(), pytest.raises(ValueError, match=message):
        model(torch.zeros(frames, 8, 8, 8), torch.zeros(frames), torch.zeros(frames, 1, width + 1), drags, frames)
