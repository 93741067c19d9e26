"""ComfyUI's V3 node API as the pack uses it: the pinned `comfy_api.v0_0_2` (the version the nodes are written
and tested against; `comfy_api.latest` moves with every ComfyUI release), the pack's own socket types, its
category and search aliases.

Every node module imports the API from here, so a ComfyUI without it fails with one message naming the fix.
"""

from __future__ import annotations

try:
    from comfy_api.v0_0_2 import ComfyExtension, io
except ImportError as error:  # an old ComfyUI, or the nodes imported outside ComfyUI
    raise ImportError(
        "Puppet-Master's nodes are ComfyUI V3 nodes: they need ComfyUI >= 0.33.0 (comfy_api.v0_0_2). Update "
        "ComfyUI, or outside ComfyUI put its folder on sys.path (the tests find it through COMFYUI_PATH)."
    ) from error

__all__ = ["CATEGORY", "PM_CROP", "PM_DRAGS", "PM_SVD", "SEARCH_ALIASES", "ComfyExtension", "io", "pack_schema"]

CATEGORY = "Puppet-Master"
SEARCH_ALIASES = ["drag", "trajectory", "motion", "puppet", "part motion", "svd", "image to video"]

PM_SVD = io.Custom("PM_SVD")
"""The SVD VAE and CLIP image encoder (puppet_master.encoders.SVDEncoders)."""
PM_DRAGS = io.Custom("PM_DRAGS")
"""The drags and the crop applied since (nodes.types.DragSet)."""
PM_CROP = io.Custom("PM_CROP")
"""Where Prepare Image's crop lies in the original image (puppet_master.image.CropTransform)."""


def pack_schema(
    node_id: str, display_name: str, description: str, extra_aliases: tuple[str, ...] = (), **schema: object
) -> io.Schema:
    """A node's schema in the pack's category, found by the pack's search aliases (and its own extra ones)."""
    return io.Schema(
        node_id=node_id,
        display_name=display_name,
        category=CATEGORY,
        description=description,
        search_aliases=[*SEARCH_ALIASES, *extra_aliases],
        **schema,
    )
