"""The drags of one training step: a fresh subset of a clip's stored candidate tracks, as the official dataset draws it.

From the candidate tracks of the drawn drag sample and view (spec section 4, `REDUCE_DUPLICATE_DRAGS`):
1. if there are more than `max_drags`, `max_drags` of them are picked at random, in random order (otherwise all,
   in stored order);
2. de-duplication: walking that order, a track is dropped when its summed per-frame distance to an earlier track
   that is still kept is at most F x `duplicate_distance` (mean distance 20 px at a 512 px render): the LATER
   one of a close pair goes;
3. the track with the largest displacement (total path length; the first of equals) is kept and every other one
   is dropped with probability 1 - min(1, 2 d_i / d_max) (`drop_small`); when every displacement is 0 all stay.
All random numbers come from the generator passed in, so a step's subset is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from puppet_master.drags import MAX_DRAGS

from .renders import REFERENCE_RENDER_SIZE


@dataclass(frozen=True)
class DragSubsetRule:
    """How a step's drags are drawn from the candidates; the defaults are the official dataset's."""

    max_drags: int = MAX_DRAGS
    duplicate_distance: float = 20.0
    """Mean per-frame distance, in pixels of a 512 px render, at or under which the later of two tracks goes."""
    drop_small: bool = True
    """Drop each track but the largest with probability 1 - min(1, 2 d_i / d_max)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_drags <= MAX_DRAGS:
            raise ValueError(f"max_drags must be 1..{MAX_DRAGS} (the model's drag slots), got {self.max_drags}")
        if self.duplicate_distance < 0:
            raise ValueError(f"duplicate_distance must be >= 0 pixels, got {self.duplicate_distance}")


OFFICIAL_RULE = DragSubsetRule()


def displacement(tracks: torch.Tensor) -> torch.Tensor:
    """(K,) total path length of (K, F, 2) tracks."""
    return (tracks[:, 1:] - tracks[:, :-1]).norm(dim=-1).sum(dim=1)


def draw_drag_subset(
    candidates: torch.Tensor, generator: torch.Generator, render_size: int, rule: DragSubsetRule = OFFICIAL_RULE
) -> torch.Tensor:
    """(k <= rule.max_drags, F, 2) tracks of one step, drawn from (K, F, 2) candidates in `render_size` pixels."""
    tracks = candidates.float()
    count, frames = tracks.shape[:2]
    if count > rule.max_drags:
        tracks = tracks[torch.randperm(count, generator=generator)[: rule.max_drags]]
    threshold = frames * rule.duplicate_distance * render_size / REFERENCE_RENDER_SIZE
    kept: list[int] = []
    for index in range(len(tracks)):
        if all((tracks[index] - tracks[other]).norm(dim=-1).sum() > threshold for other in kept):
            kept.append(index)
    tracks = tracks[kept]
    if not rule.drop_small or len(tracks) < 2:
        return tracks
    moved = displacement(tracks)
    largest = int(moved.argmax())
    if moved[largest] == 0:
        return tracks
    keep_probability = (2 * moved / moved[largest]).clamp(max=1)
    draws = torch.rand(len(tracks), generator=generator)
    keep = draws < keep_probability
    keep[largest] = True
    return tracks[keep]
