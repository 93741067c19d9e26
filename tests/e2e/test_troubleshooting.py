"""The README's troubleshooting table quotes what a real ComfyUI server says: each mistake is made here, and
the server's own words must appear in the README as written."""

from __future__ import annotations

import json
import urllib.error

import pytest
from safetensors.torch import save_file
from torch import zeros

from support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SIX_DRAGS = json.dumps({"version": 1, "width": 96, "height": 80, "drags": [{"points": [[9, 9], [9, 20]]}] * 6})
BASIC = REPO / "example_workflows" / "api" / "puppet_master_basic.api.json"


def basic_prompt(**changes: object) -> dict:
    """The basic workflow on the tiny weights, with {"node_id/input": value} changes (None removes an input)."""
    prompt = json.loads(BASIC.read_text(encoding="utf-8"))
    prompt["2"]["inputs"]["unet_name"] = "tiny.safetensors"
    prompt["3"]["inputs"]["svd_folder"] = "svd_tiny"
    prompt["1"]["inputs"]["image"] = "example.png"
    prompt["5"]["inputs"]["steps"] = 1
    for key, value in changes.items():
        node, name = key.split("/")
        if value is None:
            prompt[node]["inputs"].pop(name)
        else:
            prompt[node]["inputs"][name] = value
    return prompt


def node_error(server, prompt: dict) -> str:
    """The exception message of the node that failed, as ComfyUI shows it."""
    result = server.run(prompt, timeout=300)
    errors = [message[1] for message in result["status"]["messages"] if message[0] == "execution_error"]
    assert errors, result["status"]
    return errors[0]["exception_message"].strip()


def refusal(server, prompt: dict, node: str) -> str:
    """What ComfyUI says when it refuses a prompt before running it: the first error of `node`."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.queue(prompt)
    body = json.loads(refused.value.read())
    assert body["error"]["message"] == "Prompt outputs failed validation"
    error = body["node_errors"][node]["errors"][0]
    return f"{error['message']}: {error['details']}"


def test_a_missing_unet_is_refused_before_any_node_runs(server):
    said = refusal(server, basic_prompt(**{"2/unet_name": "model.safetensors"}), "2")
    assert said.startswith("Value not in list: unet_name: 'model.safetensors' not in [")
    assert "Value not in list: unet_name: 'model.safetensors' not in [...]" in README
    assert '"Prompt outputs failed validation"' in README


def test_six_drags_are_refused_on_run_naming_the_fix(server):
    said = refusal(server, basic_prompt(**{"4/drags": SIX_DRAGS}), "4")
    details = "drags - 6 drags given but the model takes at most 5: remove 1"  # the one input at fault, named once
    assert said == f"Custom validation failed for node: {details}"
    assert f'"Custom validation failed for node", "{details}"' in README


def test_a_ckpt_is_never_listed(server):
    ckpt = server.root / "models" / "puppet_master" / "model.ckpt"
    ckpt.write_bytes(b"not a safetensors file")
    try:
        loader = server.get("/object_info/PuppetMasterLoader")["PuppetMasterLoader"]
        listed = loader["input"]["required"]["unet_name"][1]["options"]
        assert "model.ckpt" not in listed and "tiny.safetensors" in listed
    finally:
        ckpt.unlink()
    assert "a `.ckpt` or `.bin` there is never listed" in README


@pytest.mark.parametrize(
    ("changes", "quoted"),
    [
        (
            {"2/unet_name": "zz_svd.safetensors"},
            "is a single-file Stable Video Diffusion checkpoint (e.g. svd.safetensors). It provides the VAE and "
            "CLIP image encoder (ComfyUI: ImageOnlyCheckpointLoader), not the Puppet-Master UNet.",
        ),
        (
            {"5/encoders": None},
            "'encoders' is not connected: connect 'encoders' (Puppet-Master SVD Encoders), or both 'clip_vision' "
            "and 'vae' from ImageOnlyCheckpointLoader (svd.safetensors)",
        ),
    ],
    ids=["svd-single-file", "encoders-not-connected"],
)
def test_node_errors_are_quoted_as_the_server_says_them(server, changes, quoted):
    # A single-file SVD checkpoint picked as the UNet (named to sort after the tiny weights other tests pick).
    fake = server.root / "models" / "puppet_master" / "zz_svd.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": zeros(2, 2)}, str(fake))
    try:
        said = node_error(server, basic_prompt(**changes))
    finally:
        fake.unlink()
    assert quoted in said, said
    assert quoted in README, f"README does not quote: {quoted}"
