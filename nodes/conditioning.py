"""Puppet-Master Conditioning: image + drags + the SVD encoders -> positive, negative, LATENT for any sampler.

The shape of core's SVD_img2vid_Conditioning: the positive carries the CLIP image embedding (cross-attention),
the image latent (`concat_latent_image`) and the drags (`DRAGS_KEY`, a value of its own, never inside the
cross-attention context); the negative is the official one (zero image latent, zero CLIP, zero drags) or
drags-only (image and CLIP kept, zero drags, the training-time dropout). The video length is the Drags
node's `frames`, carried by the drags.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from puppet_master.encoders import SVDEncoders
from puppet_master.image import object_crop
from puppet_master.sampler_settings import NEGATIVES, OFFICIAL_SETTINGS, check_negative
from puppet_master.video import from_pil

from .comfy_encoders import ComfyImageEmbedder, ComfyVideoAutoencoder
from .images import first_image
from .native_model import DRAGS_KEY
from .types import DragSet
from .v3 import PM_DRAGS, PM_SVD, io, pack_schema

DEFAULT_SIZE = 256
NEGATIVE_TOOLTIP = "Unconditional pass: official drops image, CLIP, drags; drags_only the drags"
CHECKPOINT_TOOLTIP = "From ImageOnlyCheckpointLoader(svd.safetensors)"
LATENT_CHANNELS = 4
LATENT_FACTOR = 8


@dataclass(frozen=True)
class ModelInputs:
    """The square frame the model sees and its drags."""

    pixels: torch.Tensor
    """(1, 3, S, S) in [0, 1]."""
    drags: torch.Tensor
    """(frames, K, 4) model drags."""


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


def model_inputs(image: torch.Tensor, drags: DragSet) -> ModelInputs:
    """The cropped frame and drags: Prepare Image's crop, or (without it) the image padded to a 256 px square."""
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
    return ModelInputs(pixels=pixels, drags=drags.crop.model_drags(drags.document.tracks(drags.frames)))


def drag_conditioning(encoders: SVDEncoders, inputs: ModelInputs, negative: str) -> tuple[list, list, dict]:
    """(positive, negative, LATENT) for `inputs`, encoded with `encoders`."""
    image_latent = encoders.vae.encode(inputs.pixels)
    embedding = encoders.image_encoder.embed(inputs.pixels)
    return conditioning_values(image_latent, embedding, inputs.drags, negative)


def conditioning_values(
    image_latent: torch.Tensor, embedding: torch.Tensor, drags: torch.Tensor, negative: str
) -> tuple[list, list, dict]:
    """(positive, negative, LATENT) from the encoded frame: (1, 4, h, w) unscaled image latent, (1, 1, D) CLIP
    image embedding and (frames, K, 4) drags."""
    check_negative(negative)
    image_latent, embedding, drags = (value.float().cpu() for value in (image_latent, embedding, drags))
    positive = [[embedding, {"concat_latent_image": image_latent, DRAGS_KEY: drags}]]
    if negative == "official":
        unconditional = [
            [
                torch.zeros_like(embedding),
                {"concat_latent_image": torch.zeros_like(image_latent), DRAGS_KEY: torch.zeros_like(drags)},
            ]
        ]
    else:
        unconditional = [[embedding, {"concat_latent_image": image_latent, DRAGS_KEY: torch.zeros_like(drags)}]]
    frames = drags.shape[0]
    latent = torch.zeros(frames, LATENT_CHANNELS, *image_latent.shape[-2:])
    return positive, unconditional, {"samples": latent}


class PuppetMasterConditioning(io.ComfyNode):
    """CLIP_VISION + VAE (ImageOnlyCheckpointLoader with svd.safetensors) or Puppet-Master SVD Encoders, image and
    drags -> the sampler's inputs."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterConditioning",
            display_name="Puppet-Master Conditioning",
            description=(
                "Conditioning for the Puppet-Master MODEL: connect positive/negative/latent to KSampler (euler, "
                "karras, cfg 5) after VideoLinearCFGGuidance (min_cfg 1) for the official settings. Frames come from "
                "the Drags node."
            ),
            extra_aliases=("conditioning", "img2vid conditioning"),
            inputs=[
                io.Image.Input("image", tooltip="The image the drags were drawn on, or Prepare Image's crop"),
                PM_DRAGS.Input("drags", tooltip="The drags (their frames is the video length)"),
                io.Combo.Input(
                    "negative",
                    options=list(NEGATIVES),
                    default=OFFICIAL_SETTINGS.negative,
                    tooltip=NEGATIVE_TOOLTIP,
                    advanced=True,
                ),
                io.ClipVision.Input("clip_vision", optional=True, tooltip=CHECKPOINT_TOOLTIP),
                io.Vae.Input("vae", optional=True, tooltip=CHECKPOINT_TOOLTIP),
                PM_SVD.Input(
                    "encoders", optional=True, tooltip="From Puppet-Master SVD Encoders (instead of clip_vision + vae)"
                ),
            ],
            outputs=[
                io.Conditioning.Output(
                    "positive", tooltip="Image embedding, image latent and drags, for the sampler's positive input."
                ),
                io.Conditioning.Output(
                    "negative",
                    tooltip="The unconditional conditioning (official: zero image, CLIP and drags), for the negative "
                    "input.",
                ),
                io.Latent.Output(
                    "latent",
                    tooltip="An empty latent of the video (frames x 4 x size/8 x size/8), for the sampler's "
                    "latent_image.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        image: torch.Tensor,
        drags: DragSet,
        negative: str,
        clip_vision: object | None = None,
        vae: object | None = None,
        encoders: SVDEncoders | None = None,
    ) -> io.NodeOutput:
        encoders = resolve_encoders(encoders, clip_vision, vae)
        return io.NodeOutput(*drag_conditioning(encoders, model_inputs(image, drags), negative))
