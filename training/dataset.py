"""The training dataset format and the paper's category mixture.

One clip = one `.safetensors` file (any folder layout below a root) holding
- `latent_mean`, `latent_std`: (F, 4, h, w) VAE posterior of the frames (unscaled); training samples
  mean + std * eps and scales by 0.18215, as the official dataset does;
- `cond_latent`: (4, h, w) unscaled posterior mean of frame 0 (the conditioning image);
- `embedding`: (1, D) CLIP image embedding of frame 0;
- `tracks`: (K, F, 2) drag tracks, per-frame pixel positions (x, y) in frames of `size` pixels, K <= 5;
and string metadata `category`, `source` ('drag_a_move' or 'objaverse'), `source_id`, `view`, `size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from puppet_master.drags import MAX_DRAGS

LATENT_SCALE = 0.18215
TENSOR_KEYS = ("latent_mean", "latent_std", "cond_latent", "embedding", "tracks")
DEFAULT_MIXTURE = {"drag_a_move": 0.3, "human_shape": 0.25, "animals": 0.25, "daily_used": 0.05, "other": 0.15}
"""Paper appendix C.1: Drag-a-Move 0.3; Objaverse-Animation-HQ Human-Shape 0.25, Animals 0.25,
Daily-Used 0.05, other categories 0.15."""
CATEGORY_GROUPS = {"human-shape": "human_shape", "animals": "animals", "daily-used": "daily_used"}


@dataclass(frozen=True)
class TrainingExample:
    """One model input: scaled video latents, conditioning, and the (F, 5, 4) drag tensor."""

    latents: torch.Tensor
    cond_latent: torch.Tensor
    embedding: torch.Tensor
    drags: torch.Tensor


def write_clip(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, object]) -> Path:
    """Save one clip in the dataset format (validating keys and shapes)."""
    missing = [key for key in TENSOR_KEYS if key not in tensors]
    if missing:
        raise ValueError(f"a clip needs {', '.join(TENSOR_KEYS)}; missing {', '.join(missing)}")
    tracks = tensors["tracks"]
    if tracks.ndim != 3 or tracks.shape[0] > MAX_DRAGS or tracks.shape[1] != tensors["latent_mean"].shape[0]:
        raise ValueError(f"tracks must be (K <= {MAX_DRAGS}, frames, 2), got {tuple(tracks.shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {key: tensors[key].float().contiguous() for key in TENSOR_KEYS},
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
                self.metadata.append(handle.metadata() or {})

    def __len__(self) -> int:
        return len(self.paths)

    def groups(self) -> dict[str, list[int]]:
        """Clip indices by mixture group."""
        groups: dict[str, list[int]] = {}
        for index, metadata in enumerate(self.metadata):
            groups.setdefault(mixture_group(metadata), []).append(index)
        return groups

    def example(self, index: int, generator: torch.Generator) -> TrainingExample:
        """Clip `index` with freshly sampled latents (mean + std * eps) drawn from `generator`."""
        with safe_open(str(self.paths[index]), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in TENSOR_KEYS}
        mean, std = tensors["latent_mean"], tensors["latent_std"]
        eps = torch.randn(mean.shape, generator=generator)
        size = float(self.metadata[index].get("size", 256))
        return TrainingExample(
            latents=(mean + std * eps) * LATENT_SCALE,
            cond_latent=tensors["cond_latent"],
            embedding=tensors["embedding"].reshape(1, -1),
            drags=tracks_to_drags(tensors["tracks"], size),
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
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + draw)
        group = int(torch.multinomial(self.weights, 1, generator=generator))
        members = self.members[group]
        return members[int(torch.randint(len(members), (1,), generator=generator))]
