"""Checkpoint loading through the user path: files, folders, dtypes, wrong files, SVD initialisation."""

import json

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel
from safetensors.torch import save_file

from puppet_master.loading import (
    CheckpointError,
    inspect_checkpoint,
    load_unet,
    save_unet,
    unet_from_svd,
)

SVD_KEYS = (
    "in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
    "addition_time_embed_dim", "projection_class_embeddings_input_dim", "layers_per_block",
    "cross_attention_dim", "transformer_layers_per_block", "num_attention_heads", "num_frames",
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_svd_unet(tiny_config):
    torch.manual_seed(0)
    return UNetSpatioTemporalConditionModel(**{key: tiny_config[key] for key in SVD_KEYS})


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].float(), sb[k].float()) for k in sa)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_single_file_round_trip_in_each_dtype(tiny_unet, tmp_path, dtype):
    path = save_unet(tiny_unet, tmp_path / "pm.safetensors")
    loaded = load_unet(path, dtype=dtype)
    assert loaded.dtype == dtype and not loaded.training
    assert dict(loaded.config) == dict(tiny_unet.config)
    expected = {k: v.to(dtype) for k, v in tiny_unet.state_dict().items()}
    assert all(torch.equal(expected[k], v) for k, v in loaded.state_dict().items())


def test_official_layout_file_loads_strictly_with_a_config(tiny_config, tiny_unet, tmp_path):
    """A file without our metadata (like the released one) loads given its config."""
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_unet.state_dict().items()}, str(path), metadata={"format": "pt"})
    assert same_weights(load_unet(path, config=tiny_config), tiny_unet)
    (tmp_path / "config.json").write_text(json.dumps(tiny_config), encoding="utf-8")
    assert same_weights(load_unet(path, config=tmp_path / "config.json"), tiny_unet)


def test_official_layout_weights_without_config_name_the_mismatch(tiny_unet, tmp_path):
    path = tmp_path / "official_layout.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_unet.state_dict().items()}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as error:
        load_unet(path)
    message = str(error.value)
    assert "shape mismatches" in message and "conv_in.weight" in message and "config" in message


def test_diffusers_folder_single_and_sharded(tiny_unet, tmp_path):
    tiny_unet.save_pretrained(tmp_path / "single")
    assert same_weights(load_unet(tmp_path / "single"), tiny_unet)
    tiny_unet.save_pretrained(tmp_path / "pipeline" / "unet", max_shard_size="200KB")
    assert len(list((tmp_path / "pipeline" / "unet").glob("*.safetensors"))) > 1
    assert same_weights(load_unet(tmp_path / "pipeline"), tiny_unet)


def test_loads_onto_the_meta_free_target_without_meta_tensors(tiny_unet, tmp_path):
    loaded = load_unet(save_unet(tiny_unet, tmp_path / "pm.safetensors"))
    assert not any(p.is_meta for p in loaded.parameters())
    assert all(p.requires_grad for p in loaded.parameters())


def test_stock_svd_unet_is_recognised(tiny_svd_unet, tmp_path):
    tiny_svd_unet.save_pretrained(tmp_path / "svd")
    assert inspect_checkpoint(tmp_path / "svd").kind == "svd_unet"
    with pytest.raises(CheckpointError, match="stock Stable Video Diffusion UNet, not Puppet-Master"):
        load_unet(tmp_path / "svd")
    with pytest.raises(CheckpointError, match="stock Stable Video Diffusion UNet"):
        load_unet(tmp_path / "svd" / "diffusion_pytorch_model.safetensors")


def test_svd_single_file_checkpoint_is_recognised(tmp_path):
    path = tmp_path / "svd.safetensors"
    tensors = {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2),
        "first_stage_model.decoder.conv_in.weight": torch.zeros(2),
        "conditioner.embedders.0.open_clip.model.logit_scale": torch.zeros(1),
    }
    save_file(tensors, str(path))
    assert inspect_checkpoint(path).kind == "svd_single_file"
    with pytest.raises(CheckpointError, match="ImageOnlyCheckpointLoader"):
        load_unet(path)


def test_truncated_file_is_recognised(tiny_unet, tmp_path):
    path = save_unet(tiny_unet, tmp_path / "pm.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.*download it again"):
        load_unet(path)


def test_pickle_lfs_pointer_garbage_and_missing_files_are_recognised(tiny_unet, tmp_path):
    pickle_path = tmp_path / "model.ckpt"
    torch.save(tiny_unet.state_dict(), pickle_path)
    with pytest.raises(CheckpointError, match="PyTorch pickle"):
        load_unet(pickle_path)
    pointer = tmp_path / "pointer.safetensors"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:7aa2\nsize 6703457048\n", encoding="utf-8"
    )
    with pytest.raises(CheckpointError, match="Git-LFS pointer"):
        load_unet(pointer)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_unet(garbage)
    with pytest.raises(CheckpointError, match="not found"):
        load_unet(tmp_path / "nothing.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_unet(tmp_path / "empty")


def test_unrelated_weights_are_rejected(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="does not contain Puppet-Master UNet weights"):
        load_unet(path)


def test_inspect_describes_a_puppet_master_file(tiny_unet, tmp_path):
    path = save_unet(tiny_unet, tmp_path / "pm.safetensors", dtype=torch.float16)
    info = inspect_checkpoint(path)
    assert info.kind == "puppet_master" and info.num_drags == 5 and info.dtypes == {"F16": 1660}
    assert info.num_parameters == sum(p.numel() for p in tiny_unet.parameters())
    assert "Puppet-Master UNet" in info.describe() and f"{info.num_parameters:,}" in info.describe()


def test_unet_from_svd_copies_shared_weights_and_starts_modulation_at_identity(tiny_svd_unet, tiny_config, tmp_path):
    tiny_svd_unet.save_pretrained(tmp_path / "svd" / "unet")
    model = unet_from_svd(tmp_path / "svd", config={"num_drags": 5, "drag_embedder_out_channels": [8, 16, 16]})
    ours, stock = model.state_dict(), tiny_svd_unet.state_dict()
    shared = set(ours) & set(stock)
    assert set(stock) - shared == {f"add_embedding.linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
    assert all(torch.equal(ours[k], stock[k]) for k in shared)
    flow = [k for k in ours if ".flow_convs." in k]
    assert len(flow) == 15 * 12
    assert all(ours[k].abs().sum() == 0 for k in flow if ".conv_out." in k)
    assert any(ours[k].abs().sum() > 0 for k in flow if ".conv_in." in k)
    assert all(ours[k].abs().sum() > 0 for k in ours if ".drag_token_mlps." in k and k.endswith("weight"))
    with torch.no_grad():
        context = model.prepare_drags(torch.rand(1, 4, 5, 4), (8, 8))
    for block in context.blocks.values():
        for modulation in block.modulations:
            assert modulation.scale_plus_one.eq(1).all() and modulation.shift.eq(0).all()


def test_unet_from_svd_rejects_a_puppet_master_file(tiny_unet, tmp_path):
    with pytest.raises(CheckpointError, match="not a stock SVD img2vid UNet"):
        unet_from_svd(save_unet(tiny_unet, tmp_path / "pm.safetensors"))
