"""A real ComfyUI process with this pack, for the e2e tests (tests/e2e/conftest.py) and the dev benchmark
scripts/bench_native_graph.py: started on a free loopback port over a base folder (models, input, custom_nodes),
with helpers for its HTTP API. COMFYUI_PATH names the checkout, COMFYUI_PYTHON its interpreter."""

from __future__ import annotations

import asyncio
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from puppet_master.diagnostics.selfcheck import demo_image

REPO = Path(__file__).resolve().parents[2]
COMFYUI = os.environ.get("COMFYUI_PATH")
PROMPT_ENDS = ("execution_success", "execution_error", "execution_interrupted")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A real ComfyUI process on a free loopback port, with helpers for its HTTP API.

    `front_end_root`: a frontend's static folder to serve instead of the one ComfyUI pins (`--front-end-root`,
    as users who update the frontend run it)."""

    def __init__(self, root: Path, front_end_root: Path | None = None) -> None:
        if not COMFYUI:
            raise RuntimeError('COMFYUI_PATH is not set: eval "$(bash ../shared/comfyui/setup.sh requirements.txt)"')
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        self.log = self.log_path.open("w", encoding="utf-8")
        config = root / "extra_model_paths.yaml"
        config.write_text(
            "puppet_master_e2e:\n"
            f"  base_path: {root}\n"
            f"  custom_nodes: {root / 'custom_nodes'}\n"
            "  puppet_master: models/puppet_master\n"
            "  diffusers: models/diffusers\n"
            "  checkpoints: models/checkpoints\n"
            "  loras: models/loras\n"
            "  diffusion_models: models/diffusion_models\n", encoding="utf-8"
        )
        command = [
            os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--disable-api-nodes",
            "--listen", "127.0.0.1", "--port", str(self.port), "--extra-model-paths-config", str(config),
            "--input-directory", str(root / "input"), "--output-directory", str(root / "output"),
            "--user-directory", str(root / "user"),
        ]  # fmt: skip
        if front_end_root is not None:
            command += ["--front-end-root", str(front_end_root)]
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
        raise RuntimeError(f"ComfyUI did not start; log:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace", encoding="utf-8")

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict | None = None):
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else {}

    def queue(self, prompt: dict) -> str:
        """POST a prompt in API format; returns its id (raises urllib's HTTPError when it does not validate)."""
        return self.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        """The history entry of a queued prompt once it has ended (success, error or interrupted)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                return history[prompt_id]
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s")

    async def queue_and_watch(
        self, prompt: dict, on_event: Callable[[dict, aiohttp.ClientSession], Awaitable[bool]], timeout: float = 300
    ) -> str:
        """Queue `prompt` as a websocket client and await `on_event(message, session)` for each JSON message
        until it returns True or the prompt ends (execution_success/error/interrupted); returns the prompt id."""
        client_id = str(uuid.uuid4())
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{self.url}/ws?clientId={client_id}", heartbeat=30) as socket:
                body = {"prompt": prompt, "client_id": client_id}
                async with session.post(f"{self.url}/prompt", json=body) as reply:
                    prompt_id = (await reply.json())["prompt_id"]
                async with asyncio.timeout(timeout):
                    async for message in socket:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            continue
                        event = json.loads(message.data)
                        if await on_event(event, session) or event["type"] in PROMPT_ENDS:
                            break
        return prompt_id

    def queue_and_listen(self, prompt: dict, event_type: str) -> tuple[str, list[dict]]:
        """Queue `prompt` as a websocket client; its id and the data of every `event_type` message sent to that
        client until the prompt ends."""
        events = []

        async def collect(event: dict, session: aiohttp.ClientSession) -> bool:
            if event["type"] == event_type:
                events.append(event["data"])
            return False

        return asyncio.run(self.queue_and_watch(prompt, collect)), events

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        return self.wait(self.queue(prompt), timeout)

    def wait_for_log(self, text: str, after: int = 0, timeout: float = 120) -> int:
        """Wait until `text` appears in the server log past character `after`; returns where it ends."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.log_text().find(text, after)
            if found >= 0:
                return found + len(text)
            time.sleep(0.2)
        raise TimeoutError(f"{text!r} never appeared in the server log")

    def run_browser_test(self, script: str, frontend_version: str | None = None) -> str:
        """`node --test tests/js/SCRIPT` against this server (COMFYUI_URL); fails on any failed test, returns
        the TAP output (skips without node or playwright-core, which CI turns into a failure).
        `frontend_version`: the version the page must report (COMFYUI_FRONTEND_VERSION, comfyui.test.mjs)."""
        node = shutil.which("node")
        if node is None or not (REPO / "tests" / "js" / "node_modules" / "playwright-core").is_dir():
            pytest.skip("needs node and playwright-core (npm ci --prefix tests/js)")
        env = {**os.environ, "COMFYUI_URL": self.url}
        if frontend_version is not None:
            env["COMFYUI_FRONTEND_VERSION"] = frontend_version
        result = subprocess.run(
            [node, "--test", str(REPO / "tests" / "js" / script)], env=env, capture_output=True, text=True,
            timeout=900, encoding="utf-8",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        return result.stdout

    def output_path(self, image: dict) -> Path:
        return self.root / "output" / image["subfolder"] / image["filename"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def fill_base_folder(root: Path, unets: dict[str, Path], svd_folder: Path) -> None:
    """A ComfyUI base folder: this pack in custom_nodes, `unets` (name -> file) in models/puppet_master, the
    SVD folder as models/diffusers/svd_tiny, empty core model folders, and input/example.png (the demo image
    with the object painted transparent, as ComfyUI's mask editor saves it) plus a twice-as-wide copy."""
    (root / "custom_nodes").mkdir()
    (root / "custom_nodes" / "ComfyUI-PuppetMaster").symlink_to(REPO, target_is_directory=True)
    models = root / "models" / "puppet_master"
    models.mkdir(parents=True)
    for name, file in unets.items():
        shutil.copy(file, models / name)
    shutil.copytree(svd_folder, root / "models" / "diffusers" / "svd_tiny")
    for folder in ("checkpoints", "loras", "diffusion_models"):
        (root / "models" / folder).mkdir(parents=True)
    (root / "input").mkdir()
    (root / "user").mkdir()
    image, mask = demo_image()
    painted = image.copy()
    painted.putalpha(mask.point(lambda value: 255 - value))
    painted.save(root / "input" / "example.png")
    image.resize((image.width * 2, image.height)).save(root / "input" / "example_wide.png")
