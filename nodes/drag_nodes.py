"""Puppet-Master Drags (the editor's drag document -> PM_DRAGS) and Puppet-Master Draw Drags."""

from __future__ import annotations

import numpy as np
import torch

from puppet_master.drags import MAX_IMAGE_SIDE, DragDocumentError, parse_drag_document
from puppet_master.video import draw_drags, draw_drags_on, from_pil

from . import comfy_env
from .checks import widget_problem
from .images import first_image
from .loaders import CATEGORY, SEARCH_ALIASES
from .types import DragSet

EMPTY_DOCUMENT = '{"version": 1, "width": 512, "height": 512, "drags": []}'
# The "ui" key naming the image the node ran on, for its editor (web/drag_editor.js). Not "images": the
# frontend would show that as a second, plain preview under the editor.
RUN_IMAGE_KEY = "pm_drag_image"


class PuppetMasterDrags:
    """Drags drawn on the image (the editor's JSON document, or KJNodes/ATI/WanMove tracks) -> PM_DRAGS."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("PM_DRAGS", "IMAGE")
    RETURN_NAMES = ("drags", "preview")
    OUTPUT_TOOLTIPS = ("The drags, for Prepare Image or the Sampler.", "The image with the drags drawn.")
    FUNCTION = "build"
    DESCRIPTION = (
        "Draw up to 5 drags on the image in the node's editor (or type the JSON document); a connected tracks "
        "string replaces the editor's drags."
    )
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image the drags are drawn on (the one the Sampler animates)"}),
                "drags": (
                    "STRING",
                    {"multiline": True, "default": EMPTY_DOCUMENT, "tooltip": "Drag document (image pixels)"},
                ),
                "frames": ("INT", {"default": 14, "min": 2, "max": 64, "tooltip": "Video length (trained on 14)"}),
            },
            "optional": {
                "tracks": (
                    "STRING",
                    {"forceInput": True, "tooltip": "KJNodes/ATI/WanMove tracks JSON; replaces the editor's drags"},
                )
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, drags: str | None = None, frames: int | None = None) -> bool | str:  # noqa: N802
        problem = widget_problem(cls, frames=frames)
        if problem or not isinstance(drags, str):
            return problem or True
        try:  # the document alone (its points are checked against the image when the node runs)
            is_tracks = drags.lstrip().startswith("[")
            parse_drag_document(drags, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE) if is_tracks else None)
        except DragDocumentError as error:
            return f"drags: {error}"
        return True

    def build(self, image: torch.Tensor, drags: str, frames: int, tracks: str | None = None) -> dict:
        source = first_image(image)
        use_tracks = tracks is not None and tracks.strip() not in ("", "[]")
        document = parse_drag_document(tracks if use_tracks else drags, image_size=source.size)
        drag_set = DragSet(document=document, frames=frames)
        preview = from_pil([draw_drags_on(source.convert("RGB"), drag_set.tracks(), frames - 1)])  # the last frame
        saved = comfy_env.save_temp_image(source)
        return {"ui": {RUN_IMAGE_KEY: [saved]} if saved else {}, "result": (drag_set, preview)}


class PuppetMasterDrawDrags:
    """Draw the drag tracks over frames (the model's crop, or the original image's size after Paste Back)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The frames with the drag tracks drawn.",)
    FUNCTION = "draw"
    DESCRIPTION = "Draws the drag tracks over frames to check the motion (the crop's frames, or Paste Back's)."
    SEARCH_ALIASES = SEARCH_ALIASES

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "Frames from the Sampler or Paste Back"}),
                "drags": ("PM_DRAGS", {"tooltip": "The drags the frames were generated with"}),
            }
        }

    def draw(self, frames: torch.Tensor, drags: DragSet) -> tuple[torch.Tensor]:
        count, height, width = frames.shape[:3]
        if (width, height) == drags.size:
            tracks = drags.tracks(count)
        else:
            document = drags.document
            tracks = document.tracks(count) * np.array([width / document.width, height / document.height])
        return (draw_drags(frames[..., :3], tracks),)
