"""Puppet-Master (arXiv 2408.04631): interactive video generation from one image and a few drags.

The generation API, importable from here::

    from puppet_master import PuppetMasterPipeline, load_image, load_mask, save_video

Every name is imported on first use, so `import puppet_master` (and `python -m puppet_master --help`)
loads neither torch nor diffusers. The benchmark and the self-check are in `puppet_master.diagnostics`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "PuppetMasterPipeline",
    "GenerationResult",
    "load_unet",
    "save_unet",
    "unet_from_svd",
    "CheckpointError",
    "PuppetMasterUNet",
    "SamplerSettings",
    "sample",
    "sample_video",
    "generate_frames",
    "GenerationCancelled",
    "load_svd_encoders",
    "parse_drag_document",
    "DragDocument",
    "DragDocumentError",
    "load_image",
    "load_mask",
    "object_crop",
    "paste_back",
    "CropTransform",
    "ImageInputError",
    "save_video",
]
_HOME = {
    **dict.fromkeys(("PuppetMasterPipeline", "GenerationResult", "sample_video", "generate_frames"), "pipeline"),
    **dict.fromkeys(("load_unet", "save_unet", "unet_from_svd", "CheckpointError"), "loading"),
    "PuppetMasterUNet": "model",
    "SamplerSettings": "sampler_settings",
    **dict.fromkeys(("sample", "GenerationCancelled"), "sampling"),
    "load_svd_encoders": "encoders",
    **dict.fromkeys(("parse_drag_document", "DragDocument", "DragDocumentError"), "drags"),
    **dict.fromkeys(
        ("load_image", "load_mask", "object_crop", "paste_back", "CropTransform", "ImageInputError"), "image"
    ),
    "save_video": "video",
}
"""The module each name of `__all__` is imported from (a test keeps the two, and the imports below, equal)."""

if TYPE_CHECKING:  # what editors and type checkers see; at run time `__getattr__` imports on first use
    from .drags import DragDocument, DragDocumentError, parse_drag_document
    from .encoders import load_svd_encoders
    from .image import CropTransform, ImageInputError, load_image, load_mask, object_crop, paste_back
    from .loading import CheckpointError, load_unet, save_unet, unet_from_svd
    from .model import PuppetMasterUNet
    from .pipeline import GenerationResult, PuppetMasterPipeline, generate_frames, sample_video
    from .sampler_settings import SamplerSettings
    from .sampling import GenerationCancelled, sample
    from .video import save_video


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for (PEP 562)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'puppet_master' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
