"""Puppet-Master Drags (the editor's drag document, a tracks string or core TRACKS -> PM_DRAGS and TRACKS) and
Puppet-Master Draw Drags."""

from __future__ import annotations

import numpy as np
import torch

from puppet_master.drags import MAX_IMAGE_SIDE, DragDocument, DragDocumentError, parse_drag_document
from puppet_master.video import draw_drags, draw_drags_on, from_pil

from . import comfy_env
from .images import first_image
from .start_points import TOOLTIP as START_POINTS_TOOLTIP
from .start_points import start_points
from .types import DragSet
from .v3 import PM_DRAGS, io, pack_schema

EMPTY_DOCUMENT = '{"version": 1, "width": 512, "height": 512, "drags": []}'
# The "ui" key naming the image the node ran on, for its editor (web/drag_editor.js). Not "images": the
# frontend would show that as a second, plain preview under the editor.
RUN_IMAGE_KEY = "pm_drag_image"


def document_from_core_tracks(tracks: dict, image_size: tuple[int, int]) -> DragDocument:
    """Core TRACKS (WanMove: "track_path" (T, N, 2) pixels) -> a drag document keeping each track's timing.

    Every track becomes a drag through its T positions, reached at times t/(T-1); a one-frame track is a
    zero-length drag (the point held still).
    """
    path = tracks.get("track_path") if isinstance(tracks, dict) else None
    if not isinstance(path, torch.Tensor) or path.ndim != 3 or path.shape[-1] != 2:
        raise ValueError('core_tracks must be TRACKS {"track_path": (frames, tracks, 2) pixels, ...}')
    points = path.detach().float().cpu().numpy().transpose(1, 0, 2)
    count = points.shape[1]
    times = np.linspace(0.0, 1.0, count).tolist() if count > 1 else [0.0, 1.0]
    drags = [
        {"points": (track if count > 1 else np.repeat(track, 2, axis=0)).tolist(), "times": times} for track in points
    ]
    width, height = image_size
    return parse_drag_document({"version": 1, "width": width, "height": height, "drags": drags}, image_size)


def to_core_tracks(drag_set: DragSet) -> dict:
    """The drags as core TRACKS on the source image: (frames, K, 2) pixel paths, all visible."""
    tracks = drag_set.document.tracks(drag_set.frames)
    path = torch.from_numpy(tracks.transpose(1, 0, 2).astype(np.float32))
    return {"track_path": path, "track_visibility": torch.ones(path.shape[:2], dtype=torch.bool)}


class PuppetMasterDrags(io.ComfyNode):
    """Drags drawn on the image (the editor's JSON document, or KJNodes/ATI/WanMove tracks) -> PM_DRAGS."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterDrags",
            display_name="Puppet-Master Drags",
            description=(
                "Draw up to 5 drags on the image in the node's editor (or type the JSON document); a connected tracks "
                "string (KJNodes SplineEditor, ATI, WanMove JSON) or core TRACKS replaces the editor's drags."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The image the drags are drawn on (the one the Sampler animates)"),
                io.String.Input(
                    "drags", multiline=True, default=EMPTY_DOCUMENT, tooltip="Drag document (image pixels)"
                ),
                io.Int.Input("frames", default=14, min=2, max=64, tooltip="Video length (trained on 14)"),
                io.String.Input(
                    "tracks",
                    optional=True,
                    force_input=True,
                    tooltip="KJNodes/ATI/WanMove tracks JSON; replaces the editor's drags",
                ),
                io.Tracks.Input(
                    "core_tracks",
                    optional=True,
                    tooltip="Core TRACKS (WanMove); one-frame tracks hold still; replaces the editor's drags",
                ),
            ],
            outputs=[
                PM_DRAGS.Output("drags", tooltip="The drags, for Prepare Image, Conditioning or the Sampler."),
                io.Image.Output("preview", tooltip="The image with the drags drawn."),
                io.Tracks.Output(
                    "tracks",
                    tooltip="The drags as core TRACKS (pixel paths per frame), e.g. for WanMove's track visualiser.",
                ),
                io.String.Output("start_points", tooltip=START_POINTS_TOOLTIP),  # last: saved links keep their slots
            ],
        )

    @classmethod
    def validate_inputs(cls, drags: str | None = None) -> bool | str:
        """The drag document alone (its points are checked against the image when the node runs).

        Only `drags`: ComfyUI reports a refusal once per input this function takes, each as "<input> -
        <message>", so taking `frames` too would blame it for every drag problem. `frames` is a whole number,
        which ComfyUI's own conversion and min/max check refuse by name."""
        if not isinstance(drags, str):
            return True
        try:
            is_tracks = drags.lstrip().startswith("[")
            parse_drag_document(drags, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE) if is_tracks else None)
        except DragDocumentError as error:
            return str(error)
        return True

    @classmethod
    def execute(
        cls, image: torch.Tensor, drags: str, frames: int, tracks: str | None = None, core_tracks: dict | None = None
    ) -> io.NodeOutput:
        source = first_image(image)
        use_tracks = tracks is not None and tracks.strip() not in ("", "[]")
        if core_tracks is not None and use_tracks:
            raise ValueError("connect either 'tracks' (a JSON string) or 'core_tracks' (TRACKS), not both")
        if core_tracks is not None:
            document = document_from_core_tracks(core_tracks, source.size)
        else:
            document = parse_drag_document(tracks if use_tracks else drags, image_size=source.size)
        drag_set = DragSet(document=document, frames=frames)
        preview = from_pil([draw_drags_on(source.convert("RGB"), drag_set.tracks(), frames - 1)])  # the last frame
        saved = comfy_env.save_temp_image(source)
        ui = {RUN_IMAGE_KEY: [saved]} if saved else None
        return io.NodeOutput(drag_set, preview, to_core_tracks(drag_set), start_points(document), ui=ui)


class PuppetMasterDrawDrags(io.ComfyNode):
    """Draw the drag tracks over frames (the model's crop, or the original image's size after Paste Back)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterDrawDrags",
            display_name="Puppet-Master Draw Drags",
            description="Draws the drag tracks over frames to check the motion (the crop's frames, or Paste Back's).",
            inputs=[
                io.Image.Input("frames", tooltip="Frames from the Sampler or Paste Back"),
                PM_DRAGS.Input("drags", tooltip="The drags the frames were generated with"),
            ],
            outputs=[io.Image.Output(tooltip="The frames with the drag tracks drawn.")],
        )

    @classmethod
    def execute(cls, frames: torch.Tensor, drags: DragSet) -> io.NodeOutput:
        count, height, width = frames.shape[:3]
        if (width, height) == drags.size:
            tracks = drags.tracks(count)
        else:
            document = drags.document
            tracks = document.tracks(count) * np.array([width / document.width, height / document.height])
        return io.NodeOutput(draw_drags(frames[..., :3], tracks))
