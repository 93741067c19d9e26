"""The SVD img2vid VAE and CLIP image encoder behind two small protocols.

`VideoAutoencoder` and `ImageEmbedder` are all the pipeline needs, so ComfyUI's own VAE and
CLIP_VISION can stand in for the diffusers modules loaded here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from .hub import SVD_PATTERNS, SVD_REPO

CLIP_SIZE = (224, 224)
LAYOUT_HELP = (
    "An SVD img2vid folder (diffusers layout, e.g. ComfyUI/models/diffusers/stable-video-diffusion-img2vid or a "
    f"Hugging Face snapshot of {SVD_REPO}) must contain:\n"
    "  vae/config.json and vae/diffusion_pytorch_model[.fp16].safetensors\n"
    "  image_encoder/config.json and image_encoder/model[.fp16].safetensors\n"
    "  feature_extractor/preprocessor_config.json"
)


class EncoderLoadError(ValueError):
    """The SVD VAE / CLIP image encoder could not be found or loaded; the message says which files go where."""


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


def missing_svd_files(root: Path) -> list[str]:
    """The files an SVD img2vid encoder folder lacks (empty when it is complete)."""
    wanted = {
        "vae": ("config.json", "diffusion_pytorch_model.safetensors"),
        "image_encoder": ("config.json", "model.safetensors"),
        "feature_extractor": ("preprocessor_config.json",),
    }
    missing = []
    for sub, names in wanted.items():
        for name in names:
            fp16 = name.replace(".safetensors", ".fp16.safetensors")
            if not (root / sub / name).is_file() and not (root / sub / fp16).is_file():
                missing.append(f"{sub}/{name}")
    return missing


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_svd_source(source: str | Path) -> None:
    """Check a local SVD folder's files (nothing is loaded or downloaded); a hub id is checked when fetched."""
    if Path(source).expanduser().is_dir() or not _looks_like_repo(source):
        _resolve_source(source)


def _looks_like_repo(source: str | Path) -> bool:
    return isinstance(source, str) and source.count("/") == 1 and not source.startswith((".", "/", "~"))


def _resolve_source(source: str | Path) -> Path:
    """A local folder holding the SVD files; a hub id is fetched only when the hub is reachable."""
    path = Path(source).expanduser()
    if path.is_dir():
        missing = missing_svd_files(path)
        if missing:
            raise EncoderLoadError(f"{path} lacks {', '.join(missing)}.\n{LAYOUT_HELP}")
        return path
    if not _looks_like_repo(source):
        raise EncoderLoadError(f"SVD folder not found: {path}.\n{LAYOUT_HELP}")
    if _hub_offline():
        raise EncoderLoadError(f"{source} is not a local folder and the Hugging Face hub is offline.\n{LAYOUT_HELP}")
    try:
        from huggingface_hub import snapshot_download

        return _resolve_source(snapshot_download(str(source), allow_patterns=list(SVD_PATTERNS)))
    except EncoderLoadError:
        raise
    except Exception as error:  # network, authentication or missing repo: all end in the same advice
        raise EncoderLoadError(
            f"could not download {source} from the Hugging Face hub ({type(error).__name__}: {error}).\n{LAYOUT_HELP}"
        ) from None


def load_svd_encoders(
    source: str | Path = SVD_REPO, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> SVDEncoders:
    """Load the SVD img2vid VAE and CLIP image encoder from a diffusers-format folder (or hub id, when online).

    Raises:
        EncoderLoadError: the folder is missing or incomplete; the message lists the expected files.
    """
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionModelWithProjection

    root = _resolve_source(source)
    vae = AutoencoderKLTemporalDecoder.from_pretrained(
        root / "vae", variant=_variant(root / "vae", "diffusion_pytorch_model.safetensors"), torch_dtype=dtype
    )
    encoder = CLIPVisionModelWithProjection.from_pretrained(
        root / "image_encoder", variant=_variant(root / "image_encoder", "model.safetensors"), torch_dtype=dtype
    )
    preprocessing = json.loads((root / "feature_extractor" / "preprocessor_config.json").read_text())
    return SVDEncoders(
        vae=DiffusersVideoAutoencoder(vae.to(device).eval()),
        image_encoder=DiffusersImageEmbedder(
            encoder.to(device).eval(), preprocessing["image_mean"], preprocessing["image_std"]
        ),
    )
