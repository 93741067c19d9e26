"""Float32 parity of the UNet with the official model on the golden fixtures."""

import pytest
import torch
from safetensors.torch import load_file

from support import shared_path

PASSES = {
    "main": ("sample", "timestep", "image_latents", "encoder_hidden_states", "drags", "output"),
    "cfg_pair": (
        "cfg_sample",
        "cfg_timestep",
        "cfg_image_latents",
        "cfg_encoder_hidden_states",
        "cfg_drags",
        "cfg_output",
    ),
}


def run(model, io, sample, timestep, image, clip, drags):
    with torch.no_grad():
        return model(io[sample], io[timestep], image_latents=io[image], encoder_hidden_states=io[clip], drags=drags)


@pytest.mark.parametrize("name", PASSES)
def test_forward_matches_official(official_tiny_unet, unet_io, name):
    sample, timestep, image, clip, drags, expected = PASSES[name]
    output = run(official_tiny_unet, unet_io, sample, timestep, image, clip, unet_io[drags])
    assert output.shape == unet_io[expected].shape
    assert (output - unet_io[expected]).abs().max().item() < 1e-5


def test_no_drag_pass_matches_official(official_tiny_unet, unet_io):
    output = run(official_tiny_unet, unet_io, *PASSES["main"][:4], torch.zeros_like(unet_io["drags"]))
    assert (output - unet_io["nodrag_output"]).abs().max().item() < 1e-5


def test_intermediates_match_official(official_tiny_unet, unet_io):
    """Per-block activations and every cross-attention context (CLIP token + 5 drag tokens)."""
    expected = load_file(shared_path("fixtures/tiny_unet_intermediates.safetensors"))
    captured = {}
    handles = []

    def keep_output(key):
        return lambda module, args, out: captured.__setitem__(key, out[0] if isinstance(out, tuple) else out)

    def keep_context(key):
        return lambda module, args, kwargs: captured.__setitem__(key, kwargs["encoder_hidden_states"])

    for name, module in official_tiny_unet.named_modules():
        if f"{name}.out" in expected:
            handles.append(module.register_forward_hook(keep_output(f"{name}.out")))
        if f"{name}.encoder_hidden_states_in" in expected:
            key = f"{name}.encoder_hidden_states_in"
            handles.append(module.register_forward_pre_hook(keep_context(key), with_kwargs=True))
    try:
        run(official_tiny_unet, unet_io, *PASSES["main"][:4], unet_io["drags"])
    finally:
        for handle in handles:
            handle.remove()
    assert set(captured) == set(expected)
    for key, reference in expected.items():
        ours = captured[key]
        if ours.ndim == 4 and reference.shape[0] == 1:
            ours = ours[13:14]
        if ".flow_convs." in key:
            assert torch.equal(ours, reference), key
        else:
            tolerance = 1e-6 if key.endswith("encoder_hidden_states_in") else 1e-5
            assert (ours - reference).abs().max().item() < tolerance, key
    contexts = captured["down_blocks.0.attentions.0.encoder_hidden_states_in"]
    absent = (unet_io["drags"] == 0).all(-1).all(1).repeat_interleave(14, 0)
    assert absent.any()
    assert contexts[:, 1:][absent].eq(0).all()
