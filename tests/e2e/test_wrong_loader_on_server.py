"""A Puppet-Master checkpoint queued in core's UNETLoader: core stops with "Could not detect model type"; the
pack's on-prompt check tells the client that queued it (a websocket event, shown as a toast) and the log
which node it was and to use Puppet-Master Loader, and it leaves the prompt unchanged."""

from __future__ import annotations

import json
import shutil

from safetensors.torch import save_file
from torch import zeros

from nodes.wrong_loader import EVENT
from support import REPO

BASIC = REPO / "example_workflows" / "api" / "puppet_master_basic.api.json"
README = (REPO / "README.md").read_text(encoding="utf-8")


DRAWN_ON_EXAMPLE = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[48, 47], [48, 31]]}]}
"""The template's drag on example.png's own size: no "stretched unevenly" toast beside the one under test."""


def core_loader_prompt(unet_name: str) -> dict:
    """The basic workflow with core's UNETLoader in place of Puppet-Master Loader (both give a MODEL)."""
    prompt = json.loads(BASIC.read_text(encoding="utf-8"))
    prompt["2"] = {"class_type": "UNETLoader", "inputs": {"unet_name": unet_name, "weight_dtype": "default"}}
    prompt["3"]["inputs"]["svd_folder"] = "svd_tiny"
    prompt["1"]["inputs"]["image"] = "example.png"
    prompt["4"]["inputs"]["drags"] = json.dumps(DRAWN_ON_EXAMPLE)
    prompt["5"]["inputs"]["steps"] = 1
    return prompt


def test_a_puppet_master_file_in_unetloader_gets_a_message_naming_the_fix(server):
    placed = server.root / "models" / "diffusion_models" / "puppet_master_in_core.safetensors"
    shutil.copy(server.root / "models" / "puppet_master" / "tiny.safetensors", placed)
    log_start = len(server.log_text())
    try:
        prompt = core_loader_prompt(placed.name)
        prompt_id, events = server.queue_and_listen(prompt, EVENT)
    finally:
        placed.unlink()
    expected = (
        f"UNETLoader (node 2): {placed.name} is a Puppet-Master checkpoint, which core loaders cannot read (they "
        'stop with "Could not detect model type"). Put it in models/puppet_master and load it with '
        "Puppet-Master Loader."
    )
    assert events == [{"node": "2", "message": expected}]
    server.wait_for_log(expected, after=log_start)
    history = server.wait(prompt_id)
    errors = [message[1] for message in history["status"]["messages"] if message[0] == "execution_error"]
    assert errors and errors[0]["node_type"] == "UNETLoader", history["status"]
    assert "Could not detect model type" in errors[0]["exception_message"]
    assert "Could not detect model type" in README and "Puppet-Master checkpoint, which core loaders" in README


def test_core_loaders_with_their_own_files_hear_nothing_from_the_pack(server):
    stock = server.root / "models" / "diffusion_models" / "not_ours.safetensors"
    save_file({"conv_in.weight": zeros(2, 2)}, str(stock))
    try:
        _, events = server.queue_and_listen(core_loader_prompt(stock.name), EVENT)
    finally:
        stock.unlink()
    assert events == []
