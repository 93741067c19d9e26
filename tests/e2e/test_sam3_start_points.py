"""The Drags node's start_points, as a real ComfyUI server computes it, read by core's own SAM3 Detect: the
points reach SAM3's network as foreground prompts at the drags' start pixels (tests/e2e/sam3_point_prompts.py runs
core's node in ComfyUI's own Python). Nothing downloads SAM3's weights: the network is where the check stops."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from comfyui_server import COMFYUI

SCRIPT = Path(__file__).with_name("sam3_point_prompts.py")
SAM_SIDE = 1008  # SAM3 Detect scales its image to 1008 x 1008 and the points with it
DOCUMENT = {  # drawn on example.png (96 x 80): a drag, a held point, a drag from the last pixel's corner
    "version": 1, "width": 96, "height": 80,
    "drags": [{"points": [[45.5, 25.2], [40, 15]]}, {"points": [[70.49, 60.5], [70.49, 60.5]]},
              {"points": [[96, 80], [50, 50]]}],
}  # fmt: skip
EXPECTED = [{"x": 46, "y": 25}, {"x": 70, "y": 61}, {"x": 95, "y": 79}]  # half up; the corner is the last pixel


def start_points_on_the_server(server, document: dict) -> str:
    """The Drags node's start_points output for `document` on input/example.png, shown by core's PreviewAny."""
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {
            "class_type": "PuppetMasterDrags",
            "inputs": {"image": ["1", 0], "drags": json.dumps(document), "frames": 14},
        },
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 3]}},
    }
    entry = server.run(prompt, timeout=120)
    assert entry["status"]["status_str"] == "success", entry["status"]
    [text] = entry["outputs"]["3"]["text"]
    return text


def core_sam3_detect(server, *positive_coords: str) -> list[dict]:
    """What core's SAM3 Detect gives its network for each `positive_coords`, on the server's example.png."""
    request = {"image": str(server.root / "input" / "example.png"), "positive_coords": list(positive_coords)}
    result = subprocess.run(
        [os.environ.get("COMFYUI_PYTHON", "python"), str(SCRIPT)], cwd=COMFYUI, input=json.dumps(request),
        capture_output=True, text=True, timeout=300, encoding="utf-8",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_core_sam3_detect_reads_the_start_points_as_foreground_prompts_at_the_drags_starts(server):
    text = start_points_on_the_server(server, DOCUMENT)
    assert json.loads(text) == EXPECTED
    empty = start_points_on_the_server(server, {**DOCUMENT, "drags": []})
    with_points, without = core_sam3_detect(server, text, empty)
    [prompt] = with_points["prompts"]  # one call to the network with the points (then mask refinements)
    width, height = DOCUMENT["width"], DOCUMENT["height"]
    expected = [[point["x"] / width * SAM_SIDE, point["y"] / height * SAM_SIDE] for point in EXPECTED]
    [coords] = prompt["point_coords"]
    assert len(coords) == len(expected) and prompt["point_labels"] == [[1, 1, 1]]  # all foreground
    for got, want in zip(coords, expected, strict=True):
        assert abs(got[0] - want[0]) < 1e-3 and abs(got[1] - want[1]) < 1e-3, (coords, expected)
    for got, drag in zip(coords, DOCUMENT["drags"], strict=True):  # within a pixel of where each drag starts
        x, y = drag["points"][0]
        assert abs(got[0] / SAM_SIDE * width - x) <= 1 and abs(got[1] / SAM_SIDE * height - y) <= 1, (got, x, y)
    assert with_points["mask_shape"] == [1, height, width]  # a MASK of the image's size, for Prepare Image
    assert empty == "[]" and without["prompts"] == [] and without["mask_sum"] == 0  # no drags: no prompt, no mask
