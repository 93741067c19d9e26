"""Drag maps and position tables: the drag-only inputs of the Puppet-Master UNet.

`encode_drags` reproduces the official `_convert_drag_to_concatting_image` bit for bit at 32/16/8 and
extends it to any (height, width), square or not.
"""

from __future__ import annotations

import torch

CHANNELS_PER_DRAG = 6
FILL_VALUE = -1.0


def drag_present(drags: torch.Tensor) -> torch.Tensor:
    """(B, F, K, 4) drags -> (B, F, K) bool: a slot holds a drag in a frame unless all four values are 0."""
    return (drags != 0).any(dim=-1)


def encode_drags(drags: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Rasterise drags into the model's (B, F, 6K, height, width) drag maps.

    Per slot k the channels 6k..6k+5 hold the (x, y) sub-cell remainders of the start point, the
    current point of this frame and the final point (the last frame's current point). Each pair is
    written at its own cell; every other pixel is -1, and so is every pixel of a slot that is absent
    in the frame. Cells are chosen as the official code does: clamp(round_half_even(u*r - 0.5), 0,
    r-1), storing the unclamped remainder u*r - cell.

    Args:
        drags: (B, F, K, 4) float tensor of (x_start, y_start, x_current, y_current), normalised to [0, 1].
        height: rows of the drag map (the feature map it conditions).
        width: columns of the drag map.
    """
    if drags.ndim != 4 or drags.shape[-1] != 4:
        raise ValueError(f"drags must have shape (batch, frames, slots, 4), got {tuple(drags.shape)}")
    batch, frames, slots, _ = drags.shape
    drags = drags.float()
    final = drags[:, -1:, :, 2:4].expand(batch, frames, slots, 2)
    points = torch.cat([drags, final], dim=-1).view(batch, frames, slots, 3, 2)
    size = torch.tensor([width, height], dtype=drags.dtype, device=drags.device)
    scaled = points * size
    cell = torch.round(scaled - 0.5)
    cell = torch.minimum(cell.clamp_min(0), size - 1)
    remainder = scaled - cell
    cell = cell.long()
    flat_index = cell[..., 1] * width + cell[..., 0]
    present = drag_present(drags)[..., None, None]
    values = torch.where(present, remainder, FILL_VALUE)
    maps = torch.full((batch, frames, slots, 3, 2, height * width), FILL_VALUE, dtype=drags.dtype, device=drags.device)
    index = flat_index[..., None, None].expand(batch, frames, slots, 3, 2, 1)
    maps.scatter_(-1, index, values[..., None])
    return maps.view(batch, frames, slots * CHANNELS_PER_DRAG, height, width)


def sincos_position_table(
    height: int, width: int, dim: int = 64, device: torch.device | str | None = None
) -> torch.Tensor:
    """The fixed 2-D sin-cos table (dim, height, width) sampled for drag tokens.

    Channels [0, dim/2) encode the column index, [dim/2, dim) the row index; each half is dim/4 sines
    then dim/4 cosines with frequencies 10000^(-i/(dim/4)) (MAE-style, integer cell positions). It is
    computed in float64 on the CPU (MPS has no float64) and returned in float32 on `device`.
    """
    if dim % 4:
        raise ValueError(f"pos_embed_dim must be a multiple of 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)

    def axis_embedding(length: int) -> torch.Tensor:
        angles = torch.arange(length, dtype=torch.float32).double()[:, None] * omega
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    columns = axis_embedding(width)[None, :, :].expand(height, width, 2 * quarter)
    rows = axis_embedding(height)[:, None, :].expand(height, width, 2 * quarter)
    table = torch.cat([columns, rows], dim=-1).permute(2, 0, 1).float().contiguous()
    return table.to(device) if device is not None else table
