"""Object-centric preprocessing (the official demo's crop) and pasting generated frames back.

With a mask (or an RGBA image's alpha) the object's bounding box is centred in a white square of side
max(h, w) * scale, cropped and resized to `size`, as the official demo does after segmentation.
Without a mask the whole image is padded to a square with white (the official demo stretches it
instead, distorting non-square images). The same `CropTransform` maps drags into the crop and
generated frames back onto the original canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

WHITE = 255


@dataclass(frozen=True)
class CropTransform:
    """A square region of the original image (left, top, side; may extend past its edges) shown at `size`."""

    left: int
    top: int
    side: int
    size: int
    original_width: int
    original_height: int

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Original-image pixels -> crop pixels (any shape ending in (x, y))."""
        return (np.asarray(points, dtype=np.float64) - (self.left, self.top)) * (self.size / self.side)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels -> original-image pixels."""
        return np.asarray(points, dtype=np.float64) * (self.side / self.size) + (self.left, self.top)


def _alpha(image: Image.Image, mask: Image.Image | np.ndarray | None) -> np.ndarray | None:
    """Object opacity in [0, 1] (H, W) from an explicit mask or the image's alpha channel, else None."""
    if mask is not None:
        alpha = np.asarray(mask, dtype=np.float32)
        if alpha.ndim == 3:
            alpha = alpha[..., -1] if alpha.shape[-1] in (2, 4) else alpha.mean(axis=-1)
        if alpha.max() > 1:
            alpha = alpha / 255.0
        if alpha.shape != (image.height, image.width):
            raise ValueError(
                f"mask is {alpha.shape[1]}x{alpha.shape[0]} but the image is {image.width}x{image.height}: "
                "give a mask of the image's size"
            )
        return np.clip(alpha, 0, 1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
        return alpha if alpha.min() < 1 else None
    return None


def composite_on_white(image: Image.Image, alpha: np.ndarray | None) -> Image.Image:
    """RGB image with rgb*alpha + 255*(1-alpha)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    if alpha is not None:
        rgb = rgb * alpha[..., None] + WHITE * (1 - alpha[..., None])
    return Image.fromarray(np.round(rgb).clip(0, 255).astype(np.uint8))


def object_crop(
    image: Image.Image, mask: Image.Image | np.ndarray | None = None, scale: float = 2.2, size: int = 256
) -> tuple[Image.Image, CropTransform]:
    """Crop the object into a white `size` x `size` square; also return the transform for drags and paste-back.

    Args:
        image: RGB or RGBA image (alpha is the object mask when no `mask` is given).
        mask: optional (H, W) object mask (0..1 or 0..255); nonzero pixels are the object.
        scale: square side as a multiple of the object's larger bounding-box side (official 2.2).
        size: output side in pixels (official 256; the UNet's latent is size / 8).
    """
    if scale <= 0 or size < 8:
        raise ValueError(f"scale must be > 0 and size at least 8, got scale={scale}, size={size}")
    alpha = _alpha(image, mask)
    width, height = image.size
    if alpha is not None and alpha.max() > 0:
        rows, columns = np.nonzero(alpha > 0)
        top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
        side = max(1, int(max(bottom - top, right - left) * scale))
        centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    elif alpha is not None:
        raise ValueError("the mask is empty (no object pixels): give a mask that covers the object, or none")
    else:
        side = max(width, height)
        centre_x, centre_y = width // 2, height // 2
    transform = CropTransform(
        left=int(centre_x - side // 2),
        top=int(centre_y - side // 2),
        side=int(side),
        size=size,
        original_width=width,
        original_height=height,
    )
    flat = composite_on_white(image, alpha)
    canvas = Image.new("RGB", (side, side), (WHITE, WHITE, WHITE))
    canvas.paste(flat, (-transform.left, -transform.top))
    return canvas.resize((size, size), Image.LANCZOS), transform


def paste_back(
    frames: torch.Tensor,
    transform: CropTransform,
    original: Image.Image,
    mask: Image.Image | np.ndarray | None = None,
    foreground_threshold: float = 0.08,
) -> torch.Tensor:
    """Put generated (F, size, size, 3) frames in [0, 1] back onto the original canvas.

    Without a mask the crop region replaces the image. With a mask (or alpha) the original image is
    kept outside the object: a pixel shows the generated frame where the original object was or where
    the frame is not background white (the moved parts), so the result keeps the user's resolution
    and background.

    Returns:
        (F, original_height, original_width, 3) float tensor in [0, 1].
    """
    count = frames.shape[0]
    width, height = transform.original_width, transform.original_height
    placed = []
    for frame in frames.clamp(0, 1).cpu().numpy():
        region = Image.fromarray(np.round(frame * 255).astype(np.uint8)).resize(
            (transform.side, transform.side), Image.LANCZOS
        )
        canvas = Image.new("RGB", (width, height))
        canvas.paste(region, (transform.left, transform.top))
        placed.append(np.asarray(canvas, dtype=np.float32) / 255.0)
    generated = np.stack(placed) if count else np.zeros((0, height, width, 3), dtype=np.float32)
    alpha = _alpha(original, mask)
    if alpha is None:
        return torch.from_numpy(generated)
    background = np.asarray(original.convert("RGB"), dtype=np.float32) / 255.0
    inside = np.zeros((height, width), dtype=np.float32)
    rows = slice(max(transform.top, 0), transform.top + transform.side)
    columns = slice(max(transform.left, 0), transform.left + transform.side)
    inside[rows, columns] = 1
    moved = np.clip((1 - generated.min(axis=-1)) / foreground_threshold, 0, 1)
    weight = (np.maximum(alpha[None], moved) * inside)[..., None]
    return torch.from_numpy(generated * weight + background[None] * (1 - weight))
