"""End to end against a REAL ComfyUI server (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

The server is started with this pack and tiny random weights in a temporary models folder (see
../shared/COMFYUI_E2E.md); every example workflow in API format is posted with the tiny weights swapped in,
and an interrupt is sent during sampling. COMFYUI_PYTHON picks the interpreter that has ComfyUI's
requirements (default: this one).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO
from nodes import NODE_CLASS_MAPPINGS
from puppet_master.selfcheck import demo_image

COMFYUI = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(
    not COMFYUI, reason="set COMFYUI_PATH to a ComfyUI checkout to run the real-server tests"
)
WORKFLOWS = REPO / "example_workflows" / "api"
MODEL_NODES = {"PuppetMasterLoader", "PuppetMasterSVDEncoders", "ImageOnlyCheckpointLoader", "LoadImage"}  # file names


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (root / "server.log").open("w")
        config = root / "extra_model_paths.yaml"
        config.write_text(
            "puppet_master_e2e:\n"
            f"  base_path: {root}\n"
            f"  custom_nodes: {root / 'custom_nodes'}\n"
            "  puppet_master: models/puppet_master\n"
            "  diffusers: models/diffusers\n"
        )
        command = [
            os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--disable-api-nodes",
            "--listen", "127.0.0.1", "--port", str(self.port), "--extra-model-paths-config", str(config),
            "--input-directory", str(root / "input"), "--output-directory", str(root / "output"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=COMFYUI, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    break
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"ComfyUI did not start; log:\n{(root / 'server.log').read_text()[-4000:]}")

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict | None = None):
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else {}

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        prompt_id = self.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})["prompt_id"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                return history[prompt_id]
            if prompt_id in history and history[prompt_id].get("status", {}).get("status_str") in ("error", "success"):
                return history[prompt_id]
            time.sleep(1)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_unet_file, tiny_svd_folder):
    root = tmp_path_factory.mktemp("comfyui")
    (root / "custom_nodes").mkdir()
    (root / "custom_nodes" / "ComfyUI-PuppetMaster").symlink_to(REPO, target_is_directory=True)
    (root / "models" / "puppet_master").mkdir(parents=True)
    shutil.copy(tiny_unet_file, root / "models" / "puppet_master" / "tiny.safetensors")
    shutil.copytree(tiny_svd_folder, root / "models" / "diffusers" / "svd_tiny")
    (root / "input").mkdir()
    image, mask = demo_image()
    painted = image.copy()
    painted.putalpha(mask.point(lambda value: 255 - value))  # as ComfyUI's mask editor saves a painted object
    painted.save(root / "input" / "example.png")
    image.resize((image.width * 2, image.height)).save(root / "input" / "example_wide.png")
    running = Server(root)
    yield running
    running.stop()


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
    assert info["PuppetMasterLoader"]["input"]["required"]["unet_name"][0] == ["tiny.safetensors"]
    log = (server.root / "server.log").read_text()
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


def test_interrupt_stops_sampling(server):
    prompt_id = server.post("/prompt", {"prompt": tiny_prompt("puppet_master_basic", steps=200), "client_id": "e2e"})[
        "prompt_id"
    ]
    deadline = time.time() + 120
    while time.time() < deadline and not server.get("/queue")["queue_running"]:
        time.sleep(0.5)
    time.sleep(3)
    server.post("/interrupt")
    deadline = time.time() + 120
    while time.time() < deadline:
        history = server.get(f"/history/{prompt_id}")
        if prompt_id in history:
            messages = [message[0] for message in history[prompt_id]["status"]["messages"]]
            assert "execution_interrupted" in messages, messages
            return
        time.sleep(1)
    raise AssertionError("the interrupted prompt never reached the history")


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
