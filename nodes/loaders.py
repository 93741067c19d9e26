"""Puppet-Master Loader (PM_MODEL) and Puppet-Master SVD Encoders (PM_SVD)."""

from __future__ import annotations

import torch

from puppet_master.encoders import SVDEncoders, load_svd_encoders
from puppet_master.loading import load_unet

from . import comfy_env
from .comfy_encoders import ManagedImageEmbedder, ManagedVideoAutoencoder

CATEGORY = "Puppet-Master"
WEIGHT_DTYPES = {"auto": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class PuppetMasterLoader:
    """Loads the Puppet-Master UNet from models/puppet_master, wrapped so ComfyUI manages its memory."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("PM_MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    DESCRIPTION = "Load the Puppet-Master UNet (model.safetensors, CC-BY-NC-SA-4.0) from models/puppet_master."

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 (ComfyUI's name)
        return {
            "required": {
                "unet_name": (comfy_env.model_names(), {"tooltip": "Puppet-Master weights in models/puppet_master"}),
                "weight_dtype": (list(WEIGHT_DTYPES), {"default": "auto", "tooltip": "auto: fp16/bf16 on GPU"}),
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
    FUNCTION = "load"
    DESCRIPTION = "For users without svd.safetensors: a diffusers-format stable-video-diffusion-img2vid folder."

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"svd_folder": (comfy_env.svd_folder_names(), {"tooltip": "in models/diffusers"})}}

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
