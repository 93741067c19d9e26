"""Puppet-Master Loader (a native ComfyUI MODEL) and Puppet-Master SVD Encoders (PM_SVD)."""

from __future__ import annotations

import torch

from puppet_master.encoders import SVDEncoders, load_svd_encoders

from . import comfy_env
from .comfy_encoders import ManagedImageEmbedder, ManagedVideoAutoencoder
from .native_model import WEIGHT_DTYPES, load_native_model

CATEGORY = "Puppet-Master"
SEARCH_ALIASES = ["drag", "trajectory", "motion", "puppet", "part motion", "svd", "image to video"]


class PuppetMasterLoader:
    """Loads the Puppet-Master UNet from models/puppet_master as a native ComfyUI MODEL (any sampler, guider,
    LoRA, compile or cache node drives it; ComfyUI manages its memory, fp8 included)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = (
        "The Puppet-Master UNet as a native MODEL: for KSampler (with Puppet-Master Conditioning) or the Sampler.",
    )
    FUNCTION = "load"
    DESCRIPTION = (
        "Load the Puppet-Master UNet (model.safetensors, CC-BY-NC-SA-4.0) from models/puppet_master as a MODEL. "
        "Core loaders (UNETLoader, ImageOnlyCheckpointLoader) cannot read it: they would see a plain SVD UNet "
        "without the drag layers."
    )
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 (ComfyUI's name)
        return {
            "required": {
                "unet_name": (comfy_env.model_names(), {"tooltip": "Puppet-Master weights in models/puppet_master"}),
                "weight_dtype": (
                    list(WEIGHT_DTYPES),
                    {
                        "default": "default",
                        "tooltip": "default: ComfyUI's choice for the device (fp16 on most GPUs); fp8 stores weights "
                        "in 8 bits and computes in a supported dtype; auto = default (older workflows)",
                    },
                ),
            }
        }

    def load(self, unet_name: str, weight_dtype: str) -> tuple[object]:
        return (load_native_model(comfy_env.model_path(unet_name), weight_dtype),)


class PuppetMasterSVDEncoders:
    """The SVD img2vid VAE + CLIP image encoder from a diffusers folder in models/diffusers, each loaded onto
    the GPU when used and left for ComfyUI to offload, like its own models."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("PM_SVD",)
    RETURN_NAMES = ("encoders",)
    OUTPUT_TOOLTIPS = ("The SVD VAE and CLIP image encoder, for the Sampler's encoders input.",)
    FUNCTION = "load"
    DESCRIPTION = (
        "The SVD img2vid VAE and CLIP image encoder from a diffusers folder in models/diffusers (for users "
        "without svd.safetensors)."
    )
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        tooltip = "An SVD img2vid diffusers folder in models/diffusers"
        return {"required": {"svd_folder": (comfy_env.svd_folder_names(), {"tooltip": tooltip})}}

    def load(self, svd_folder: str) -> tuple[SVDEncoders]:
        dtype = torch.float16 if comfy_env.torch_device().type == "cuda" else torch.float32
        encoders = load_svd_encoders(
            comfy_env.svd_folder_path(svd_folder), device=comfy_env.offload_device(), dtype=dtype
        )
        return (
            SVDEncoders(
                vae=ManagedVideoAutoencoder(encoders.vae), image_encoder=ManagedImageEmbedder(encoders.image_encoder)
            ),
        )
