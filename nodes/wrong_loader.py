"""A Puppet-Master checkpoint queued in one of ComfyUI's own loaders gets a message naming the fix.

Core loaders cannot read the Puppet-Master UNet (its diffusers key layout with the drag layers matches none
of core's model detections): they fail with "Could not detect model type", which does not say what to do.
ComfyUI gives packs no hook into that error, so an on-prompt handler looks at every queued prompt: when a
core loader names a file whose safetensors header holds Puppet-Master's drag layers, the server log and the
frontend (a toast: nodes/toasts.py, web/toasts.js) say which node it is and to use Puppet-Master Loader
instead. The prompt itself is passed on unchanged: this only explains core's error, it never rewrites the user's graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from puppet_master.loading import CheckpointError, inspect_checkpoint

from .comfy_env import MODEL_FOLDER, core_model_path, prompt_server
from .toasts import EVENT

CORE_LOADERS = {
    "UNETLoader": ("unet_name", "diffusion_models"),
    "ImageOnlyCheckpointLoader": ("ckpt_name", "checkpoints"),
    "CheckpointLoaderSimple": ("ckpt_name", "checkpoints"),
}
"""Core loader class -> (its file input, its model folder)."""

logger = logging.getLogger(__name__)


def is_puppet_master_file(path: str | Path) -> bool:
    """Whether `path` is a Puppet-Master UNet checkpoint (read from its header only; unreadable files: no)."""
    try:
        return inspect_checkpoint(path).kind == "puppet_master"
    except (CheckpointError, OSError):
        return False


def misplaced_checkpoints(prompt: object, full_path: Callable[[str, str], str | None]) -> list[dict]:
    """One message per node of `prompt` (API format) where a core loader names a Puppet-Master checkpoint.

    `full_path(folder, name)` resolves a model name as ComfyUI does (folder_paths.get_full_path)."""
    if not isinstance(prompt, dict):
        return []
    found = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or node.get("class_type") not in CORE_LOADERS:
            continue
        name_input, folder = CORE_LOADERS[node["class_type"]]
        name = (node.get("inputs") or {}).get(name_input)
        path = full_path(folder, name) if isinstance(name, str) else None
        if path is not None and is_puppet_master_file(path):
            found.append(
                {
                    "node": str(node_id),
                    "message": (
                        f"{node['class_type']} (node {node_id}): {name} is a Puppet-Master checkpoint, which core "
                        f'loaders cannot read (they stop with "Could not detect model type"). Put it in '
                        f"models/{MODEL_FOLDER} and load it with Puppet-Master Loader."
                    ),
                }
            )
    return found


def prompt_handler(
    send: Callable[[str, dict, str | None], None], full_path: Callable[[str, str], str | None]
) -> Callable[[dict], dict]:
    """An on-prompt handler: reports misplaced checkpoints to the log and to the client that queued the
    prompt (`send(event, data, client_id)`), and returns the prompt as it came."""

    def handle(json_data: dict) -> dict:
        for found in misplaced_checkpoints(json_data.get("prompt"), full_path):
            logger.warning("Puppet-Master: %s", found["message"])
            send(EVENT, found, json_data.get("client_id"))
        return json_data

    return handle


def install() -> bool:
    """Add the handler to ComfyUI's running server; False where there is none (tests, scripts)."""
    server = prompt_server()
    if server is None:
        return False
    server.add_on_prompt_handler(prompt_handler(server.send_sync, core_model_path))
    return True
