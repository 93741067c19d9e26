"""Puppet-Master Prepare Image (object-centric crop) and Puppet-Master Paste Back."""

from __future__ import annotations

from dataclasses import replace

import torch

from puppet_master.image import CropTransform, object_crop, paste_back
from puppet_master.video import from_pil

from .checks import widget_problem
from .images import first_image, mask_array
from .loaders import CATEGORY, SEARCH_ALIASES
from .types import DragSet


class PuppetMasterPrepareImage:
    """The official crop: the object (mask, or the image's alpha) centred in a white square, resized; the
    drags follow. Without a mask the image is padded to a square (never stretched)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "PM_DRAGS", "PM_CROP")
    RETURN_NAMES = ("image", "drags", "crop")
    OUTPUT_TOOLTIPS = (
        "The square crop, for the Sampler.",
        "The drags in the crop's pixels.",
        "Where the crop lies in the original image, for Paste Back.",
    )
    FUNCTION = "prepare"
    DESCRIPTION = (
        "The official object-centric crop: the object (mask) centred in a white square and resized; the drags "
        "follow. Without a mask the image is padded to a square."
    )
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image the drags were drawn on"}),
                "drags": ("PM_DRAGS", {"tooltip": "Drags from Puppet-Master Drags"}),
                "scale": (
                    "FLOAT",
                    {
                        "default": 2.2,
                        "min": 1.0,
                        "max": 5.0,
                        "step": 0.05,
                        "tooltip": "Crop side relative to the object's box (official 2.2)",
                    },
                ),
                "size": (
                    "INT",
                    {"default": 256, "min": 64, "max": 1024, "step": 8, "tooltip": "Crop side in pixels = video size"},
                ),
            },
            "optional": {"mask": ("MASK", {"tooltip": "1 on the object (paint it in the mask editor)"})},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, scale: float | None = None, size: int | None = None) -> bool | str:  # noqa: N802
        return widget_problem(cls, scale=scale, size=size) or True

    def prepare(
        self, image: torch.Tensor, drags: DragSet, scale: float, size: int, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, DragSet, CropTransform]:
        source = first_image(image)
        cropped, crop = object_crop(source, mask_array(mask, source.size), scale=scale, size=size)
        document = drags.document.fitted_to(*source.size)
        return from_pil([cropped]), replace(drags, document=document, crop=crop), crop


class PuppetMasterPasteBack:
    """Generated crop frames back onto the original image, at its resolution."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The frames at the original image's size.",)
    FUNCTION = "paste"
    DESCRIPTION = "Puts the generated crop frames back onto the original image, at its resolution."
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "Frames from the Sampler"}),
                "crop": ("PM_CROP", {"tooltip": "The crop output of Prepare Image"}),
                "original": ("IMAGE", {"tooltip": "The image given to Prepare Image"}),
            },
            "optional": {"mask": ("MASK", {"tooltip": "Object mask: outside the object the original stays"})},
        }

    def paste(
        self, frames: torch.Tensor, crop: CropTransform, original: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor]:
        source = first_image(original, "original")
        if source.size != (crop.original_width, crop.original_height):
            raise ValueError(
                f"original is {source.size[0]}x{source.size[1]} but the crop was made from a "
                f"{crop.original_width}x{crop.original_height} image: connect the image given to Prepare Image"
            )
        return (paste_back(frames[..., :3], crop, source, mask_array(mask, source.size)),)
