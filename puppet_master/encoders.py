"""The SVD img2vid VAE and CLIP image encoder behind two small protocols.

`VideoAutoencoder` and `ImageEmbedder` are all the pipeline needs, so ComfyUI's own VAE and
CLIP_VISION can stand in for the diffusers modules loaded here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from .hub import SVD_REPO
from .svd_folder import EncoderLoadError as EncoderLoadError  # re-exported: raised by load_svd_encoders
from .svd_folder import resolve_svd_source

CLIP_SIZE = (224, 224)


class VideoAutoencoder(Protocol):
    """Encodes the conditioning frame and decodes generated latents."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 4, H/8, W/8) unscaled posterior mean."""
        ...

    def decode(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """(F, 4, h, w) latents in the 0.18215-scaled space -> (F, 3, 8h, 8w) frames in [0, 1]."""
        ...


class ImageEmbedder(Protocol):
    """The CLIP image embedding of the conditioning frame."""

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 1, D) image embedding."""
        ...


@dataclass(frozen=True)
class SVDEncoders:
    """The two conditioning encoders of a generation."""

    vae: VideoAutoencoder
    image_encoder: ImageEmbedder


class DiffusersVideoAutoencoder:
    """`AutoencoderKLTemporalDecoder` as the official demo uses it."""

    def __init__(self, vae: torch.nn.Module) -> None:
        self.vae = vae

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.posterior(images)[0]

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> unscaled posterior mean and std, float32 (training precompute)."""
        parameter = next(self.vae.parameters())
        pixels = (images * 2 - 1).to(device=parameter.device, dtype=parameter.dtype)
        posterior = self.vae.encode(pixels).latent_dist
        return posterior.mean.float(), posterior.std.float()

    def decode(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        parameter = next(self.vae.parameters())
        latents = (latents / self.vae.config.scaling_factor).to(device=parameter.device, dtype=parameter.dtype)
        chunks = [
            self.vae.decode(latents[i : i + chunk_size], num_frames=len(latents[i : i + chunk_size])).sample
            for i in range(0, len(latents), chunk_size)
        ]
        return (torch.cat(chunks).float() / 2 + 0.5).clamp(0, 1)


class DiffusersImageEmbedder:
    """`CLIPVisionModelWithProjection` with SVD's preprocessing: antialiased resize to 224, CLIP normalisation."""

    def __init__(self, encoder: torch.nn.Module, mean: list[float], std: list[float]) -> None:
        self.encoder = encoder
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
            _resize_with_antialiasing,
        )

        resized = (_resize_with_antialiasing(images.float() * 2 - 1, CLIP_SIZE) + 1) / 2
        normalised = (resized - self.mean.to(resized.device)) / self.std.to(resized.device)
        parameter = next(self.encoder.parameters())
        embeds = self.encoder(normalised.to(device=parameter.device, dtype=parameter.dtype)).image_embeds
        return embeds.float().unsqueeze(1)


def _variant(folder: Path, name: str) -> str | None:
    """'fp16' when only the fp16 weight file is present, None for the plain one."""
    if (folder / name.replace(".safetensors", ".fp16.safetensors")).is_file() and not (folder / name).is_file():
        return "fp16"
    return None


def load_svd_encoders(
    source: str | Path = SVD_REPO, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> SVDEncoders:
    """Load the SVD img2vid VAE and CLIP image encoder from a diffusers-format folder (or hub id, when online).

    Raises:
        EncoderLoadError: the folder is missing or incomplete, or `source` is a file; the message lists the
            expected files. Only a string shaped like a hub id (`owner/name`, no such local path) is downloaded.
    """
    from diffusers import AutoencoderKLTemporalDecoder
    from diffusers.utils import is_accelerate_available
    from transformers import CLIPVisionModelWithProjection

    root = resolve_svd_source(source)
    vae = AutoencoderKLTemporalDecoder.from_pretrained(
        root / "vae",
        variant=_variant(root / "vae", "diffusion_pytorch_model.safetensors"),
        torch_dtype=dtype,
        low_cpu_mem_usage=is_accelerate_available(),  # without accelerate, diffusers' fallback, minus its warning
    )
    encoder = CLIPVisionModelWithProjection.from_pretrained(
        root / "image_encoder", variant=_variant(root / "image_encoder", "model.safetensors"), torch_dtype=dtype
    )
    preprocessing = json.loads((root / "feature_extractor" / "preprocessor_config.json").read_text(encoding="utf-8"))
    return SVDEncoders(
        vae=DiffusersVideoAutoencoder(vae.to(device).eval()),
        image_encoder=DiffusersImageEmbedder(
            encoder.to(device).eval(), preprocessing["image_mean"], preprocessing["image_std"]
        ),
    )
