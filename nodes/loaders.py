"""Puppet-Master Loader (a native ComfyUI MODEL) and Puppet-Master SVD Encoders (PM_SVD)."""

from __future__ import annotations

import torch

from puppet_master.encoders import SVDEncoders, load_svd_encoders

from . import comfy_env
from .comfy_encoders import ManagedImageEmbedder, ManagedVideoAutoencoder
from .native_model import WEIGHT_DTYPES, load_native_model
from .v3 import PM_SVD, io, pack_schema


class PuppetMasterLoader(io.ComfyNode):
    """Loads the Puppet-Master UNet from models/puppet_master as a native ComfyUI MODEL (any sampler, guider,
    LoRA, compile or cache node drives it; ComfyUI manages its memory, fp8 included)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterLoader",
            display_name="Puppet-Master Loader",
            description=(
                "Load the Puppet-Master UNet (model.safetensors, CC-BY-NC-SA-4.0) from models/puppet_master as a "
                "MODEL. Core loaders (UNETLoader, ImageOnlyCheckpointLoader) cannot read it: they would see a plain "
                "SVD UNet without the drag layers."
            ),
            inputs=[
                io.Combo.Input(
                    "unet_name",
                    options=comfy_env.model_names(),
                    tooltip="Puppet-Master weights in models/puppet_master",
                ),
                io.Combo.Input(
                    "weight_dtype",
                    options=list(WEIGHT_DTYPES),
                    default="default",
                    tooltip="default: ComfyUI's choice for the device (fp16 on most GPUs); fp8 stores weights "
                    "in 8 bits and computes in a supported dtype; auto = default (older workflows)",
                ),
            ],
            outputs=[
                io.Model.Output(
                    "model",
                    tooltip="The Puppet-Master UNet as a native MODEL: for KSampler (with Puppet-Master Conditioning) "
                    "or the Sampler.",
                )
            ],
        )

    @classmethod
    def execute(cls, unet_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_native_model(comfy_env.model_path(unet_name), weight_dtype))


class PuppetMasterSVDEncoders(io.ComfyNode):
    """The SVD img2vid VAE + CLIP image encoder from a diffusers folder in models/diffusers, each loaded onto
    the GPU when used and left for ComfyUI to offload, like its own models."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterSVDEncoders",
            display_name="Puppet-Master SVD Encoders",
            description=(
                "The SVD img2vid VAE and CLIP image encoder from a diffusers folder in models/diffusers (for users "
                "without svd.safetensors)."
            ),
            inputs=[
                io.Combo.Input(
                    "svd_folder",
                    options=comfy_env.svd_folder_names(),
                    tooltip="An SVD img2vid diffusers folder in models/diffusers",
                )
            ],
            outputs=[
                PM_SVD.Output(
                    "encoders", tooltip="The SVD VAE and CLIP image encoder, for the Sampler's encoders input."
                )
            ],
        )

    @classmethod
    def execute(cls, svd_folder: str) -> io.NodeOutput:
        dtype = torch.float16 if comfy_env.torch_device().type == "cuda" else torch.float32
        encoders = load_svd_encoders(
            comfy_env.svd_folder_path(svd_folder), device=comfy_env.offload_device(), dtype=dtype
        )
        return io.NodeOutput(
            SVDEncoders(
                vae=ManagedVideoAutoencoder(encoders.vae), image_encoder=ManagedImageEmbedder(encoders.image_encoder)
            )
        )
