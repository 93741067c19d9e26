"""ComfyUI IMAGE / MASK tensors <-> what the library takes."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from puppet_master.video import to_pil


def first_image(image: torch.Tensor, name: str = "image") -> Image.Image:
    """The first image of a (B, H, W, C) IMAGE batch as RGB(A) PIL."""
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"{name} must be a ComfyUI IMAGE (batch, height, width, 3), got shape {tuple(image.shape)}")
    if image.shape[0] == 0 or not bool(torch.isfinite(image[0]).all()):
        raise ValueError(f"{name} is empty or contains NaN or infinite values: connect a loaded image")
    if image.shape[-1] == 4:
        array = (image[0].clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return Image.fromarray(array, "RGBA")
    return to_pil(image[:1])[0]


def mask_array(mask: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray | None:
    """A ComfyUI MASK ((B,) H, W) as an (H, W) array in [0, 1], checked against the image size (W, H).

    An all-zero mask (nothing painted; LoadImage gives a 64x64 one for images without alpha) means no mask.
    """
    if mask is None:
        return None
    array = (mask[0] if mask.ndim == 3 else mask).float().cpu().numpy()
    if not array.any():
        return None
    if array.shape != (size[1], size[0]):
        raise ValueError(
            f"mask is {array.shape[1]}x{array.shape[0]} but the image is {size[0]}x{size[1]}: "
            "use a mask of the image's size"
        )
    return array
