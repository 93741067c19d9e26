"""`python -m puppet_master ...`: command-line entry points."""

from __future__ import annotations

import argparse
import sys

from .loading import CheckpointError, inspect_checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m puppet_master", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="say what a weight file or diffusers folder is")
    info.add_argument("path", help=".safetensors file or diffusers model folder")
    selfcheck = commands.add_parser("selfcheck", help="offline check with a tiny random UNet")
    selfcheck.add_argument("--frames", type=int, default=14)
    selfcheck.add_argument("--steps", type=int, default=3)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "info":
        try:
            print(inspect_checkpoint(args.path).describe())
        except CheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    from .selfcheck import run_selfcheck

    return 0 if run_selfcheck(frames=args.frames, steps=args.steps) else 1
