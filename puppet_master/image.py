"""Object-centric preprocessing (the official demo's crop) and pasting generated frames back.

With a mask (or an RGBA image's alpha) the object's bounding box is centred in a white square of side
max(h, w) * scale, cropped and resized to `size`, as the official demo does after segmentation.
Without a mask the whole image is padded to a square with white (the official demo stretches it
instead, distorting non-square images). The same `CropTransform` maps drags into the crop and
generated frames back onto the original canvas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .values import finite_number, short

WHITE = 255
OBJECT_THRESHOLD = 0.5
"""Mask/alpha values above this are the object when finding its box (JPEG or anti-alias residue is not)."""
MAX_CROP_SCALE = 10.0
BAND_ROWS = 256
"""Paste-back blends this many rows at a time, so its float temporaries do not grow with the image."""
OVERSAMPLING = 2
"""The crop is resampled from at most this many source pixels per output pixel (larger images are
reduced first, so memory follows the crop, not the input)."""


class ImageInputError(ValueError):
    """An image or mask that cannot be used; the message names the file or input and the fix."""


def load_image(path: str | Path, what: str = "image") -> Image.Image:
    """Open an image file fully, upright (EXIF orientation applied), or raise `ImageInputError` saying why."""
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"{what} file not found: {path}")
    if path.stat().st_size == 0:
        raise ImageInputError(f"{what} file {path} is empty (0 bytes): give a PNG, JPEG or WEBP image")
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise ImageInputError(f"{what} file {path} is not an image PIL can read: give a PNG, JPEG or WEBP") from None
    except Image.DecompressionBombError as error:
        raise ImageInputError(f"{what} file {path} is too large to open safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"{what} file {path} is damaged or truncated ({error}): save it again") from None


def load_mask(path: str | Path) -> np.ndarray:
    """An object mask file (white = object) as an (H, W) float32 array in [0, 1], upright."""
    mask = load_image(path, "mask")
    gray = _eight_bit(mask) if mask.mode in ("I", "F") or mask.mode.startswith("I;16") else mask.convert("L")
    return np.asarray(gray, dtype=np.float32) / 255.0


def _eight_bit(image: Image.Image) -> Image.Image:
    """Integer (I, I;16) and float (F) images as 8-bit L, scaled by their range, never clipped to white."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and array.max(initial=0) > 255):
        array = array / 257.0
    elif image.mode == "F" and array.max(initial=0) <= 1:
        array = array * 255.0
    return Image.fromarray(np.nan_to_num(array).round().clip(0, 255).astype(np.uint8), "L")


def normalised(image: Image.Image) -> Image.Image:
    """The image as RGB, or RGBA when it has transparency (16-bit, float, palette, CMYK, ... converted)."""
    if not isinstance(image, Image.Image):
        raise ImageInputError(
            f"image must be a PIL image, got {type(image).__name__}: open files with puppet_master.image.load_image"
        )
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return _eight_bit(image).convert("RGB")
    if image.mode in ("LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")


