"""End to end against a REAL ComfyUI server (the `server` fixture of tests/e2e/conftest.py).

Every example workflow is checked against the server's /object_info (node types, link types, widget values; the
UI graph and its API twin) and posted with the tiny weights swapped in where no real checkpoint is needed;
interrupts are sent during sampling and during the VAE decode; the drag editor runs in the server's own frontend
(tests/e2e/test_newest_frontend.py runs it in the newest frontend on PyPI).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from PIL import Image

from nodes import NODES_BY_ID
from support import REPO, tiny_prompt

WORKFLOWS = REPO / "example_workflows" / "api"
UI_WORKFLOWS = sorted((REPO / "example_workflows").glob("*.json"))
MODEL_NODES = {  # their combos list the files in the user's folders
    "PuppetMasterLoader", "PuppetMasterSVDEncoders", "ImageOnlyCheckpointLoader", "CheckpointLoaderSimple", "LoadImage",
}  # fmt: skip
FRONTEND_ONLY = {"MarkdownNote", "Note"}  # kept in the UI graph, never queued
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"  # a V3 combo whose chosen option brings inputs "<combo>.<input>"


NEEDS_REAL_WEIGHTS = {"ImageOnlyCheckpointLoader"}  # builds SVD's fixed 1.5B UNet and 1.3 GB ViT-H from svd.safetensors


def runnable_on_tiny_weights() -> list[str]:
    """Every example workflow except those that need a real svd.safetensors (see NEEDS_REAL_WEIGHTS)."""
    names = []
    for path in sorted(WORKFLOWS.glob("*.api.json")):
        if (
            not {node["class_type"] for node in json.loads(path.read_text(encoding="utf-8")).values()}
            & NEEDS_REAL_WEIGHTS
        ):
            names.append(path.name.removesuffix(".api.json"))
    return names


def test_most_example_workflows_run_on_tiny_weights():
    assert len(runnable_on_tiny_weights()) >= 2, runnable_on_tiny_weights()


def test_pack_loads_into_the_real_server(server):
    info = server.get("/object_info")
    assert set(NODES_BY_ID) <= set(info)
    assert "tiny.safetensors" in info["PuppetMasterLoader"]["input"]["required"]["unet_name"][1]["options"]
    log = server.log_text()
    assert "IMPORT FAILED" not in log or "PuppetMaster" not in log.split("IMPORT FAILED")[1][:300]


def declared_inputs(spec: dict, values: dict) -> dict:
    """Every input a node declares (/object_info "input") for these input values: a dynamic combo adds the
    inputs of the option chosen, named "<combo>.<input>" (ComfyUI's SaveVideo: format, format.codec)."""
    declared = {**spec.get("required", {}), **spec.get("optional", {})}
    pending = list(declared)
    while pending:
        name = pending.pop()
        if declared[name][0] != DYNAMIC_COMBO:
            continue
        chosen = next((o["inputs"] for o in declared[name][1]["options"] if o["key"] == values.get(name)), {})
        for sub, entry in {**chosen.get("required", {}), **chosen.get("optional", {})}.items():
            declared[f"{name}.{sub}"] = entry
            pending.append(f"{name}.{sub}")
    return declared


def accepts(declared_type: object, output_type: str) -> bool:
    """Whether an input of `declared_type` takes an output of `output_type`, as ComfyUI's validation decides
    ("*" takes anything, "A,B" either)."""
    if not isinstance(declared_type, str):
        return False
    return "*" in (declared_type, output_type) or output_type in declared_type.split(",")


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.api.json")), ids=lambda path: path.name)
def test_workflows_match_the_servers_object_info(server, path):
    info = server.get("/object_info")
    prompt = json.loads(path.read_text(encoding="utf-8"))
    for node_id, node in prompt.items():
        assert node["class_type"] in info, f"{path.name} node {node_id}: {node['class_type']} is unknown to the server"
        declared = declared_inputs(info[node["class_type"]]["input"], node["inputs"])
        for name, value in node["inputs"].items():
            assert name in declared, f"{path.name} node {node_id}: no input {name!r} on {node['class_type']}"
            kind, extra = declared[name][0], (declared[name][1] if len(declared[name]) > 1 else {})
            if isinstance(value, list):  # a link: the source's output type must be what this input takes
                source = info[prompt[value[0]]["class_type"]]["output"][value[1]]
                assert accepts(kind, source), f"{path.name} node {node_id}: {name} ({kind}) linked to a {source}"
                continue
            options = kind if isinstance(kind, list) else extra.get("options") if kind == "COMBO" else None  # V1, V3
            if kind == DYNAMIC_COMBO:
                options = [option["key"] for option in extra["options"]]
            if options is not None and node["class_type"] not in MODEL_NODES:
                assert value in options, f"{path.name} node {node_id}: {name}={value!r} not in {options}"


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda path: path.name)
def test_ui_workflows_match_the_servers_object_info(server, path):
    """The template as the frontend opens it: every node type is the server's, every link carries the type its
    source gives and its target takes (the widget values are its API twin's, checked above and, as the frontend
    queues them, in tests/js/comfyui.test.mjs)."""
    info = server.get("/object_info")
    workflow = json.loads(path.read_text(encoding="utf-8"))
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for node in nodes.values():
        assert node["type"] in info or node["type"] in FRONTEND_ONLY, f"{path.name}: {node['type']} is unknown"
    for _, source, slot, target, target_slot, link_type in workflow["links"]:
        given = info[nodes[source]["type"]]["output"][slot]
        name = nodes[target]["inputs"][target_slot]["name"]
        spec = info[nodes[target]["type"]]["input"]
        taken = {**spec.get("required", {}), **spec.get("optional", {})}[name][0]
        assert given == link_type and accepts(taken, given), f"{path.name}: link {source}.{slot} -> {target}.{name}"


