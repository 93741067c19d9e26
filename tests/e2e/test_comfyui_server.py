"""End to end against a REAL ComfyUI server (the `server` fixture of tests/e2e/conftest.py).

Every example workflow in API format is checked against the server's /object_info and posted with the tiny
weights swapped in; interrupts are sent during sampling and during the VAE decode; the drag editor runs in
the server's own frontend.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid

import aiohttp
import pytest
from PIL import Image

from nodes import NODE_CLASS_MAPPINGS
from support import REPO

WORKFLOWS = REPO / "example_workflows" / "api"
MODEL_NODES = {"PuppetMasterLoader", "PuppetMasterSVDEncoders", "ImageOnlyCheckpointLoader", "LoadImage"}  # file names


def tiny_prompt(name: str, steps: int = 2) -> dict:
    prompt = json.loads((WORKFLOWS / f"{name}.api.json").read_text())
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "PuppetMasterLoader":
            inputs["unet_name"] = "tiny.safetensors"
        if node["class_type"] == "PuppetMasterSVDEncoders":
            inputs["svd_folder"] = "svd_tiny"
        if node["class_type"] == "PuppetMasterSampler":
            inputs["steps"] = steps
        if node["class_type"] == "LoadImage":
            inputs["image"] = "example.png"
    return prompt


def test_pack_loads_into_the_real_server(server):
    info = server.get("/object_info")
    assert set(NODE_CLASS_MAPPINGS) <= set(info)
    assert "tiny.safetensors" in info["PuppetMasterLoader"]["input"]["required"]["unet_name"][0]
    log = server.log_text()
    assert "IMPORT FAILED" not in log or "PuppetMaster" not in log.split("IMPORT FAILED")[1][:300]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.api.json")), ids=lambda path: path.name)
def test_workflows_match_the_servers_object_info(server, path):
    info = server.get("/object_info")
    for node_id, node in json.loads(path.read_text()).items():
        assert node["class_type"] in info, f"{path.name} node {node_id}: {node['class_type']} is unknown to the server"
        spec = info[node["class_type"]]["input"]
        declared = {**spec.get("required", {}), **spec.get("optional", {})}
        for name, value in node["inputs"].items():
            assert name in declared, f"{path.name} node {node_id}: no input {name!r} on {node['class_type']}"
            options = declared[name][0]
            if isinstance(options, list) and not isinstance(value, list) and node["class_type"] not in MODEL_NODES:
                assert value in options, f"{path.name} node {node_id}: {name}={value!r} not in {options}"


@pytest.mark.parametrize("name", ["puppet_master_basic", "puppet_master_mask_paste_back"])
def test_example_workflow_produces_14_frames(server, name):
    result = server.run(tiny_prompt(name))
    assert result["status"]["status_str"] == "success", result["status"]
    saved = [image for output in result["outputs"].values() for image in output.get("images", [])]
    webp = [image for image in saved if image["filename"].endswith(".webp")]
    assert webp, result["outputs"]
    path = server.root / "output" / webp[0]["subfolder"] / webp[0]["filename"]
    with Image.open(path) as video:
        assert video.n_frames == 14


async def _run_and_interrupt(server, prompt: dict, when) -> dict:
    """Queue `prompt`, send /interrupt at the first progress message for which `when(value, max)` holds."""
    client_id = str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.url}/ws?clientId={client_id}", heartbeat=30) as socket:
            response = await session.post(f"{server.url}/prompt", json={"prompt": prompt, "client_id": client_id})
            prompt_id = (await response.json())["prompt_id"]
            async with asyncio.timeout(300):
                async for message in socket:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        continue
                    event = json.loads(message.data)
                    if event["type"] == "progress" and when(event["data"]["value"], event["data"]["max"]):
                        await session.post(f"{server.url}/interrupt")
                        break
    return server.wait(prompt_id, timeout=300)


def assert_interrupted(entry: dict) -> None:
    messages = [message[0] for message in entry["status"]["messages"]]
    assert "execution_interrupted" in messages and entry["status"]["status_str"] == "error", messages
    assert not entry["outputs"], "an interrupted run must not save a video"


def test_interrupt_stops_sampling(server):
    started = time.monotonic()
    entry = asyncio.run(_run_and_interrupt(server, tiny_prompt("puppet_master_basic", steps=200), lambda v, n: v >= 2))
    assert_interrupted(entry)
    assert time.monotonic() - started < 120, "200 steps ran to the end: the interrupt was not honoured per step"


def test_interrupt_during_the_vae_decode(server):
    """Interrupt right after the last denoising step: the decode (one chunk per frame here) must stop too."""
    prompt = tiny_prompt("puppet_master_basic", steps=2)
    for node in prompt.values():
        if "decode_chunk_size" in node["inputs"]:
            node["inputs"]["decode_chunk_size"] = 1
    entry = asyncio.run(_run_and_interrupt(server, prompt, lambda value, total: total == 2 and value == 2))
    assert_interrupted(entry)


def test_drag_editor_in_the_real_frontend(server):
    """tests/js/comfyui.test.mjs against this server: draw two drags on the node, queue, read the prompt back."""
    node = shutil.which("node")
    if node is None or not (REPO / "tests" / "js" / "node_modules" / "playwright-core").is_dir():
        pytest.skip("needs node and playwright-core (npm ci --prefix tests/js)")
    result = subprocess.run(
        [node, "--test", str(REPO / "tests" / "js" / "comfyui.test.mjs")],
        env={**os.environ, "COMFYUI_URL": server.url}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# skipped 0" in result.stdout, result.stdout[-2000:]


@pytest.mark.after_all_real_server_tests
def test_the_server_still_runs_a_good_prompt_at_the_end(server):
    """Whatever the other real-server tests did to it (interrupts, malformed prompts), it still works."""
    assert server.process.poll() is None, "the ComfyUI server died"
    result = server.run(tiny_prompt("puppet_master_basic"))
    assert result["status"]["status_str"] == "success", result["status"]
