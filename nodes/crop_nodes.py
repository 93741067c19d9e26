"""Puppet-Master Prepare Image (object-centric crop) and Puppet-Master Paste Back."""

from __future__ import annotations

from dataclasses import replace

import torch

from puppet_master.image import CropTransform, object_crop, paste_back
from puppet_master.video import from_pil

from .checks import widget_problem
from .images import first_image, mask_array
from .types import DragSet
from .v3 import PM_CROP, PM_DRAGS, io, pack_schema


class PuppetMasterPrepareImage(io.ComfyNode):
    """The official crop: the object (mask, or the image's alpha) centred in a white square, resized; the
    drags follow. Without a mask the image is padded to a square (never stretched)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterPrepareImage",
            display_name="Puppet-Master Prepare Image",
            description=(
                "The official object-centric crop: the object (mask) centred in a white square and resized; the drags "
                "follow. Without a mask the image is padded to a square."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The image the drags were drawn on"),
                PM_DRAGS.Input("drags", tooltip="Drags from Puppet-Master Drags"),
                io.Float.Input(
                    "scale",
                    default=2.2,
                    min=1.0,
                    max=5.0,
                    step=0.05,
                    tooltip="Crop side relative to the object's box (official 2.2)",
                ),
                io.Int.Input("size", default=256, min=64, max=1024, step=8, tooltip="Crop side in pixels = video size"),
                io.Mask.Input("mask", optional=True, tooltip="1 on the object (paint it in the mask editor)"),
            ],
            outputs=[
                io.Image.Output("image", tooltip="The square crop, for the Sampler."),
                PM_DRAGS.Output("drags", tooltip="The drags in the crop's pixels."),
                PM_CROP.Output("crop", tooltip="Where the crop lies in the original image, for Paste Back."),
            ],
        )

    @classmethod
    def validate_inputs(cls, scale: float | None = None) -> bool | str:
        """Only `scale` (ComfyUI lets NaN through a float's min/max): a refusal is reported once per input
        taken here, so `size`, a whole number ComfyUI checks itself, stays out of it."""
        return widget_problem(cls, scale=scale) or True

    @classmethod
    def execute(
        cls, image: torch.Tensor, drags: DragSet, scale: float, size: int, mask: torch.Tensor | None = None
    ) -> io.NodeOutput:
        source = first_image(image)
        cropped, crop = object_crop(source, mask_array(mask, source.size), scale=scale, size=size)
        document = drags.document.fitted_to(*source.size)
        return io.NodeOutput(from_pil([cropped]), replace(drags, document=document, crop=crop), crop)


class PuppetMasterPasteBack(io.ComfyNode):
    """Generated crop frames back onto the original image, at its resolution."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterPasteBack",
            display_name="Puppet-Master Paste Back",
            description="Puts the generated crop frames back onto the original image, at its resolution.",
            inputs=[
                io.Image.Input("frames", tooltip="Frames from the Sampler"),
                PM_CROP.Input("crop", tooltip="The crop output of Prepare Image"),
                io.Image.Input("original", tooltip="The image given to Prepare Image"),
                io.Mask.Input("mask", optional=True, tooltip="Object mask: outside the object the original stays"),
            ],
            outputs=[io.Image.Output(tooltip="The frames at the original image's size.")],
        )

    @classmethod
    def execute(
        cls, frames: torch.Tensor, crop: CropTransform, original: torch.Tensor, mask: torch.Tensor | None = None
    ) -> io.NodeOutput:
        source = first_image(original, "original")
        if source.size != (crop.original_width, crop.original_height):
            raise ValueError(
                f"original is {source.size[0]}x{source.size[1]} but the crop was made from a "
                f"{crop.original_width}x{crop.original_height} image: connect the image given to Prepare Image"
            )
        return io.NodeOutput(paste_back(frames[..., :3], crop, source, mask_array(mask, source.size)))