def _mask_values(mask: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(mask, Image.Image):
        if mask.mode in ("I", "F") or mask.mode.startswith("I;16"):
            mask = _eight_bit(mask)
        return np.asarray(mask, dtype=np.float32)
    if not isinstance(mask, np.ndarray | torch.Tensor):
        raise ImageInputError(f"mask must be a PIL image or an (H, W) array, got {type(mask).__name__}")
    return np.asarray(mask, dtype=np.float32)


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
        alpha = _mask_values(mask)
        if alpha.ndim == 3:
            alpha = alpha[..., -1] if alpha.shape[-1] in (2, 4) else alpha.mean(axis=-1)
        if alpha.ndim != 2 or alpha.shape != (image.height, image.width):
            shown = f"{alpha.shape[1]}x{alpha.shape[0]}" if alpha.ndim == 2 else f"of shape {alpha.shape}"
            raise ImageInputError(
                f"mask is {shown} but the image is {image.width}x{image.height}: give a mask of the image's size"
            )
        if not np.isfinite(alpha).all():
            raise ImageInputError("mask contains NaN or infinite values: give values in 0..1 (or 0..255)")
        if alpha.max() > 1:
            alpha = alpha / 255.0
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


def _object_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels above OBJECT_THRESHOLD, or an error naming the fix."""
    solid = alpha > OBJECT_THRESHOLD
    rows, columns = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not len(rows):
        faint = " (only faint values below 0.5)" if alpha.max() > 0 else ""
        raise ImageInputError(
            f"the mask is empty{faint} (no object pixels): give a mask that covers the object, or none"
        )
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def _reduced(image: Image.Image, alpha: np.ndarray | None, factor: int) -> tuple[Image.Image, np.ndarray | None]:
    """The image (and alpha) shrunk by an integer factor with a box filter, before any float copy is made."""
    if factor == 1:
        return image, alpha
    small = image.reduce(factor)
    if alpha is not None:
        alpha = np.asarray(Image.fromarray(alpha.astype(np.float32), "F").reduce(factor), dtype=np.float32)
    return small, alpha


def object_crop(
    image: Image.Image, mask: Image.Image | np.ndarray | None = None, scale: float = 2.2, size: int = 256
) -> tuple[Image.Image, CropTransform]:
    """Crop the object into a white `size` x `size` square; also return the transform for drags and paste-back.

    Args:
        image: RGB or RGBA image (alpha is the object mask when no `mask` is given); other modes
            (16-bit, float, palette, CMYK) are converted by their range.
        mask: optional (H, W) object mask (0..1 or 0..255); pixels above 0.5 are the object's box.
        scale: square side as a multiple of the object's larger bounding-box side (official 2.2).
        size: output side in pixels (official 256; the UNet's latent is size / 8).

    An input much larger than the crop needs is reduced first, so memory follows `size`, not the image.
    """
    if finite_number(scale) is None:
        raise ImageInputError(f"scale must be a finite number, got {short(scale)}")
    if not 0 < scale <= MAX_CROP_SCALE:
        raise ImageInputError(f"scale must be in (0, {MAX_CROP_SCALE:g}] (official 2.2), got {short(scale)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 4096:
        raise ImageInputError(f"size must be a whole number of pixels, at least 8 and at most 4096, got {short(size)}")
    image = normalised(image)
    alpha = _alpha(image, mask)
    width, height = image.size
    if alpha is not None and alpha.max() > 0:
        top, bottom, left, right = _object_box(alpha)
        side = max(1, int(max(bottom - top, right - left) * scale))
        centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    elif alpha is not None:
        raise ImageInputError("the mask is empty (no object pixels): give a mask that covers the object, or none")
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
    factor = max(1, side // (OVERSAMPLING * size))
    source, source_alpha = _reduced(image, alpha, factor)
    flat = composite_on_white(source, source_alpha)
    canvas_side = max(1, round(side / factor))
    canvas = Image.new("RGB", (canvas_side, canvas_side), (WHITE, WHITE, WHITE))
    canvas.paste(flat, (round(-transform.left / factor), round(-transform.top / factor)))
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
    and background. Memory: the result plus one frame's work.

    Returns:
        (F, original_height, original_width, 3) float tensor in [0, 1].
    """
    width, height = transform.original_width, transform.original_height
    result = torch.empty((frames.shape[0], height, width, 3), dtype=torch.float32)
    for index, frame in enumerate(paste_back_frames(frames, transform, original, mask, foreground_threshold)):
        result[index] = torch.from_numpy(frame)
    return result


def paste_back_frames(
    frames: torch.Tensor,
    transform: CropTransform,
    original: Image.Image,
    mask: Image.Image | np.ndarray | None = None,
    foreground_threshold: float = 0.08,
) -> Iterator[np.ndarray]:
    """`paste_back` one (H, W, 3) float32 frame at a time (a video writer can take each as it comes).

    Working memory besides the yielded frame: the original and mask as they are, one resized uint8
    crop, and float temporaries of BAND_ROWS rows."""
    original = normalised(original)
    width, height = transform.original_width, transform.original_height
    alpha = _alpha(original, mask)
    background = np.asarray(original.convert("RGB")) if alpha is not None else None
    x0, y0 = max(transform.left, 0), max(transform.top, 0)
    x1, y1 = min(transform.left + transform.side, width), min(transform.top + transform.side, height)
    to_frame = transform.size / transform.side
    box = ((x0 - transform.left) * to_frame, (y0 - transform.top) * to_frame,
           (x1 - transform.left) * to_frame, (y1 - transform.top) * to_frame)  # fmt: skip
    for frame in frames:
        pixels = Image.fromarray(np.round(frame.clamp(0, 1).cpu().numpy() * 255).astype(np.uint8))
        result = np.zeros((height, width, 3), dtype=np.float32)
        if background is not None:
            np.divide(background, 255.0, out=result, dtype=np.float32)
        if x1 <= x0 or y1 <= y0:
            yield result
            continue
        region = np.asarray(pixels.resize((x1 - x0, y1 - y0), Image.LANCZOS, box=box))
        for top in range(0, y1 - y0, BAND_ROWS):
            band = region[top : top + BAND_ROWS].astype(np.float32) / 255.0
            rows = slice(y0 + top, y0 + top + len(band))
            if alpha is None:
                result[rows, x0:x1] = band
                continue
            moved = np.clip((1 - band.min(axis=-1)) / foreground_threshold, 0, 1)
            weight = np.maximum(alpha[rows, x0:x1], moved)[..., None]
            result[rows, x0:x1] = band * weight + result[rows, x0:x1] * (1 - weight)
        yield result
