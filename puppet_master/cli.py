"""`python -m puppet_master info|generate|bench|selfcheck`: command-line entry points.

Help and argument errors answer at once: torch and the models are imported only once a command runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .hub import SVD_PATTERNS, SVD_REPO

DTYPES = ("auto", "fp32", "fp16", "bf16")
SVD_PARTS = ("unet", "vae", "image_encoder")
SVD_HELP = (
    "SVD img2vid diffusers folder (vae/, image_encoder/, feature_extractor/). The default is the Hugging Face "
    f"repository {SVD_REPO}: unless it is in the hub cache already, its {', '.join(SVD_PATTERNS)} (several GB) "
    "are downloaded into the hub cache ($HF_HOME/hub, by default ~/.cache/huggingface/hub); --offline forbids that"
)


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, except for required options and on/off flags (nothing to show)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def torch_dtype(name: str):
    """The torch dtype of 'fp32', 'fp16' or 'bf16'; None for 'auto'."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(name)


def user_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's to fix: one line on stderr and exit code 2, never a traceback."""
    from .drags import DragDocumentError
    from .encoders import EncoderLoadError
    from .loading import CheckpointError

    return (CheckpointError, DragDocumentError, EncoderLoadError, FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m puppet_master", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, formatter_class=DefaultsShown)

    info = command("info", "say what a weight file or diffusers folder is")
    info.add_argument("path", help=".safetensors file, diffusers model folder or SVD img2vid folder")

    generate = command("generate", "image + drags -> video")
    generate.add_argument("--image", required=True, help="first frame (RGBA alpha = object mask)")
    generate.add_argument("--mask", help="object mask image (white = object); enables the object-centric crop")
    generate.add_argument("--drags", required=True, help="drag document JSON (or KJNodes/ATI tracks) in image pixels")
    generate.add_argument("--unet", required=True, help="Puppet-Master model.safetensors (or a diffusers folder)")
    generate.add_argument("--svd", default=SVD_REPO, help=SVD_HELP)
    generate.add_argument("--offline", action="store_true", help="never download: --svd must be a local folder")
    generate.add_argument("--out", required=True, help="output .mp4, .webp or .gif")
    generate.add_argument("--steps", type=int, default=50, help="denoising steps")
    generate.add_argument("--cfg", type=float, default=5.0, help="guidance of the last frame (max)")
    generate.add_argument("--min-cfg", type=float, default=1.0, help="guidance of the first frame (min)")
    generate.add_argument("--seed", type=int, default=0, help="noise seed")
    generate.add_argument("--frames", type=int, default=14, help="video length (the model was trained on 14)")
    generate.add_argument("--size", type=int, default=256, help="generated frame side in pixels (multiple of 8)")
    generate.add_argument("--scale", type=float, default=2.2, help="crop side relative to the object's box")
    generate.add_argument("--fps", type=float, default=7.0, help="frames per second of the written video")
    generate.add_argument("--decode-chunk-size", type=int, default=14, help="frames per VAE decode (memory)")
    generate.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:1, mps or cpu")
    generate.add_argument("--dtype", choices=DTYPES, default="auto", help="UNet weights (auto: fp16 on GPU)")
    generate.add_argument("--drags-only-negative", action="store_true", help="uncond keeps image and CLIP")
    generate.add_argument("--crop-only", action="store_true", help="write the model's square crop, no paste-back")
    generate.add_argument("--draw-drags", action="store_true", help="draw the drag tracks on the output")

    bench = command("bench", "speed, memory and FLOPs: ours vs the official per-step drag work")
    bench.add_argument("--size", choices=("tiny", "full"), default="tiny", help="full = 1.68B params, random weights")
    bench.add_argument("--frames", type=int, default=14, help="video length")
    bench.add_argument("--latent", type=int, default=32, help="latent side (32 = 256 px)")
    bench.add_argument("--steps", type=int, default=4, help="denoising steps of the timed generation")
    bench.add_argument("--repeats", type=int, default=3, help="timed UNet steps (median)")
    bench.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:1, mps or cpu")
    bench.add_argument("--dtype", choices=DTYPES[1:], default="fp32", help="UNet weights and activations")
    bench.add_argument("--json", default="outputs/bench.json", help="where the JSON report goes")

    selfcheck = command("selfcheck", "offline end-to-end check with tiny random models")
    selfcheck.add_argument("--out", default="outputs/selfcheck.mp4", help="where the generated video goes")
    selfcheck.add_argument("--frames", type=int, default=14, help="video length")
    selfcheck.add_argument("--steps", type=int, default=3, help="denoising steps")
    return parser


def _svd_source(svd: str, offline: bool) -> str:
    """`svd` itself; when it is not a local folder, say what will be downloaded and where, or refuse offline."""
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"  # no other library (diffusers, transformers) may reach the hub either
    if Path(svd).expanduser().is_dir():
        return svd
    if offline:
        raise ValueError(
            f"--svd {svd} is not a local folder and --offline forbids downloading it: pass --svd with a local "
            "stable-video-diffusion-img2vid folder (vae/, image_encoder/, feature_extractor/)"
        )
    from .hub import hub_cache

    print(f"SVD encoders: {', '.join(SVD_PATTERNS)} of {svd} from the Hugging Face hub, into {hub_cache()} (kept for "
          "later runs; --offline forbids downloading)", file=sys.stderr)  # fmt: skip
    return svd


def _generate(args: argparse.Namespace) -> None:
    svd = _svd_source(args.svd, args.offline)
    import torch
    from PIL import Image
    from tqdm import tqdm

    from .pipeline import PuppetMasterPipeline, default_device
    from .video import draw_drags, save_video

    image = Image.open(args.image)
    image.load()
    mask = Image.open(args.mask).convert("L") if args.mask else None
    drags = Path(args.drags).read_text()
    device = default_device() if args.device == "auto" else torch.device(args.device)
    pipeline = PuppetMasterPipeline.from_files(args.unet, svd, device=device, unet_dtype=torch_dtype(args.dtype))
    with tqdm(total=args.steps, desc="denoising", unit="step") as bar:
        result = pipeline(
            image,
            drags,
            mask,
            frames=args.frames,
            steps=args.steps,
            min_guidance=args.min_cfg,
            max_guidance=args.cfg,
            seed=args.seed,
            crop_scale=args.scale,
            size=args.size,
            negative="drags_only" if args.drags_only_negative else "official",
            decode_chunk_size=args.decode_chunk_size,
            callback=lambda step, total, latents: bar.update(1),
        )
    frames, tracks = result.frames, result.tracks
    if not args.crop_only:
        frames, tracks = result.on_original(image, mask), result.crop.to_original(tracks)
    if args.draw_drags:
        frames = draw_drags(frames, tracks)
    written = save_video(frames, args.out, fps=args.fps)
    print(f"wrote {written} ({len(frames)} frames, {frames.shape[2]}x{frames.shape[1]})")


def _bench(args: argparse.Namespace) -> None:
    import torch

    from .bench import run_bench, write_report
    from .pipeline import default_device

    report = run_bench(
        size=args.size,
        frames=args.frames,
        latent=args.latent,
        steps=args.steps,
        repeats=args.repeats,
        device=default_device() if args.device == "auto" else torch.device(args.device),
        dtype=torch_dtype(args.dtype),
    )
    setup = report.setup
    print(
        f"{setup['size']} UNet ({setup['parameters']:,} parameters), {setup['frames']} frames, latent "
        f"{setup['latent']}x{setup['latent']}, CFG batch 2, {setup['device']} {setup['dtype']}, "
        f"{setup['threads']} threads, torch {setup['torch']}"
    )
    print(report.table())
    print(f"wrote {write_report(report, args.json)}")


def _info(path: str) -> str:
    """What a weight file or model folder is; an SVD img2vid folder is described part by part."""
    from .encoders import missing_svd_files
    from .loading import inspect_checkpoint

    root = Path(path)
    parts = [root / part for part in SVD_PARTS if (root / part / "config.json").is_file()]
    if not root.is_dir() or (root / "config.json").is_file() or parts in ([], [root / "unet"]):
        return inspect_checkpoint(root).describe()
    lines = [f"{part.name}/\n{inspect_checkpoint(part).describe()}" for part in parts]
    missing = missing_svd_files(root)
    usable = "complete" if not missing else f"lacks {', '.join(missing)}"
    lines.append(f"SVD img2vid encoders (--svd, ComfyUI models/diffusers): {usable}")
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code (2 for bad input, with the reason on stderr)."""
    args = build_parser().parse_args(argv)  # --help and usage errors exit here, before torch is imported
    try:
        if args.command == "info":
            print(_info(args.path))
        elif args.command == "generate":
            _generate(args)
        elif args.command == "bench":
            _bench(args)
        else:
            from .selfcheck import run_selfcheck

            return 0 if run_selfcheck(out=args.out, frames=args.frames, steps=args.steps) else 1
    except user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
