"""`python -m training.evaluation`: the paper's metrics on Drag-a-Move clips."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from puppet_master.cli import add_sampler_options, sampler_settings
from puppet_master.encoders import load_svd_encoders
from puppet_master.loading import load_unet
from puppet_master.pipeline import default_device

from .clips import load_clips
from .fvd import I3DFeatures
from .lpips import LPIPS
from .runner import evaluate
from .tracking import CoTrackerTracker, LucasKanadeTracker


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m training.evaluation`."""
    parser = argparse.ArgumentParser(prog="python -m training.evaluation", description=__doc__)
    parser.add_argument("--data", required=True, help="folder of Drag-a-Move clips (NNNNN.safetensors + .json)")
    parser.add_argument("--unet", required=True, help="Puppet-Master UNet weights")
    parser.add_argument("--svd", required=True, help="SVD img2vid diffusers folder (its VAE decodes both videos)")
    parser.add_argument("--out", required=True, help="output folder: results.csv, results.md, clips/*.mp4")
    add_sampler_options(parser)
    parser.add_argument("--limit", type=int, help="only the first N clips")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--alexnet", help="AlexNet weights (torchvision layout) for LPIPS")
    parser.add_argument("--lpips", help="LPIPS v0.1 AlexNet linear layers (alex.pth) for LPIPS")
    parser.add_argument("--i3d", help="I3D TorchScript file for FVD")
    parser.add_argument("--tracker", choices=("lk", "cotracker"), default="lk")
    parser.add_argument("--cotracker-checkpoint", help="CoTracker checkpoint (with --tracker cotracker)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    args = build_parser().parse_args(argv)
    if bool(args.alexnet) != bool(args.lpips):
        print("error: LPIPS needs both --alexnet and --lpips weight files", file=sys.stderr)
        return 2
    device = default_device() if args.device == "auto" else torch.device(args.device)
    try:
        settings = sampler_settings(args)
        clips = load_clips(args.data, args.limit)
        unet = load_unet(args.unet, device=device)
        vae = load_svd_encoders(args.svd, device=device).vae
        lpips = LPIPS.from_files(args.alexnet, args.lpips).to(device) if args.alexnet else None
        i3d = I3DFeatures(args.i3d, device) if args.i3d else None
        if args.tracker == "cotracker":
            tracker = CoTrackerTracker(args.cotracker_checkpoint or "", device)
        else:
            tracker = LucasKanadeTracker()
    except (OSError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(
        clips,
        unet,
        vae,
        args.out,
        tracker,
        settings,
        lpips=lpips,
        i3d=i3d,
    )
    print(Path(args.out, "results.md").read_text(encoding="utf-8"))
    print(f"{len(report.clips)} clips scored; per-clip videos in {args.out}/clips")
    return 0


sys.exit(main())
