"""Peak memory while loading a UNet checkpoint (`python -m puppet_master.diagnostics.bench_loading FILE` in a
fresh interpreter, or `python -m puppet_master bench --loading FILE` before its timed runs), and a placeholder
checkpoint with the released key set for measuring without the real weights.

The placeholder is a sparse safetensors file with the released fp32 `model.safetensors`'s keys, shapes and
dtype (the full-size model's state dict, keys sorted) followed by a hole that reads as zeros, so it takes
no disk space and loads through exactly the same code path as the real 6.7 GB file.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def write_placeholder_checkpoint(path: str | Path) -> Path:
    """Write a sparse fp32 safetensors file with the released checkpoint's keys and shapes (all zeros)."""
    from ..model import PuppetMasterUNet

    with torch.device("meta"):
        shapes = {name: list(tensor.shape) for name, tensor in PuppetMasterUNet().state_dict().items()}
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(shapes):
        size = 4 * int(torch.Size(shapes[name]).numel())
        header[name] = {"dtype": "F32", "shape": shapes[name], "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        handle.truncate(8 + len(encoded) + offset)
    return path


def measure_loading(path: str | Path, dtype_name: str = "fp16") -> dict:
    """Load `path` in this process and return its peak memory: resident set size before loading (Python,
    torch, diffusers), at the peak, and both against the weights. Call it before anything else has
    allocated (`python -m puppet_master.diagnostics.bench_loading FILE` is a fresh interpreter; `bench --loading`
    measures before its other runs); the loaded model is freed on return."""
    from ..loading import load_unet
    from .peak_memory import PeakMemory

    path = Path(path)
    dtype = DTYPES[dtype_name]
    with PeakMemory(torch.device("cpu")) as memory:
        model = load_unet(path, dtype=dtype)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return {
        "file": str(path),
        "dtype": dtype_name,
        "weights_bytes": weights,
        "resident_before_bytes": memory.start,
        "peak_resident_bytes": memory.peak,
        "peak_increase_bytes": memory.increase,
        "peak_increase_over_weights": memory.increase / weights,
        "peak_over_weights": memory.peak / weights,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m puppet_master.diagnostics.bench_loading", description=__doc__)
    parser.add_argument("path", help="checkpoint to load; written as a sparse placeholder first if it does not exist")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    args = parser.parse_args(argv)
    path = Path(args.path)
    if not path.exists():
        write_placeholder_checkpoint(path)
    print(json.dumps(measure_loading(path, args.dtype)))


if __name__ == "__main__":
    main()
