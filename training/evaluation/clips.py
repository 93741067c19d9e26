"""Drag-a-Move clips in the converted format (NNNNN.safetensors + NNNNN.json, see shared/data/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

KEYS = ("latents", "cond_latent", "embedding", "drags")


@dataclass(frozen=True)
class DragAMoveClip:
    """One test clip: ground-truth latents (x0.18215), conditioning latent (unscaled), CLIP embedding, drags."""

    name: str
    latents: torch.Tensor
    cond_latent: torch.Tensor
    embedding: torch.Tensor
    drags: torch.Tensor
    metadata: dict


def load_clips(folder: str | Path, limit: int | None = None) -> list[DragAMoveClip]:
    """All clips of a folder in name order (the first `limit` ones)."""
    folder = Path(folder)
    paths = sorted(folder.glob("*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no Drag-a-Move clips (NNNNN.safetensors) in {folder}")
    clips = []
    for path in paths[:limit]:
        tensors = load_file(str(path))
        missing = [key for key in KEYS if key not in tensors]
        if missing:
            raise ValueError(f"{path} is not a Drag-a-Move clip: missing {', '.join(missing)}")
        metadata_path = path.with_suffix(".json")
        metadata = json.loads(metadata_path.read_text(encoding="utf-8")) if metadata_path.is_file() else {}
        clips.append(DragAMoveClip(path.stem, *(tensors[key].float() for key in KEYS), metadata=metadata))
    return clips