@pytest.mark.parametrize("name", runnable_on_tiny_weights())
def test_example_workflow_produces_14_frames(server, name):
    result = server.run(tiny_prompt(name))
    assert result["status"]["status_str"] == "success", result["status"]
    saved = [image for output in result["outputs"].values() for image in output.get("images", [])]
    webp = [image for image in saved if image["filename"].endswith(".webp")]
    assert webp, result["outputs"]
    path = server.root / "output" / webp[0]["subfolder"] / webp[0]["filename"]
    with Image.open(path) as video:
        assert video.n_frames == 14


def _run_and_interrupt(server, prompt: dict, when) -> dict:
    """Queue `prompt`, send /interrupt at the first progress message for which `when(value, max)` holds."""

    async def interrupt(event: dict, session) -> bool:
        if event["type"] == "progress" and when(event["data"]["value"], event["data"]["max"]):
            await session.post(f"{server.url}/interrupt")
            return True
        return False

    return server.wait(asyncio.run(server.queue_and_watch(prompt, interrupt)), timeout=300)


def interrupted_in(entry: dict) -> str:
    """The node (id) a run was interrupted in; fails when the run was not interrupted or saved anything."""
    messages = {message[0]: message[1] for message in entry["status"]["messages"]}
    assert "execution_interrupted" in messages and entry["status"]["status_str"] == "error", list(messages)
    images = [item for output in entry["outputs"].values() for item in output.get("images", [])]
    saved = [item for item in images if item["type"] == "output"]
    assert not saved, f"an interrupted run must not save a video: {saved}"
    return messages["execution_interrupted"]["node_id"]


def node_with_input(prompt: dict, name: str) -> str:
    return next(node_id for node_id, node in prompt.items() if name in node["inputs"])


def test_interrupt_stops_sampling(server):
    prompt = tiny_prompt("puppet_master_basic", steps=200)
    entry = _run_and_interrupt(server, prompt, lambda value, total: value >= 2)
    assert interrupted_in(entry) == node_with_input(prompt, "steps")


def test_interrupt_during_the_vae_decode(server):
    """Interrupt right after the last denoising step: the decode (one chunk per frame) stops inside the node
    that decodes, instead of finishing and leaving the interrupt to the next node."""
    prompt = tiny_prompt("puppet_master_basic", steps=2)
    decoder = node_with_input(prompt, "decode_chunk_size")
    prompt[decoder]["inputs"]["decode_chunk_size"] = 1
    entry = _run_and_interrupt(server, prompt, lambda value, total: total == 2 and value == 2)
    assert interrupted_in(entry) == decoder


def test_drag_editor_in_the_real_frontend(server):
    """tests/js/comfyui.test.mjs against this server, in the frontend it pins: draw drags on the node, queue,
    read the prompt back."""
    pinned = server.get("/system_stats")["system"]["required_frontend_version"]
    output = server.run_browser_test("comfyui.test.mjs", frontend_version=pinned)
    assert "# skipped 0" in output, output[-2000:]


@pytest.mark.after_all_real_server_tests
def test_the_server_still_runs_a_good_prompt_at_the_end(server):
    """Whatever the other real-server tests did to it (interrupts, malformed prompts), it still works."""
    assert server.process.poll() is None, "the ComfyUI server died"
    result = server.run(tiny_prompt("puppet_master_basic"))
    assert result["status"]["status_str"] == "success", result["status"]
