"""Helpers shared by the tests (imported as `support`; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from puppet_master.model import PuppetMasterUNet

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PUPPET_MASTER_SHARED", REPO.parent / "shared"))


EXAMPLE_PROMPTS = REPO / "example_workflows" / "api"


def comfyui_source() -> Path | None:
    """The ComfyUI folder whose `comfy_api` the V3 nodes import outside a running ComfyUI: COMFYUI_PATH (the
    checkout the real-server tests use), else ../shared/comfyui/src; None when neither holds comfy_api."""
    for folder in (os.environ.get("COMFYUI_PATH"), SHARED / "comfyui" / "src"):
        if folder and (Path(folder) / "comfy_api" / "v0_0_2").is_dir():
            return Path(folder)
    return None


def add_comfy_api_to_path() -> None:
    """Make the nodes importable outside ComfyUI. Without a ComfyUI, importing them fails naming the fix
    (nodes/v3.py): the node tests never run against a stand-in of ComfyUI's API."""
    source = comfyui_source()
    if source is not None and str(source) not in sys.path:
        sys.path.append(str(source))


def tiny_prompt(name: str, steps: int = 2, folder: Path = EXAMPLE_PROMPTS) -> dict:
    """An example workflow (API format, from `folder`) on the tiny weights, the demo image and `steps` steps."""
    prompt = json.loads((folder / f"{name}.api.json").read_text(encoding="utf-8"))
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "PuppetMasterLoader":
            inputs["unet_name"] = "tiny.safetensors"
        if node["class_type"] == "PuppetMasterSVDEncoders":
            inputs["svd_folder"] = "svd_tiny"
        if node["class_type"] == "LoadImage":
            inputs["image"] = "example.png"
        if "steps" in inputs:
            inputs["steps"] = steps
    return prompt


def shared_path(relative: str) -> Path:
    """Path of a file under shared/ (the official golden outputs), skipping the test, saying why, if absent.

    Only the tests that compare with the official code's outputs may depend on shared/.
    """
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} not found: set PUPPET_MASTER_SHARED to the folder holding fixtures/ and reference/")
    return path


@contextmanager
def counting_drag_embedding_calls(model: PuppetMasterUNet) -> Iterator[list[int]]:
    """Count forward calls of the model's DragEmbedding CNNs (15 in the real and tiny models) while inside."""
    calls: list[int] = []
    hooks = [
        conv.register_forward_hook(lambda *_: calls.append(1))
        for block in model.drag_blocks().values()
        for conv in block.flow_convs
    ]
    try:
        yield calls
    finally:
        for hook in hooks:
            hook.remove()


def random_drags(batch: int, frames: int, slots: int = 5, used: int = 2, seed: int = 0) -> torch.Tensor:
    """Linear drags in the official convention: `used` slots filled, the rest all-zero."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.rand(batch, 1, used, 2, generator=generator) * 0.8 + 0.1
    end = torch.rand(batch, 1, used, 2, generator=generator) * 0.8 + 0.1
    t = torch.linspace(0, 1, frames).view(1, frames, 1, 1)
    drags = torch.zeros(batch, frames, slots, 4)
    drags[:, :, :used, :2] = start.expand(batch, frames, used, 2)
    drags[:, :, :used, 2:] = start * (1 - t) + end * t
    return drags


OFFICIAL_PREPROCESS_CASES = [
    "landscape_even_box", "landscape_odd_box", "portrait_object_at_top", "square_small_object", "wide_five_drags",
]  # fmt: skip
"""The scenes of fixtures/official_preprocess_io.safetensors (the official demo's crop and drag tensor)."""


def official_preprocess_case(name: str) -> dict:
    """One scene of the demo's preprocessing outputs: `image` (H, W, 3) and `mask` (H, W) uint8, `crop`
    (256, 256, 3) uint8, `drags` (14, 5, 4) float32, `clicks` and `window_left_top_side` (skips when absent)."""
    from safetensors import safe_open

    with safe_open(shared_path("fixtures/official_preprocess_io.safetensors"), "np") as fixture:
        values = {key.split(".", 1)[1]: fixture.get_tensor(key) for key in fixture.keys() if key.startswith(name + ".")}
        values.update(json.loads(fixture.metadata()[name]))
    return values


def clicks_document(clicks: list, width: int, height: int) -> dict:
    """The demo's clicks as a drag document: each [start, end] pair one 2-point drag (start == end: held still)."""
    return {"version": 1, "width": width, "height": height, "drags": [{"points": pair} for pair in clicks]}
