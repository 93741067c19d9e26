"""Bad weights, configs, drags and node inputs give clear errors (our exception types with the fix named),
never a raw exception from deep inside torch, and never a silently black or unguided video."""

import json
import math
import struct

import pytest
import torch
from safetensors.torch import save_file

from nodes import comfy_env
from nodes.crop_nodes import PuppetMasterPrepareImage
from nodes.drag_nodes import PuppetMasterDrags
from nodes.sampler import PuppetMasterSampler
from puppet_master.loading import CheckpointError, inspect_checkpoint, load_unet, read_safetensors, save_unet
from puppet_master.sampler_settings import SamplerSettings
from puppet_master.sampling import NonFiniteOutputError, initial_noise, require_finite, sample


def raw_safetensors(path, header, data=b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"w": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 8]}}, b"\0" * 8,
         "needs 40,000,000,000 bytes but its offsets give 8"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "share bytes"),
        ({"w": {"dtype": "F32", "shape": [2]}}, b"", "has data_offsets None"),
        ({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype 'Q4'"),
        ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "has shape [-2]"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, "offsets give -8"),
        ({"w": [1, 2, 3]}, b"", "is not an object"),
        ({"__metadata__": {"a": 1}}, b"", "__metadata__ must map names to strings"),
    ],
)  # fmt: skip
def test_malformed_headers_are_named(tmp_path, header, data, message):
    path = raw_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace("[", r"\[")):
        read_safetensors(path)
    with pytest.raises(CheckpointError):
        inspect_checkpoint(path)


def test_a_header_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "list.safetensors"
    path.write_bytes(struct.pack("<Q", 2) + b"[]")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_safetensors(path)


def saved_with(tiny_unet, path, change):
    """The tiny UNet saved as `save_unet` does (same metadata), each tensor passed through `change`."""
    metadata = read_safetensors(save_unet(tiny_unet, path.with_suffix(".good.safetensors"))).metadata
    save_file({name: change(t.clone()) for name, t in tiny_unet.state_dict().items()}, str(path), metadata=metadata)
    return path


def test_integer_weights_are_refused_in_one_sentence(tiny_unet, tmp_path):
    saved_with(tiny_unet, tmp_path / "int8.safetensors", lambda tensor: tensor.to(torch.int8))
    with pytest.raises(CheckpointError, match="non-floating-point type .*quantized files are not supported") as error:
        load_unet(tmp_path / "int8.safetensors")
    assert str(error.value).count("\n") == 0


def test_nan_weights_are_refused_at_load_naming_the_tensor(tiny_unet, tmp_path):
    saved_with(tiny_unet, tmp_path / "nan.safetensors", lambda tensor: tensor.fill_(math.nan))
    with pytest.raises(CheckpointError, match="tensor .* contains NaN or infinite values"):
        load_unet(tmp_path / "nan.safetensors")


def test_bad_configs_are_named(tiny_unet, tmp_path):
    state = {name: tensor.contiguous() for name, tensor in tiny_unet.state_dict().items()}
    save_file(state, str(tmp_path / "badjson.safetensors"), metadata={"puppet_master_config": "{not json"})
    with pytest.raises(CheckpointError, match="puppet_master_config metadata of .* is not valid JSON"):
        load_unet(tmp_path / "badjson.safetensors")
    good = save_unet(tiny_unet, tmp_path / "good.safetensors")
    with pytest.raises(CheckpointError, match="unknown settings colour; accepted: "):
        load_unet(good, config={**tiny_unet.config, "colour": "red"})
    with pytest.raises(CheckpointError, match="must be a dict or a JSON file path"):
        load_unet(good, config=[1, 2])


@pytest.mark.parametrize(
    ("cfg", "min_cfg", "message"),
    [(math.nan, 1.0, "cfg"), (math.inf, 1.0, "cfg"), (5.0, math.nan, "min_cfg"), (5.0, -math.inf, "min_cfg")],
)
def test_non_finite_guidance_is_refused_not_silently_unguided(tiny_unet, cfg, min_cfg, message):
    noise = initial_noise(0, 4, (8, 8))
    with pytest.raises(ValueError, match=f"^{message} .*must be a finite number"):
        sample(tiny_unet, noise, torch.zeros(1, 4, 8, 8), torch.zeros(1, 1, 32), torch.zeros(1, 4, 5, 4),
               SamplerSettings(steps=1, min_guidance=min_cfg, max_guidance=cfg))  # fmt: skip


