"""Peak memory of one generation against the input image's size, with tiny random models (no downloads).

Each measurement runs in a fresh process and reads that process's peak RSS from the OS (wait4), for
  cli:   python -m puppet_master generate (mp4 written one frame at a time), and
  nodes: the ComfyUI node chain Drags -> Prepare Image -> Sampler -> Paste Back, called as ComfyUI calls it
         (its output is the IMAGE batch, frames x H x W x 3 float32, which ComfyUI must hold).
It reports the peak of each input size, the output's own size, and the growth over the smallest input.
Usage: python scripts/bench_memory.py [--sides 512 4000] [--paths cli nodes] [--frames 14] [--steps 2] [--json out.json]
The node chain runs ComfyUI's own modules on the CPU (as `main.py --cpu`): run the script with ComfyUI's Python
and COMFYUI_PATH set (`eval "$(bash ../shared/comfyui/setup.sh requirements.txt)"`, then `$COMFYUI_PYTHON ...`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if os.environ.get("COMFYUI_PATH"):  # the nodes are V3 nodes: they import ComfyUI's comfy_api
    sys.path.append(os.environ["COMFYUI_PATH"])
MIB = 1024 * 1024


def _inputs(folder: Path, side: int) -> dict[str, str]:
    from PIL import Image

    from puppet_master.diagnostics.selfcheck import DEMO_DRAGS, demo_image

    image, mask = demo_image()
    image.resize((side, side), Image.BICUBIC).save(folder / f"image_{side}.png")
    mask.resize((side, side), Image.NEAREST).save(folder / f"mask_{side}.png")
    # the drags are drawn at 96x80: rescaled to the image
    (folder / "drags.json").write_text(json.dumps(DEMO_DRAGS), encoding="utf-8")
    return {"image": str(folder / f"image_{side}.png"), "mask": str(folder / f"mask_{side}.png"),
            "drags": str(folder / "drags.json")}  # fmt: skip


def _models(folder: Path) -> tuple[str, str]:
    import torch

    from puppet_master.diagnostics.selfcheck import tiny_unet_config, write_tiny_svd_folder
    from puppet_master.loading import save_unet
    from puppet_master.model import PuppetMasterUNet

    torch.manual_seed(0)
    (folder / "puppet_master").mkdir()
    unet = save_unet(PuppetMasterUNet(**tiny_unet_config()), folder / "puppet_master" / "tiny.safetensors")
    return str(unet), str(write_tiny_svd_folder(folder / "diffusers" / "svd_tiny"))


def _peak_rss(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run `command`; its peak resident set in bytes (Linux reports KiB)."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    return usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _start_comfyui_on_cpu() -> None:
    """ComfyUI's modules as `main.py --cpu` starts them, the tiny models' folder registered as its model folders."""
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import folder_paths

    models = Path(os.environ["PUPPET_MASTER_MODELS"])
    for name in ("puppet_master", "diffusers"):
        folder_paths.add_model_folder_path(name, str(models / name))


def _run_nodes(image_path: str, mask_path: str, drags_path: str, frames: int, steps: int) -> None:
    """The ComfyUI node chain on one image (run in the measured child process)."""
    import numpy as np
    import torch
    from PIL import Image

    _start_comfyui_on_cpu()
    from nodes.crop_nodes import PuppetMasterPasteBack, PuppetMasterPrepareImage
    from nodes.drag_nodes import PuppetMasterDrags
    from nodes.loaders import PuppetMasterLoader, PuppetMasterSVDEncoders
    from nodes.sampler import PuppetMasterSampler

    with Image.open(image_path) as opened:  # as LoadImage gives them: float32 IMAGE and MASK
        image = torch.from_numpy(np.asarray(opened.convert("RGB"), dtype=np.float32) / 255)[None]
    with Image.open(mask_path) as opened:
        mask = torch.from_numpy(np.asarray(opened.convert("L"), dtype=np.float32) / 255)[None]
    drags = Path(drags_path).read_text(encoding="utf-8")
    with torch.inference_mode():  # as ComfyUI executes a prompt
        (model,) = PuppetMasterLoader.execute("tiny.safetensors", "fp32")
        (encoders,) = PuppetMasterSVDEncoders.execute("svd_tiny")
        drag_set, *_ = PuppetMasterDrags.execute(image, drags, frames)
        cropped, drag_set, crop = PuppetMasterPrepareImage.execute(image, drag_set, 2.2, 256, mask)
        (generated,) = PuppetMasterSampler.execute(
            model, cropped, drag_set, 0, steps, 5.0, 1.0, frames, 14, "official", encoders=encoders
        )
        (result,) = PuppetMasterPasteBack.execute(generated, crop, image, mask)
        assert result.shape == (frames, image.shape[1], image.shape[2], 3)
        assert all(bool(torch.isfinite(frame).all()) for frame in result)  # frame by frame: no full-size mask


def measure(sides: list[int], frames: int, steps: int, paths: tuple[str, ...] = ("cli", "nodes")) -> list[dict]:
    """Peak RSS of the CLI and the node chain for each input side, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        unet, svd = _models(folder)
        for side in sides:
            files = _inputs(folder, side)
            cli = [sys.executable, "-m", "puppet_master", "generate", "--image", files["image"], "--mask",
                   files["mask"], "--drags", files["drags"], "--unet", unet, "--svd", svd, "--out",
                   str(folder / f"out_{side}.mp4"), "--steps", str(steps), "--frames", str(frames),
                   "--device", "cpu"]  # fmt: skip
            node = [sys.executable, __file__, "--child-nodes", files["image"], files["mask"], files["drags"],
                    "--frames", str(frames), "--steps", str(steps)]  # fmt: skip
            env = {**os.environ, "PUPPET_MASTER_MODELS": str(folder)}
            for path, command, output in (
                ("cli", cli, side * side * 3 * 4),
                ("nodes", node, frames * side * side * 3 * 4),
            ):
                if path not in paths:
                    continue
                rows.append({"path": path, "side": side, "peak": _peak_rss(command, env), "output": output})
                print(f"{path} {side}x{side}: peak RSS {rows[-1]['peak'] / MIB:.0f} MiB", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Rows as text: peak, output and growth over the smallest input of the same path."""
    lines = [f"{'path':<6} {'input':>11} {'peak RSS':>10} {'output':>10} {'growth':>10} {'growth - output':>16}"]
    for row in rows:
        base = min((r for r in rows if r["path"] == row["path"]), key=lambda r: r["side"])
        growth = row["peak"] - base["peak"]
        extra = growth - (row["output"] - base["output"])
        lines.append(
            f"{row['path']:<6} {row['side']:>5}x{row['side']:<5} {row['peak'] / MIB:>7.0f} MiB "
            f"{row['output'] / MIB:>6.0f} MiB {growth / MIB:>6.0f} MiB {extra / MIB:>12.0f} MiB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 4000])
    parser.add_argument("--frames", type=int, default=14)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--paths", nargs="+", choices=("cli", "nodes"), default=["cli", "nodes"])
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--child-nodes", nargs=3, metavar=("IMAGE", "MASK", "DRAGS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_nodes:
        _run_nodes(*args.child_nodes, frames=args.frames, steps=args.steps)
        return
    rows = measure(args.sides, args.frames, args.steps, tuple(args.paths))
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
