"""Puppet-Master Sampler: image + drags -> frames, with ComfyUI's progress bar, previews and interrupt."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from puppet_master.drags import drag_tensor
from puppet_master.encoders import SVDEncoders
from puppet_master.image import object_crop
from puppet_master.pipeline import generate_frames
from puppet_master.sampling import check_guidance
from puppet_master.video import from_pil

from . import comfy_env
from .checks import widget_problem
from .comfy_encoders import ComfyImageEmbedder, ComfyVideoAutoencoder
from .images import first_image
from .loaders import CATEGORY, SEARCH_ALIASES
from .types import DragSet

DEFAULT_SIZE = 256


def resolve_encoders(encoders: SVDEncoders | None, clip_vision: object | None, vae: object | None) -> SVDEncoders:
    """Exactly one source: PM_SVD, or ComfyUI's CLIP_VISION and VAE (from ImageOnlyCheckpointLoader)."""
    comfy_given = clip_vision is not None or vae is not None
    if encoders is not None and comfy_given:
        raise ValueError(
            "connect either 'encoders' (Puppet-Master SVD Encoders) or 'clip_vision' + 'vae' "
            "(ImageOnlyCheckpointLoader with svd.safetensors), not both"
        )
    if encoders is not None:
        return encoders
    if clip_vision is None or vae is None:
        missing = "vae" if clip_vision is not None else "clip_vision" if vae is not None else "encoders"
        raise ValueError(
            f"'{missing}' is not connected: connect 'encoders' (Puppet-Master SVD Encoders), or both 'clip_vision' "
            "and 'vae' from ImageOnlyCheckpointLoader (svd.safetensors)"
        )
    return SVDEncoders(vae=ComfyVideoAutoencoder(vae), image_encoder=ComfyImageEmbedder(clip_vision))


def latent_preview(latents: torch.Tensor) -> Image.Image:
    """A rough RGB look at the last frame's latent (first three channels, normalised), 8x upscaled."""
    channels = latents[0, -1, :3].float()
    low = channels.amin(dim=(1, 2), keepdim=True)
    high = channels.amax(dim=(1, 2), keepdim=True)
    array = ((channels - low) / (high - low + 1e-6)).permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray((array * 255).astype(np.uint8))
    return image.resize((image.width * 8, image.height * 8), Image.NEAREST)


class PuppetMasterSampler:
    """Generates the video frames of the (cropped) image with the drags, as the official sampler does."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("The generated frames (an IMAGE batch), for Paste Back or a video saver.",)
    FUNCTION = "generate"
    SEARCH_ALIASES = SEARCH_ALIASES
    DESCRIPTION = (
        "EDM Euler on SVD's Karras schedule with per-frame guidance min_cfg -> cfg. Connect Puppet-Master SVD "
        "Encoders, or CLIP_VISION + VAE from ImageOnlyCheckpointLoader(svd.safetensors)."
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {
            "required": {
                "model": ("PM_MODEL", {"tooltip": "The UNet from Puppet-Master Loader"}),
                "image": ("IMAGE", {"tooltip": "The image to animate (Prepare Image's crop, or padded to a square)"}),
                "drags": ("PM_DRAGS", {"tooltip": "The drags, from Drags or Prepare Image"}),
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 0xFFFFFFFFFFFFFFFF,
                        "control_after_generate": True,
                        "tooltip": "Noise seed: same seed, image and drags give the same video",
                    },
                ),
                "steps": ("INT", {"default": 50, "min": 1, "max": 200, "tooltip": "Denoising steps (official 50)"}),
                "cfg": (
                    "FLOAT",
                    {"default": 5.0, "min": 1.0, "max": 20.0, "step": 0.1, "tooltip": "Guidance of the last frame"},
                ),
                "min_cfg": (
                    "FLOAT",
                    {"default": 1.0, "min": 0.0, "max": 20.0, "step": 0.1, "tooltip": "Guidance of the first frame"},
                ),
                "frames": ("INT", {"default": 14, "min": 2, "max": 64, "tooltip": "Video length (trained on 14)"}),
                "decode_chunk_size": (
                    "INT",
                    {"default": 14, "min": 1, "max": 64, "tooltip": "Frames decoded at once: lower = less memory"},
                ),
                "negative": (
                    ["official", "drags_only"],
                    {
                        "default": "official",
                        "tooltip": "Unconditional pass: official drops image, CLIP, drags; drags_only the drags",
                    },
                ),
            },
            "optional": {
                "encoders": ("PM_SVD", {"tooltip": "From Puppet-Master SVD Encoders (or connect clip_vision + vae)"}),
                "clip_vision": ("CLIP_VISION", {"tooltip": "From ImageOnlyCheckpointLoader(svd.safetensors)"}),
                "vae": ("VAE", {"tooltip": "From ImageOnlyCheckpointLoader(svd.safetensors)"}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, cfg: float | None = None, min_cfg: float | None = None) -> bool | str:  # noqa: N802
        return widget_problem(cls, cfg=cfg, min_cfg=min_cfg) or True

    def generate(
        self,
        model: object,
        image: torch.Tensor,
        drags: DragSet,
        seed: int,
        steps: int,
        cfg: float,
        min_cfg: float,
        frames: int,
        decode_chunk_size: int,
        negative: str,
        encoders: SVDEncoders | None = None,
        clip_vision: object | None = None,
        vae: object | None = None,
    ) -> tuple[torch.Tensor]:
        check_guidance(min_cfg, cfg)
        encoders = resolve_encoders(encoders, clip_vision, vae)
        source = first_image(image).convert("RGB")
        if drags.crop is None:
            document = drags.document.fitted_to(*source.size)
            source, crop = object_crop(source, size=DEFAULT_SIZE)
            drags = replace(drags, document=document, crop=crop)
        elif source.size != (drags.crop.size, drags.crop.size):
            raise ValueError(
                f"image is {source.size[0]}x{source.size[1]} but the drags were prepared for a {drags.crop.size} px "
                "crop: connect the image output of Puppet-Master Prepare Image"
            )
        pixels = from_pil([source]).permute(0, 3, 1, 2)
        model_drags = drag_tensor(drags.tracks(frames), *drags.size)
        progress = comfy_env.Progress(steps)
        result = generate_frames(
            lambda: comfy_env.loaded(model),
            encoders,
            pixels,
            model_drags,
            steps=steps,
            min_guidance=min_cfg,
            max_guidance=cfg,
            seed=seed,
            negative=negative,
            decode_chunk_size=decode_chunk_size,
            callback=lambda index, total, latents: progress.step(index, latent_preview(latents)),
        )
        return (result,)
