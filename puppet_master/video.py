"""Frames to files (mp4, animated webp, gif) and drag tracks drawn over frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

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


def save_video(frames: torch.Tensor, path: str | Path, fps: float = 7.0) -> Path:
    """Write (F, H, W, 3) frames in [0, 1] as .mp4 (H.264 via PyAV), animated .webp or .gif, by extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise ValueError(f"unsupported output {path.name}: use one of {', '.join(VIDEO_FORMATS)}")
    images = to_pil(frames)
    if not images:
        raise ValueError("no frames to save")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mp4":
        _save_mp4(images, path, fps)
    else:
        duration = round(1000 / fps)
        extra = {"lossless": False, "quality": 90} if suffix == ".webp" else {"optimize": False}
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, **extra)
    return path


def _save_mp4(images: list[Image.Image], path: Path, fps: float) -> None:
    import av

    width, height = images[0].size
    even = (width + width % 2, height + height % 2)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = even[0], even[1], "yuv420p"
        for image in images:
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
    images = to_pil(frames)
    height = images[0].height if images else 0
    radius = radius if radius is not None else max(2.0, height / 80)
    width = max(1, round(radius / 2))
    for f, image in enumerate(images):
        draw = ImageDraw.Draw(image)
        for k, track in enumerate(tracks):
            colour = DRAG_COLOURS[k % len(DRAG_COLOURS)]
            points = [tuple(p) for p in track]
            draw.line(points, fill="white", width=width)
            draw.line(points[: f + 1] if f else points[:1] * 2, fill=colour, width=width + 1)
            (sx, sy), (cx, cy) = points[0], points[f]
            draw.ellipse((sx - radius, sy - radius, sx + radius, sy + radius), outline=colour, width=width)
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour, outline="white")
    return from_pil(images)
