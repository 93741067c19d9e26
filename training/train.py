"""`python -m training.train` (or `accelerate launch -m training.train`): fine-tune Puppet-Master.

Settings come from a JSON file (`--config`, the fields of `training.trainer.TrainConfig`) and/or flags;
flags win. Re-running with the same --output resumes from its latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path

from .dataset import DEFAULT_MIXTURE
from .loss import INPUT_SCALINGS
from .trainer import TrainConfig, Trainer


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from --config JSON and flags (flags win); exits with a usage error naming what is wrong."""
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--config", help="JSON file with TrainConfig fields")
    parser.add_argument("--data", nargs="+", help="dataset roots (clips as .safetensors below them)")
    parser.add_argument("--output", help="run folder: checkpoints, samples, exported EMA weights")
    parser.add_argument("--init", help="stock SVD img2vid UNet (folder or file) or Puppet-Master weights")
    parser.add_argument("--svd", help="SVD img2vid folder for sample videos (its VAE)")
    for name in ("steps", "effective_batch", "batch_size", "checkpoint_every", "sample_every", "sample_steps", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name)
    for name in ("learning_rate", "ema_decay", "drag_dropout", "duplicate_distance"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, dest=name)
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), dest="mixed_precision")
    parser.add_argument("--input-scaling", choices=INPUT_SCALINGS, dest="input_scaling")
    parser.add_argument(
        "--mixture",
        choices=("paper", "uniform"),
        help="paper: the category mixture (default); uniform: every clip once per shuffled epoch (official code)",
    )
    args = parser.parse_args(argv)
    values = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(values) - known
    if unknown:
        parser.error(f"unknown settings in {args.config}: {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in vars(args).items() if k in known and v is not None and k != "mixture"})
    if args.mixture is not None:
        values["mixture"] = dict(DEFAULT_MIXTURE) if args.mixture == "paper" else None
    missing = [name for name in ("data", "output", "init") if name not in values]
    if missing:
        parser.error(f"missing settings: {', '.join(missing)} (flags or --config)")
    try:
        return TrainConfig(**values)
    except ValueError as error:
        parser.error(str(error))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    path = Trainer(parse_config(argv)).fit()
    print(f"exported EMA weights to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
