"""The SVD encoders under ComfyUI: its own VAE and CLIP_VISION (from svd.safetensors via
ImageOnlyCheckpointLoader) behind the library's encoder protocols (`vae.encode` takes BHWC pixels and
returns unscaled latents, `vae.decode` takes latents divided by 0.18215, and
`clip_vision.encode_image(image, crop=False)` matches diffusers' SVD preprocessing), and the diffusers
encoders of Puppet-Master SVD Encoders put under ComfyUI's memory management."""

from __future__ import annotations

import torch

from puppet_master.encoders import DiffusersImageEmbedder, DiffusersVideoAutoencoder

from . import comfy_env

LATENT_SCALE = 0.18215


class ComfyVideoAutoencoder:
    """`puppet_master.encoders.VideoAutoencoder` over a ComfyUI VAE."""

    def __init__(self, vae) -> None:
        self.vae = vae

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(images.permute(0, 2, 3, 1)[..., :3]).float()

    def decode(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        scaled = latents / LATENT_SCALE
        chunks = []
        for start in range(0, len(scaled), chunk_size):
            comfy_env.check_interrupt()  # Cancel stops the decode between chunks, not after all of them
            chunks.append(self.vae.decode(scaled[start : start + chunk_size]))
        frames = torch.cat([chunk.reshape(-1, *chunk.shape[-3:]) for chunk in chunks])
        return frames.permute(0, 3, 1, 2).float().clamp(0, 1)


class ComfyImageEmbedder:
    """`puppet_master.encoders.ImageEmbedder` over a ComfyUI CLIP_VISION."""

    def __init__(self, clip_vision) -> None:
        self.clip_vision = clip_vision

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        output = self.clip_vision.encode_image(images.permute(0, 2, 3, 1), crop=False)
        return output.image_embeds.float().unsqueeze(1)


class _Managed:
    """A diffusers module under ComfyUI's memory management: loaded onto the GPU for each use, offloadable
    by ComfyUI in between, like its own models."""

    def __init__(self, inner: object, module: torch.nn.Module) -> None:
        self.inner = inner
        self.wrapped = comfy_env.wrap_model(module)

    def ready(self):
        comfy_env.loaded(self.wrapped)
        return self.inner


class ManagedVideoAutoencoder(_Managed):
    """The diffusers SVD VAE, managed."""

    def __init__(self, inner: DiffusersVideoAutoencoder) -> None:
        super().__init__(inner, inner.vae)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.ready().encode(images)

    def decode(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        chunks = []
        for start in range(0, len(latents), chunk_size):
            comfy_env.check_interrupt()  # Cancel stops the decode between chunks, not after all of them
            chunks.append(self.ready().decode(latents[start : start + chunk_size], chunk_size))
        return torch.cat(chunks)


class ManagedImageEmbedder(_Managed):
    """The diffusers SVD CLIP image encoder, managed."""

    def __init__(self, inner: DiffusersImageEmbedder) -> None:
        super().__init__(inner, inner.encoder)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.ready().embed(images)
