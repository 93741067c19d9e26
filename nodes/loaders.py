"""Puppet-Master Loader (PM_MODEL) and Puppet-Master SVD Encoders (PM_SVD)."""

from __future__ import annotations

import torch

from puppet_master.encoders import SVDEncoders, load_svd_encoders
from puppet_master.loading import load_unet

from . import comfy_env
from .comfy_encoders import ManagedImageEmbedder, ManagedVideoAutoencoder

CATEGORY = "Puppet-Master"
SEARCH_ALIASES = ["drag", "trajectory", "motion", "puppet", "part motion", "svd", "image to video"]
WEIGHT_DTYPES = {"auto": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class PuppetMasterLoader:
    """Loads the Puppet-Master UNet from models/puppet_master, wrapped so ComfyUI manages its memory."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("PM_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The Puppet-Master UNet, for the Sampler's model input.",)
    FUNCTION = "load"
    DESCRIPTION = "Load the Puppet-Master UNet (model.safetensors, CC-BY-NC-SA-4.0) from models/puppet_master."
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 (ComfyUI's name)
        return {
            "required": {
                "unet_name": (comfy_env.model_names(), {"tooltip": "Puppet-Master weights in models/puppet_master"}),
                "weight_dtype": (
                    list(WEIGHT_DTYPES),
                    {"default": "auto", "tooltip": "UNet precision; auto: bf16/fp16 where the GPU has it, else fp32"},
                ),
            }
        }

    def load(self, unet_name: str, weight_dtype: str) -> tuple[object]:
        dtype = WEIGHT_DTYPES[weight_dtype] or comfy_env.auto_dtype(comfy_env.torch_device())
        unet = load_unet(comfy_env.model_path(unet_name), dtype=dtype, device=comfy_env.offload_device())
        return (comfy_env.wrap_model(unet),)


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
