"""What a generation costs in memory, said before it runs, and what the device has available.

The estimate is the weights (the UNet and SVD encoder files given, in the precision they are loaded in)
plus the working memory: the UNet's activations for the CFG batch (linear in frames), its temporal
attention scores (quadratic in frames), the chunked VAE decode and the decoded frames. The constants
were fitted to the peak RSS of CPU runs of the tiny and full-size configurations and round up, so the
number errs on the high side.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

FULL_SIZE = {"block_out_channels": (320, 640, 1280, 1280), "num_attention_heads": (5, 10, 20, 20)}
"""The released model's settings that the estimate reads (used when a file carries no config)."""
FLOAT_BYTES = 4
ACTIVATIONS_PER_CHANNEL = 24
"""Live activation tensors of the first UNet level, per channel, at the peak (fitted, rounded up)."""
VAE_DECODER_CHANNELS = 128
"""Channels of SVD's VAE decoder at full resolution (its widest activations)."""
ENCODER_BYTES = 2_400_000_000
"""The released SVD VAE and CLIP image encoder in float32 (half that in float16), rounded up: the estimate
for encoders that are not on disk yet."""
CFG_BATCH = 2


def generation_bytes(frames: int, size: int, config: Mapping | None, decode_chunk_size: int) -> int:
    """Estimated peak working memory in bytes of one generation of `frames` frames at `size` px."""
    config = {**FULL_SIZE, **(config or {})}
    channels = int(config["block_out_channels"][0])
    heads = config["num_attention_heads"]
    heads = int(heads[0] if isinstance(heads, list | tuple) else heads)
    area = (size // 8) ** 2
    activations = CFG_BATCH * frames * area * channels * FLOAT_BYTES * ACTIVATIONS_PER_CHANNEL
    temporal_scores = CFG_BATCH * area * heads * frames * frames * FLOAT_BYTES * 2
    spatial_scores = CFG_BATCH * frames * heads * area * area * FLOAT_BYTES
    decode = min(decode_chunk_size, frames) * size * size * VAE_DECODER_CHANNELS * FLOAT_BYTES * 4
    output = frames * size * size * 3 * FLOAT_BYTES * 3
    return activations + temporal_scores + spatial_scores + decode + output


def weight_bytes(
    unet_parameters: int, encoder_parameters: int | None, device: torch.device, dtype: torch.dtype | None
) -> int:
    """The UNet and the SVD encoders in the precision they will have on `device`: the UNet in `dtype` (fp16 on
    GPU by default), the encoders in fp16 on CUDA and fp32 elsewhere, as `PuppetMasterPipeline.from_files`
    loads them. `encoder_parameters` is what the given encoder files hold; None (a hub id not downloaded yet)
    counts the released ones (`ENCODER_BYTES`)."""
    half = dtype in (torch.float16, torch.bfloat16) or (dtype is None and device.type in ("cuda", "mps"))
    encoders = ENCODER_BYTES if encoder_parameters is None else encoder_parameters * FLOAT_BYTES
    return unet_parameters * (2 if half else 4) + (encoders // 2 if device.type == "cuda" else encoders)


def readable_bytes(count: int) -> str:
    """A byte count for people: GiB with one decimal from 1 GiB up, else whole MiB."""
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{max(round(count / 2**20), 1)} MiB"


def available_bytes(device: torch.device) -> int | None:
    """Free memory on `device` now (CUDA: free device memory; CPU: the OS's available memory), or None."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
