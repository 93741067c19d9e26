"""Rewrite the pictures users see: the templates' thumbnails (example_workflows/*.jpg) and the README's first picture
(docs/comfyui_running.png), as screenshots of a real ComfyUI with this pack, in a real browser. A dev tool, rerun
when a node's inputs or outputs, a template's layout or the frontend change:

    bash scripts/demo.sh          # the tiny weights in outputs/
    eval "$(bash ../shared/comfyui/setup.sh requirements.txt)" && export COMFYUI_PATH COMFYUI_PYTHON
    .venv/bin/python scripts/capture_docs.py [thumbnails|readme ...]

The server gets the tiny weights under the names the templates use (model.safetensors,
stable-video-diffusion-img2vid), empty files for the core checkpoints they name (never loaded: only listed, so the
frontend does not outline them as missing) and a lamp as input/example.png, painted transparent as ComfyUI's mask
editor saves a mask. Needs node, playwright-core (npm ci --prefix tests/js) and Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.comfyui_server import Server, fill_base_folder  # noqa: E402

CAPTURES = {"thumbnails": "capture_thumbnails.mjs", "readme": "capture_readme_screenshot.mjs"}


def lamp(size: int = 512) -> Image.Image:
    """A table lamp on white, the templates' drag (256, 300) -> (256, 200) starting on its shade; the lamp is
    transparent (the mask), the background opaque."""
    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    draw.polygon([(206, 250), (306, 250), (336, 330), (176, 330)], fill=(245, 170, 40))
    draw.rectangle((250, 330, 262, 430), fill=(120, 130, 140))
    draw.ellipse((196, 420, 316, 452), fill=(60, 70, 80))
    alpha = Image.new("L", picture.size, 255)
    alpha.paste(0, mask=Image.eval(picture.convert("L"), lambda value: 255 if value < 250 else 0))
    picture.putalpha(alpha)
    return picture


def core_checkpoint_names() -> set[str]:
    """The files the templates' core checkpoint loaders name."""
    names = set()
    for path in (REPO / "example_workflows").glob("*.json"):
        for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
            if node["type"].startswith(("CheckpointLoader", "ImageOnlyCheckpointLoader")):
                names.add(node["widgets_values"][0])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="*", choices=sorted(CAPTURES), help="what to capture (default: both)")
    args = parser.parse_args()
    tiny = REPO / "outputs"
    if not (tiny / "tiny_puppet_master.safetensors").is_file():
        sys.exit("no tiny weights in outputs/: run bash scripts/demo.sh first")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fill_base_folder(root, {"model.safetensors": tiny / "tiny_puppet_master.safetensors"}, tiny / "svd_tiny")
        diffusers = root / "models" / "diffusers"
        (diffusers / "svd_tiny").rename(diffusers / "stable-video-diffusion-img2vid")
        for name in core_checkpoint_names():
            (root / "models" / "checkpoints" / name).touch()
        lamp().save(root / "input" / "example.png")
        server = Server(root)
        try:
            env = {
                **os.environ, "COMFYUI_URL": server.url,
                "PM_UNET": "model.safetensors", "PM_SVD": "stable-video-diffusion-img2vid",
            }  # fmt: skip
            for what in args.what or sorted(CAPTURES, reverse=True):
                subprocess.run(["node", str(REPO / "tests" / "js" / CAPTURES[what])], env=env, check=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
