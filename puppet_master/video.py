"""Frames to files (mp4, animated webp, gif) and drag tracks drawn over frames."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .values import finite_number, short

DRAG_COLOURS = ("#ff3b30", "#34c759", "#0a84ff", "#ff9f0a", "#bf5af2")
"""One colour per drag slot, in the order the model receives them (the editor widget uses the same)."""
VIDEO_FORMATS = (".mp4", ".webp", ".gif")


def to_pil(frames: torch.Tensor) -> list[Image.Image]:
    """(F, H, W, 3) floats in [0, 1] -> RGB images."""
    array = (frames.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(frame) for frame in array]


def from_pil(images: Sequence[Image.Image]) -> torch.Tensor:
    """RGB images -> (F, H, W, 3) floats in [0, 1]."""
    return torch.from_numpy(np.stack([np.asarray(image.convert("RGB")) for image in images]).astype(np.float32) / 255)


MAX_FPS = 240.0


def check_fps(fps: float, name: str = "fps") -> None:
    """A finite frame rate above 0 and at most MAX_FPS, or a ValueError naming it as `name` (the CLI: --fps)."""
    if finite_number(fps) is None or not 0 < fps <= MAX_FPS:
        raise ValueError(f"{name} must be a number above 0 and at most {MAX_FPS:g}, got {short(fps)}")


def check_output(path: str | Path, fps: float, name: str = "output") -> Path:
    """The output path and frame rate, checked before any work: a video file name (one of VIDEO_FORMATS), a
    writable folder, a finite positive fps. Raises ValueError naming the fix (and the path as `name`)."""
    path = Path(path)
    formats = f"{', '.join(VIDEO_FORMATS[:-1])} or {VIDEO_FORMATS[-1]}"
    if path.is_dir():
        raise ValueError(f"{name} {path} is a folder: give a video file name in it, e.g. {path / 'video.mp4'}")
    if path.suffix.lower() not in VIDEO_FORMATS:
        kind = f"{path.suffix} is not a video format written here" if path.suffix else "the name has no extension"
        raise ValueError(f"{name} {path}: {kind}; end the file name in {formats}, e.g. {path.with_suffix('.mp4')}")
    check_fps(fps)
    folder = next((parent for parent in path.absolute().parents if parent.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: {folder} is not a writable folder")
    return path


def save_video(frames: torch.Tensor | Iterable[Image.Image], path: str | Path, fps: float = 7.0) -> Path:
    """Write frames as .mp4 (H.264 via PyAV, any fps), animated .webp or .gif, by extension.

    `frames` is an (F, H, W, 3) tensor in [0, 1] or an iterable of RGB images; mp4 takes one image at a
    time, so a generator of frames is never held in memory at once."""
    path = check_output(path, fps)
    images = iter(to_pil(frames[i : i + 1])[0] for i in range(len(frames))) if torch.is_tensor(frames) else iter(frames)
    first = next(images, None)
    if first is None:
        raise ValueError("no frames to save")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".mp4":
        _save_mp4(itertools.chain([first], images), path, fps)
    else:
        duration = 1000 / fps
        extra = {"lossless": False, "quality": 90} if path.suffix.lower() == ".webp" else {"optimize": False}
        first.save(path, save_all=True, append_images=list(images), duration=duration, loop=0, **extra)
    return path


def _save_mp4(images: Iterator[Image.Image], path: Path, fps: float) -> None:
    import av

    first = next(images)
    width, height = first.size
    even = (width + width % 2, height + height % 2)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = even[0], even[1], "yuv420p"
        for image in itertools.chain([first], images):
            if image.size != even:
                padded = Image.new("RGB", even)
                padded.paste(image)
                image = padded
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def draw_drags(frames: torch.Tensor, tracks: np.ndarray, radius: float | None = None) -> torch.Tensor:
    """Draw each drag on each frame: its whole path faint, the travelled part solid, start and current dots.

    Args:
        frames: (F, H, W, 3) in [0, 1].
        tracks: (K, F, 2) pixel positions of the drags in these frames.
    """
    result = torch.empty((*frames.shape[:3], 3), dtype=torch.float32)
    for index in range(len(frames)):  # one frame at a time: memory is the result plus one frame
        image = draw_drags_on(to_pil(frames[index : index + 1, ..., :3])[0], tracks, index, radius)
        result[index] = from_pil([image])[0]
    return result


def draw_drags_on(image: Image.Image, tracks: np.ndarray, frame: int, radius: float | None = None) -> Image.Image:
    """Draw the drags as they are at `frame` on one RGB image, in place; returns it."""
    radius = radius if radius is not None else max(2.0, image.height / 80)
    width = max(1, round(radius / 2))
    draw = ImageDraw.Draw(image)
    for k, track in enumerate(tracks):
        colour = DRAG_COLOURS[k % len(DRAG_COLOURS)]
        points = [tuple(p) for p in track]
        draw.line(points, fill="white", width=width)
        draw.line(points[: frame + 1] if frame else points[:1] * 2, fill=colour, width=width + 1)
        (sx, sy), (cx, cy) = points[0], points[frame]
        draw.ellipse((sx - radius, sy - radius, sx + radius, sy + radius), outline=colour, width=width)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour, outline="white")
    return image
