"""Object-centric preprocessing (the official demo's crop) and pasting generated frames back.

With a mask (or an RGBA image's alpha) the object's bounding box is centred in a white square of side
2.2 x its larger side, cut, resized to `size` and composited over white in the official demo's order
(`docs/fidelity.md`). Without a mask the whole image is padded to a square with white (the official demo
stretches it instead, distorting non-square images). The same `CropTransform` maps drags into the crop and
generated frames back onto the original canvas.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .drags import drag_tensor
from .values import finite_number, short

WHITE = 255
OBJECT_THRESHOLD = 0.5
"""Mask/alpha values above this are the object when finding its box (JPEG or anti-alias residue is not)."""
MAX_CROP_SCALE = 10.0
MIN_IMAGE_SIDE = 16
"""Smallest width and height of an image to crop (pixels). Below it the 256 px frame would be blocks of
16 or more px per image pixel, nothing to animate: such an input is a placeholder or a wrong connection."""
EXACT_SQUARE_SIDE = 4096
"""Crop squares up to this side are resampled at full resolution, as the demo does. A larger square is
box-reduced by an integer factor to at most this side first (an approximation, `docs/fidelity.md`), so the
crop's memory stays a few times 4 bytes x this side squared whatever the image."""
BAND_ROWS = 256
"""Paste-back blends, and the crop quantises the mask, this many rows at a time, so float temporaries do
not grow with the image."""


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

    def model_drags(self, tracks: np.ndarray) -> torch.Tensor:
        """The (F, 5, 4) model drag tensor of (K, F, 2) tracks in original-image pixels: mapped into the crop
        and normalised by its side, (x - left) / side as the official demo remaps its clicks."""
        return drag_tensor(self.to_crop(tracks), self.size, self.size)


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
        return alpha if alpha.min() >= 0 and alpha.max() <= 1 else np.clip(alpha, 0, 1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
        return alpha if alpha.min() < 1 else None
    return None


def check_image_side(image: Image.Image, what: str = "image") -> None:
    """Refuse an image narrower or lower than MIN_IMAGE_SIDE with an `ImageInputError` naming its size."""
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageInputError(
            f"{what} is {width}x{height} pixels, smaller than the {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} minimum: "
            f"give the picture to animate (at least {MIN_IMAGE_SIDE} px wide and high), not a placeholder"
        )


def composite_on_white(image: Image.Image, alpha: np.ndarray | None = None) -> Image.Image:
    """The image over white as the official demo composites: in float32 rgb * a / 255 + 255 * (1 - a / 255),
    truncated to uint8 (`astype`, not rounded).

    `alpha` is an (H, W) opacity in [0, 1], used as the 8-bit alpha an RGBA image would carry (round(255 x
    alpha)); without it an RGBA image's own alpha is used and any other image is opaque (returned as RGB)."""
    if alpha is None and image.mode != "RGBA":
        return image.convert("RGB")
    if alpha is None:
        pixels = np.asarray(image, dtype=np.float32)
        rgb, opacity = pixels[..., :3], pixels[..., 3:]
    else:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        opacity = np.rint(np.asarray(alpha, dtype=np.float32) * WHITE)[..., None]
    flat = rgb * opacity / WHITE + WHITE * (1 - opacity / WHITE)
    return Image.fromarray(flat.astype(np.uint8))


def _object_box(alpha: np.ndarray, source: str) -> tuple[int, int, int, int]:
    """Inclusive (top, bottom, left, right) of the pixels above OBJECT_THRESHOLD, or an error naming the fix."""
    solid = alpha > OBJECT_THRESHOLD
    rows, columns = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not len(rows):
        fix = (
            "paint the object white in the mask, or give no mask to use the whole image"
            if source == "mask"
            else "make the object opaque, or give an image without transparency to use the whole image"
        )
        raise ImageInputError(
            f"{source} is empty: no value is above {OBJECT_THRESHOLD:g} (its largest is {float(alpha.max()):.2g}); "
            f"{fix}"
        )
    return int(rows[0]), int(rows[-1]), int(columns[0]), int(columns[-1])


def crop_window(
    size_of_image: tuple[int, int], alpha: np.ndarray | None, scale: float, size: int, source: str = "mask"
) -> CropTransform:
    """The square the official demo cuts (`center_and_square_image`) for a width x height image.

    With an alpha: centre = floor of the midpoint of the object box's inclusive extremes, side =
    int(larger extent x scale), left/top = centre - side // 2. Without: the whole image, centred."""
    width, height = size_of_image
    if alpha is None:
        side = max(width, height)
        centre_x, centre_y = width // 2, height // 2
    else:
        top, bottom, left, right = _object_box(alpha, source)
        side = max(1, int(max(bottom - top + 1, right - left + 1) * scale))
        centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    return CropTransform(
        left=centre_x - side // 2,
        top=centre_y - side // 2,
        side=side,
        size=size,
        original_width=width,
        original_height=height,
    )


def _opacity(alpha: np.ndarray, box: tuple[int, int, int, int]) -> Image.Image:
    """The 8-bit alpha (round(255 x alpha), as an RGBA image's) of a (left, top, right, bottom) region, as L."""
    left, top, right, bottom = box
    opacity = np.empty((bottom - top, right - left), dtype=np.uint8)
    for row in range(top, bottom, BAND_ROWS):
        band = alpha[row : min(row + BAND_ROWS, bottom), left:right]
        opacity[row - top : row - top + len(band)] = np.rint(band * WHITE)
    return Image.fromarray(opacity)


def _square(
    image: Image.Image, alpha: np.ndarray | None, crop: CropTransform
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The crop's square as an image (RGBA with an alpha, else RGB; opaque white past the image's edges) and
    the box within that image to resample. Only the part of the image inside the square is read.

    Up to EXACT_SQUARE_SIDE the image is the demo's square, pixel for pixel, and the box all of it. A larger
    square is box-reduced by the smallest integer factor that brings it to at most that side; the box then
    says where the square's (fractional) edges lie in the reduced image."""
    factor = -(-crop.side // EXACT_SQUARE_SIDE)
    right, bottom = crop.left + crop.side, crop.top + crop.side
    inside = (max(crop.left, 0), max(crop.top, 0), min(right, crop.original_width), min(bottom, crop.original_height))
    skip_x, skip_y = inside[0] - crop.left, inside[1] - crop.top
    offset = (-(-skip_x // factor), -(-skip_y // factor))
    box_left, box_top = offset[0] - skip_x / factor, offset[1] - skip_y / factor
    box = (box_left, box_top, box_left + crop.side / factor, box_top + crop.side / factor)
    mode = "RGB" if alpha is None else "RGBA"
    canvas_side = math.ceil(max(box[2], box[3]))
    square = Image.new(mode, (canvas_side, canvas_side), (WHITE,) * len(mode))
    region = image.reduce(factor, box=inside)
    if alpha is not None:
        region.putalpha(_opacity(alpha, inside).reduce(factor))
    square.paste(region, offset)
    return square, box


def object_crop(
    image: Image.Image, mask: Image.Image | np.ndarray | None = None, scale: float = 2.2, size: int = 256
) -> tuple[Image.Image, CropTransform]:
    """Crop the object into a white `size` x `size` square; also return the transform for drags and paste-back.

    The library's one crop (CLI, pipeline, Prepare Image, Conditioning). For a binary mask it is the
    official demo's, bit for bit: the square of `crop_window`, padded with opaque white, resized as RGBA with
    LANCZOS, then composited over white (`composite_on_white`).

    Args:
        image: RGB or RGBA image (alpha is the object mask when no `mask` is given); other modes
            (16-bit, float, palette, CMYK) are converted by their range. At least MIN_IMAGE_SIDE px.
        mask: optional (H, W) object mask (0..1 or 0..255); pixels above 0.5 make the object's box, and
            the mask (as 8-bit alpha) is the opacity of the composite.
        scale: square side as a multiple of the object's larger bounding-box side (official 2.2).
        size: output side in pixels (official 256; the UNet's latent is size / 8).

    Memory follows the square, not the image: only the part of the image inside the square is read.
    """
    if finite_number(scale) is None:
        raise ImageInputError(f"scale must be a finite number, got {short(scale)}")
    if not 0 < scale <= MAX_CROP_SCALE:
        raise ImageInputError(f"scale must be in (0, {MAX_CROP_SCALE:g}] (official 2.2), got {short(scale)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 4096:
        raise ImageInputError(f"size must be a whole number of pixels, at least 8 and at most 4096, got {short(size)}")
    image = normalised(image)
    check_image_side(image)
    alpha = _alpha(image, mask)
    crop = crop_window(image.size, alpha, scale, size, "mask" if mask is not None else "image's alpha channel")
    square, box = _square(image, alpha, crop)
    return composite_on_white(square.resize((size, size), Image.LANCZOS, box=box)), crop


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
    check_image_side(original, "original")
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