def test_non_finite_results_are_an_error_naming_the_causes():
    with pytest.raises(NonFiniteOutputError, match="denoised latents contain NaN .* weights .* cfg/min_cfg"):
        require_finite(torch.tensor([1.0, math.nan]), "denoised latents")
    assert require_finite(torch.ones(3), "x").sum() == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, r"steps must be a whole number of at least 1 \(official 50\), got 0"),
        ("steps", 2.5, "steps must be a whole number"),
        ("steps", True, "steps must be a whole number"),
        ("decode_chunk_size", 0, r"decode_chunk_size must be a whole number of at least 1 \(official 14\)"),
        ("seed", -1, "seed must be a whole number from 0 to 18446744073709551615"),
        ("negative", "none", "negative must be one of official, drags_only, got 'none'"),
        ("max_guidance", math.inf, r"cfg \(max_guidance\) must be a finite number"),
        ("min_guidance", 500.0, r"min_cfg \(min_guidance\) must be between -100 and 100"),
    ],
)
def test_bad_sampler_settings_are_refused_when_made_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**{field: value})


@pytest.mark.parametrize("seed", [2**70, -1, 1.5, True])
def test_seeds_outside_the_generator_range_are_named(seed):
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to 18446744073709551615"):
        initial_noise(seed, 2, (4, 4))


def test_nan_drags_given_to_the_unet_are_named(tiny_unet):
    drags = torch.zeros(1, 4, 5, 4)
    drags[0, :, 0] = math.nan
    with pytest.raises(ValueError, match="drags contain NaN or infinite values"):
        tiny_unet.prepare_drags(drags, (8, 8))


@pytest.mark.parametrize("name", ["/etc/passwd", "../../etc", "..", "a/../../b", "", ".", "/"])
def test_model_and_svd_names_stay_inside_their_folders(tmp_path, monkeypatch, name):
    (tmp_path / "puppet_master").mkdir()
    (tmp_path / "diffusers").mkdir()
    monkeypatch.setenv("PUPPET_MASTER_MODELS", str(tmp_path / "diffusers"))
    with pytest.raises(FileNotFoundError, match="not a name inside models/"):
        comfy_env.model_path(name)
    with pytest.raises(FileNotFoundError, match="not a name inside models/diffusers"):
        comfy_env.svd_folder_path(name)


@pytest.mark.parametrize(
    ("node", "values", "message"),
    [
        (PuppetMasterSampler, {"cfg": math.nan, "min_cfg": 1.0}, "cfg must be a finite number from 1 to 20, got nan"),
        (PuppetMasterSampler, {"cfg": 5.0, "min_cfg": math.inf}, "min_cfg must be a finite number"),
        (PuppetMasterSampler, {"cfg": 50.0, "min_cfg": 1.0}, "cfg must be from 1 to 20, got 50.0"),
        (PuppetMasterPrepareImage, {"scale": math.nan}, "scale must be a finite number"),
        (PuppetMasterPrepareImage, {"scale": 10**9}, "scale must be from 1 to 5"),
        (PuppetMasterDrags, {"drags": ""}, "the drag document is empty"),
        (PuppetMasterDrags, {"drags": "[" * 50_000}, "drag document is nested too deeply"),
        (PuppetMasterDrags, {"drags": '{"version": 1, "width": NaN}'}, '"width" must be a whole'),
        (PuppetMasterDrags, {"drags": '{"version": true, "width": 9, "height": 9}'}, '"version" must be 1, got true'),
        (PuppetMasterDrags, {"drags": "[[{\"x\": 1}, {\"x\": 2}]]"}, 'must have "x" and "y"'),
    ],
)
def test_nodes_refuse_malformed_widgets_at_queue_time(node, values, message):
    assert message in node.validate_inputs(**values)


def test_nodes_accept_good_and_linked_widgets():
    document = json.dumps({"version": 1, "width": 96, "height": 80, "drags": [{"points": [[5, 5], [9, 9]]}]})
    assert PuppetMasterSampler.validate_inputs(cfg=5.0, min_cfg=1.0) is True
    assert PuppetMasterSampler.validate_inputs(cfg=None, min_cfg=None) is True
    assert PuppetMasterPrepareImage.validate_inputs(scale=2.2) is True
    assert PuppetMasterDrags.validate_inputs(drags=document) is True
    assert PuppetMasterDrags.validate_inputs(drags='[[{"x": 1, "y": 2}, {"x": 3, "y": 4}]]') is True
