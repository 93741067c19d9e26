"""The drag context: everything the UNet derives from the drags alone, computed once per generation."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Modulation:
    """FiLM terms of one layer: h <- h * scale_plus_one + shift (scale_plus_one is None without use_modulate)."""

    scale_plus_one: torch.Tensor | None
    shift: torch.Tensor

    def apply(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Modulate (BF, C, h, w) features."""
        if self.scale_plus_one is None:
            return hidden_states + self.shift
        return hidden_states * self.scale_plus_one + self.shift


@dataclass(frozen=True)
class BlockDrags:
    """The drag inputs of one drag-conditioned block, at that block's resolution."""

    modulations: tuple[Modulation, ...]
    grid: torch.Tensor
    """(BF, 1, 2K, 2) start points then current points, in grid_sample's [-1, 1] (x, y) convention."""
    keep: torch.Tensor
    """(BF, K, 1) bool: False for slots without a drag in any frame (their tokens are exactly zero)."""
    positions: torch.Tensor
    """(BF, K, 2 * pos_embed_dim) sin-cos position features at the start and current points."""


@dataclass(frozen=True)
class DragContext:
    """What `PuppetMasterUNet.prepare_drags` computes; pass it as `drag_context=` to every step.

    It holds the 15 DragEmbedding outputs, the drag maps' sampling grid, the token masks and the
    position features, so a sampler never recomputes them between steps.
    """

    batch_size: int
    num_frames: int
    latent_size: tuple[int, int]
    blocks: dict[str, BlockDrags]

    def check_matches(self, batch_size: int, num_frames: int, latent_size: tuple[int, int]) -> None:
        """Raise a clear error if this context was prepared for another batch, frame count or size."""
        expected = (self.batch_size, self.num_frames, tuple(self.latent_size))
        got = (batch_size, num_frames, tuple(latent_size))
        if expected != got:
            raise ValueError(
                "drag_context was prepared for (batch, frames, latent size) = "
                f"{expected} but the sample is {got}; call model.prepare_drags(drags, latent_size) "
                "with the drags of this batch"
            )
