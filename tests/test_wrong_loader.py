"""The on-prompt check that explains core's error when a core loader is given a Puppet-Master checkpoint."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import save_file
from torch import zeros

from nodes.wrong_loader import misplaced_checkpoints, prompt_handler
from puppet_master.loading import save_unet


def test_only_core_loaders_naming_a_puppet_master_file_are_reported(tmp_path: Path, tiny_unet):
    save_unet(tiny_unet, tmp_path / "pm.safetensors")
    save_file({"model.diffusion_model.input_blocks.0.0.weight": zeros(2, 2)}, str(tmp_path / "svd.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 4)
    folders = []

    def full_path(folder: str, name: str) -> str | None:
        folders.append(folder)
        return str(tmp_path / name) if (tmp_path / name).exists() else None

    prompt = {
        "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "pm.safetensors"}},
        "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "svd.safetensors"}},
        "3": {"class_type": "UNETLoader", "inputs": {"unet_name": "broken.safetensors"}},
        "4": {"class_type": "UNETLoader", "inputs": {"unet_name": ["9", 0]}},
        "5": {"class_type": "PuppetMasterLoader", "inputs": {"unet_name": "pm.safetensors"}},
        "6": "not a node",
    }
    found = misplaced_checkpoints(prompt, full_path)
    assert [item["node"] for item in found] == ["1"]
    assert found[0]["message"].startswith("ImageOnlyCheckpointLoader (node 1): pm.safetensors is a Puppet-Master")
    assert folders == ["checkpoints", "diffusion_models", "diffusion_models"]
    assert misplaced_checkpoints("not a prompt", full_path) == []


def test_the_handler_returns_the_prompt_unchanged_and_tells_the_client_that_queued_it(tmp_path: Path, tiny_unet):
    save_unet(tiny_unet, tmp_path / "pm.safetensors")
    sent = []
    handle = prompt_handler(lambda *event: sent.append(event), lambda folder, name: str(tmp_path / name))
    body = {"prompt": {"7": {"class_type": "UNETLoader", "inputs": {"unet_name": "pm.safetensors"}}}, "client_id": "c"}
    assert handle(body) is body
    assert [(event, data["node"], client) for event, data, client in sent] == [("puppet_master.toast", "7", "c")]
