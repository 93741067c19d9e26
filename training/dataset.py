"""The training dataset format, the per-step draw of an example, and the clip choice (paper mixture or uniform).

One clip = one animation (an object's action) = one `.safetensors` file (any folder layout below a root):
- `latent_mean`, `latent_std`: (V, N, 4, h, w) VAE posterior of the frames of every view (unscaled); training
  samples mean + std * eps and scales by 0.18215, as the official dataset does;
- `frames`: (N,) the render frame number of each stored frame (increasing; every frame of a drag window);
- `sample_start`: (S,) the start frame of each drag sample (its window is start .. start + F - 1);
- `embedding`: (V, S, D) CLIP image embedding of each sample's start frame in each view;
- `track_counts`: (S, V) how many candidate tracks each drag sample has in each view;
- `tracks`: (T, F, 2) every candidate track, per-frame pixel positions (x, y) in frames of `render_size` pixels,
  sample by sample and within a sample view by view (T = track_counts.sum());
and string metadata `category`, `source` ('drag_a_move' or 'objaverse'), `source_id`, `action`, `render_size`
(the pixels of `tracks`) and `size` (the encoded frame size).

An example is drawn as the official dataset does: a drag sample and a view uniformly, so the view selects its
own latents and embedding; the 14 latents of that view's window (mean + std * eps); the conditioning latent is
the mean of the start frame; the drags are a fresh subset of the candidates (drag_subsets.py). Every random
number of draw n comes from generators seeded by (seed, n), so a resumed run draws exactly what an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from puppet_master.drags import MAX_DRAGS

from .drag_subsets import OFFICIAL_RULE, DragSubsetRule, draw_drag_subset

LATENT_SCALE = 0.18215
TENSOR_KEYS = ("latent_mean", "latent_std", "frames", "sample_start", "embedding", "track_counts", "tracks")
INDEX_KEYS = ("frames", "sample_start", "track_counts")
DEFAULT_MIXTURE = {"drag_a_move": 0.3, "human_shape": 0.25, "animals": 0.25, "daily_used": 0.05, "other": 0.15}
"""Paper appendix C.1: Drag-a-Move 0.3; Objaverse-Animation-HQ Human-Shape 0.25, Animals 0.25,
Daily-Used 0.05, other categories 0.15."""
CATEGORY_GROUPS = {"human-shape": "human_shape", "animals": "animals", "daily-used": "daily_used"}
STREAMS = {"clip": 0, "example": 1, "noise": 2, "epoch": 3}
"""The independent random streams of one draw index."""


@dataclass(frozen=True)
class TrainingExample:
    """One model input: scaled video latents, conditioning, and the (F, 5, 4) drag tensor."""

    latents: torch.Tensor
    cond_latent: torch.Tensor
    embedding: torch.Tensor
    drags: torch.Tensor


def draw_generator(seed: int, draw: int, stream: str) -> torch.Generator:
    """A generator for one purpose (`STREAMS`) of draw `draw` of a run seeded `seed`, independent of the others."""
    state = np.random.SeedSequence([seed, draw, STREAMS[stream]]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _shape_error(name: str, expected: str, tensor: torch.Tensor) -> ValueError:
    return ValueError(f"clip tensor {name} must be {expected}, got shape {tuple(tensor.shape)}")


def validate_clip(tensors: Mapping[str, torch.Tensor]) -> None:
    """Raise a ValueError naming the field when `tensors` is not a clip of the format above."""
    missing = [key for key in TENSOR_KEYS if key not in tensors]
    if missing:
        raise ValueError(f"a clip needs {', '.join(TENSOR_KEYS)}; missing {', '.join(missing)}")
    mean, frames, starts = tensors["latent_mean"], tensors["frames"], tensors["sample_start"]
    if mean.ndim != 5:
        raise _shape_error("latent_mean", "(views, frames, 4, h, w)", mean)
    if tensors["latent_std"].shape != mean.shape:
        raise _shape_error("latent_std", f"latent_mean's {tuple(mean.shape)}", tensors["latent_std"])
    views, stored = mean.shape[:2]
    if frames.shape != (stored,) or (frames.diff() <= 0).any():
        raise _shape_error("frames", f"({stored},) increasing frame numbers", frames)
    if starts.ndim != 1 or len(starts) == 0:
        raise _shape_error("sample_start", "(samples >= 1,)", starts)
    samples = len(starts)
    counts, tracks, embedding = tensors["track_counts"], tensors["tracks"], tensors["embedding"]
    if counts.shape != (samples, views) or (counts < 0).any():
        raise _shape_error("track_counts", f"({samples}, {views}) counts >= 0", counts)
    if tracks.ndim != 3 or tracks.shape[0] != int(counts.sum()) or tracks.shape[2] != 2:
        raise _shape_error("tracks", f"({int(counts.sum())} = track_counts.sum(), frames, 2)", tracks)
    if embedding.ndim != 3 or embedding.shape[:2] != (views, samples):
        raise _shape_error("embedding", f"({views}, {samples}, D)", embedding)
    window = tracks.shape[1]
    for start in starts.tolist():
        row = int(torch.searchsorted(frames, start))
        if row + window > stored or frames[row : row + window].tolist() != list(range(start, start + window)):
            raise ValueError(f"sample_start {start}: frames {start}..{start + window - 1} are not all in `frames`")


def write_clip(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, object]) -> Path:
    """Save one clip in the dataset format (validated first)."""
    validate_clip(tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {key: tensors[key].long() if key in INDEX_KEYS else tensors[key].float() for key in TENSOR_KEYS}
    save_file(
        {key: value.contiguous() for key, value in stored.items()},
        str(path),
        metadata={key: str(value) for key, value in metadata.items()},
    )
    return path


def mixture_group(metadata: Mapping[str, str]) -> str:
    """The mixture group of a clip: drag_a_move, human_shape, animals, daily_used or other."""
    if metadata.get("source") == "drag_a_move":
        return "drag_a_move"
    return CATEGORY_GROUPS.get(metadata.get("category", "").strip().lower(), "other")


def tracks_to_drags(tracks: torch.Tensor, size: float, slots: int = MAX_DRAGS) -> torch.Tensor:
    """(K, F, 2) pixel tracks -> (F, slots, 4) model drags (start = frame-0 point, normalised by `size`)."""
    count, frames = tracks.shape[:2]
    drags = torch.zeros(frames, slots, 4)
    normalised = tracks.float() / size
    drags[:, :count, :2] = normalised[:, :1].permute(1, 0, 2)
    drags[:, :count, 2:] = normalised.permute(1, 0, 2)
    return drags


class ClipDataset:
    """All clips below `roots`, with their metadata read from the file headers (no tensors loaded)."""

    def __init__(self, *roots: str | Path) -> None:
        self.paths = sorted(path for root in roots for path in Path(root).rglob("*.safetensors"))
        if not self.paths:
            raise FileNotFoundError(f"no clips (*.safetensors) below {', '.join(map(str, roots))}")
        self.metadata = []
        for path in self.paths:
            with safe_open(str(path), framework="pt") as handle:
                if "track_counts" not in handle.keys():
                    raise ValueError(
                        f"{path} is not a clip of this format (one file per animation with every view and every "
                        "candidate track); write it again with `python -m training.precompute`"
                    )
                self.metadata.append(handle.metadata() or {})

    def __len__(self) -> int:
        return len(self.paths)

    def groups(self) -> dict[str, list[int]]:
        """Clip indices by mixture group."""
        groups: dict[str, list[int]] = {}
        for index, metadata in enumerate(self.metadata):
            groups.setdefault(mixture_group(metadata), []).append(index)
        return groups

    def example(self, index: int, generator: torch.Generator, rule: DragSubsetRule = OFFICIAL_RULE) -> TrainingExample:
        """Clip `index`: a random drag sample and view, their latents (mean + std * eps) and a drag subset."""
        render_size = int(self.metadata[index].get("render_size", 512))
        with safe_open(str(self.paths[index]), framework="pt") as handle:
            counts = handle.get_tensor("track_counts")
            samples, views = counts.shape
            sample = int(torch.randint(samples, (1,), generator=generator))
            view = int(torch.randint(views, (1,), generator=generator))
            offset = int(counts.flatten()[: sample * views + view].sum())
            candidates = handle.get_slice("tracks")[offset : offset + int(counts[sample, view])]
            start = handle.get_tensor("sample_start")[sample]
            row = int(torch.searchsorted(handle.get_tensor("frames"), start))
            window = slice(row, row + candidates.shape[1])
            mean = handle.get_slice("latent_mean")[view, window]
            std = handle.get_slice("latent_std")[view, window]
            embedding = handle.get_slice("embedding")[view, sample]
        subset = draw_drag_subset(candidates, generator, render_size, rule)
        eps = torch.randn(mean.shape, generator=generator)
        return TrainingExample(
            latents=(mean + std * eps) * LATENT_SCALE,
            cond_latent=mean[0],
            embedding=embedding.reshape(1, -1),
            drags=tracks_to_drags(subset, render_size),
        )


class MixtureSampler:
    """Deterministic category-mixture sampling: draw n is a pure function of (seed, n).

    A group is chosen with the configured weights (renormalised over the groups present), then a clip
    uniformly within it, so resuming at draw n continues exactly where an uninterrupted run would be.
    """

    def __init__(self, groups: Mapping[str, list[int]], weights: Mapping[str, float], seed: int) -> None:
        unknown = set(weights) - set(DEFAULT_MIXTURE)
        if unknown:
            raise ValueError(f"unknown mixture groups {sorted(unknown)}; use {sorted(DEFAULT_MIXTURE)}")
        present = [name for name in DEFAULT_MIXTURE if groups.get(name) and weights.get(name, 0) > 0]
        if not present:
            raise ValueError("no clip belongs to a group with a positive mixture weight")
        self.names = present
        self.members = [list(groups[name]) for name in present]
        self.weights = torch.tensor([float(weights[name]) for name in present], dtype=torch.float64)
        self.seed = seed

    def __call__(self, draw: int) -> int:
        """The clip index of draw `draw`."""
        generator = draw_generator(self.seed, draw, "clip")
        group = int(torch.multinomial(self.weights, 1, generator=generator))
        members = self.members[group]
        return members[int(torch.randint(len(members), (1,), generator=generator))]


class ShuffledEpochs:
    """Each clip once per epoch, shuffled, as the official DataLoader(shuffle=True); a function of (seed, n)."""

    def __init__(self, count: int, seed: int) -> None:
        self.count, self.seed = count, seed
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, draw: int) -> int:
        """The clip index of draw `draw`."""
        epoch, position = divmod(draw, self.count)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = torch.randperm(self.count, generator=draw_generator(self.seed, epoch, "epoch"))
        return int(self._order[position])


class ExampleDraws:
    """Draw n of a run: the clip (mixture or shuffled epochs), then its example, from (seed, n) alone."""

    def __init__(
        self, dataset: ClipDataset, mixture: Mapping[str, float] | None, seed: int, rule: DragSubsetRule
    ) -> None:
        self.dataset, self.seed, self.rule = dataset, seed, rule
        self.clip = (
            ShuffledEpochs(len(dataset), seed) if mixture is None else MixtureSampler(dataset.groups(), mixture, seed)
        )

    def __call__(self, draw: int) -> TrainingExample:
        """The example of draw `draw`."""
        return self.dataset.example(self.clip(draw), draw_generator(self.seed, draw, "example"), self.rule)
