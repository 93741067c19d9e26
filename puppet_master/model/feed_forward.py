"""The transformer blocks' feed-forward layers, run over chunks of rows so that their wide middle stays small.

A feed-forward layer (GEGLU to 2 x 4C, GELU gate, back to C) makes the largest buffers of a step: at full
size 28,672 rows x 2,560 values = 294 MB at the 1/8 level, and 147 MB more for the gate and the product.
Rows are independent, so running them in chunks of at most `CHUNK_BYTES` of projection gives the same
result with buffers a tenth the size: a smaller peak, and on the CPU buffers that glibc serves from a
thread's own heap (at most 64 MB) instead of fresh pages, which is what lets ComfyUI's prompt worker
thread reuse memory as the library's loop does (`puppet_master.host_memory`).
"""

from __future__ import annotations

import torch
from diffusers.models.attention import FeedForward
from torch import nn

CHUNK_BYTES = 32 << 20
"""The most projection output (rows x 2 x 4C values) one chunk makes."""


class RowChunkedFeedForward(nn.Module):
    """diffusers' `FeedForward` run over chunks of rows; takes over its `net`, so parameter names are the same."""

    def __init__(self, feed_forward: FeedForward) -> None:
        super().__init__()
        self.net = feed_forward.net
        self.chunk_bytes: int | None = CHUNK_BYTES
        """None runs all rows at once (diffusers' behaviour; the benchmark's baseline)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., C_out), chunk by chunk over the rows of the flattened leading dimensions."""
        rows = hidden_states.reshape(-1, hidden_states.shape[-1])
        projected_width = self.net[0].proj.out_features
        per_chunk = max(1, (self.chunk_bytes or 0) // (projected_width * rows.element_size()))
        if self.chunk_bytes is None or rows.shape[0] <= per_chunk:
            return self._run(hidden_states)
        first = self._run(rows[:per_chunk])
        output = first.new_empty(rows.shape[0], first.shape[-1])
        output[:per_chunk] = first
        del first
        for start in range(per_chunk, rows.shape[0], per_chunk):
            output[start : start + per_chunk] = self._run(rows[start : start + per_chunk])
        return output.view(*hidden_states.shape[:-1], output.shape[-1])

    def _run(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            hidden_states = layer(hidden_states)
        return hidden_states


def chunk_feed_forwards(model: nn.Module) -> None:
    """Replace every `FeedForward` under `model` (the blocks' `ff` and `ff_in`) by a `RowChunkedFeedForward`."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, FeedForward):
                setattr(module, name, RowChunkedFeedForward(child))
