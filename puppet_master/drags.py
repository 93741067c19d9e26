"""The drag document: parse, validate, resample to per-frame tracks, and build the model's drag tensor.

Version 1 (the editor widget's value, the CLI's file, the workflow's JSON)::

    {"version": 1, "width": W, "height": H,
     "drags": [{"points": [[x, y], ...], "times": [0.0, ..., 1.0]}, ...]}

Points are pixels of the W x H image the user drew on. The first point is grabbed, the last is where it
is at the last frame, points in between shape the path. `times` (optional, one per point, 0..1,
non-decreasing) says when each point is reached; without it the point moves at constant speed along
the path. Also accepted: KJNodes/ATI/WanMove tracks `[[{"x": .., "y": ..}, ...], ...]` in pixels.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .values import finite_number, short

MAX_DRAGS = 5
DOCUMENT_VERSION = 1
MAX_IMAGE_SIDE = 65536
"""Largest width/height a document may declare (pixels); more is a typo, not an image."""
UNEVEN_SCALE_TOLERANCE = 0.01
"""A document rescaled to an image whose aspect ratio differs by more than this (relative) is reported."""

logger = logging.getLogger("puppet_master")


class DragDocumentError(ValueError):
    """A drag document that cannot be used; the message names the drag, the point and the fix."""


@dataclass(frozen=True)
class Drag:
    """One drag: a polyline path in image pixels, with optional arrival times per point."""

    points: tuple[tuple[float, float], ...]
    times: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DragDocument:
    """Validated drags in pixels of a width x height image."""

    width: int
    height: int
    drags: tuple[Drag, ...]

    def to_json(self) -> dict[str, Any]:
        """The version-1 JSON form (what the editor widget stores)."""
        drags = []
        for drag in self.drags:
            item: dict[str, Any] = {"points": [list(point) for point in drag.points]}
            if drag.times is not None:
                item["times"] = list(drag.times)
            drags.append(item)
        return {"version": DOCUMENT_VERSION, "width": self.width, "height": self.height, "drags": drags}

    def tracks(self, frames: int) -> np.ndarray:
        """(K, frames, 2) float64 pixel positions of every drag at every frame."""
        if frames < 2:
            raise DragDocumentError(f"frames must be at least 2, got {frames}")
        if not self.drags:
            return np.zeros((0, frames, 2))
        return np.stack([resample_path(drag.points, frames, drag.times) for drag in self.drags])

    def fitted_to(self, width: int, height: int) -> DragDocument:
        """This document for an image of width x height: itself, or rescaled if drawn at another size.

        A rescale that stretches one axis more than the other (the document was drawn on an image of
        another shape) is allowed, as the example workflows' 512x512 documents rely on it, but it is
        logged as a warning with both sizes so the user can redraw the drags."""
        if (self.width, self.height) == (width, height):
            return self
        stretch = (width / self.width) / (height / self.height)
        if self.drags and abs(stretch - 1) > UNEVEN_SCALE_TOLERANCE:
            logger.warning(
                "the drags were drawn on a %dx%d image but the image is %dx%d: they are stretched unevenly "
                "(x by %.3g, y by %.3g); redraw them on this image if they no longer point at the right parts",
                self.width, self.height, width, height, width / self.width, height / self.height,
            )
        return self.scaled_to(width, height)

    def scaled_to(self, width: int, height: int) -> DragDocument:
        """The same drags on the same image shown at another size (points scaled proportionally)."""
        sx, sy = width / self.width, height / self.height
        drags = tuple(Drag(tuple((x * sx, y * sy) for x, y in d.points), d.times) for d in self.drags)
        return DragDocument(width=width, height=height, drags=drags)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DragDocumentError(f"{where} must be a number, got {type(value).__name__} {short(value)}")
    number = finite_number(value)
    if number is None:
        raise DragDocumentError(f"{where} must be a finite number, got {short(value)}")
    return number


def _image_side(value: Any, name: str) -> int:
    fix = f'"{name}" must be a whole number of pixels from 1 to {MAX_IMAGE_SIDE}'
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DragDocumentError(f"{fix}, got {type(value).__name__} {short(value)}")
    if isinstance(value, float) and not (finite_number(value) is not None and value.is_integer()):
        raise DragDocumentError(f"{fix}, got {short(value)}")
    if not 1 <= value <= MAX_IMAGE_SIDE:
        raise DragDocumentError(f"{fix}, got {short(value)}")
    return int(value)


def _point(value: Any, where: str, width: int, height: int) -> tuple[float, float]:
    if isinstance(value, dict):
        if "x" not in value or "y" not in value:
            raise DragDocumentError(f'{where} must have "x" and "y", got {short(value)}')
        value = [value["x"], value["y"]]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise DragDocumentError(f"{where} must be [x, y] in pixels, got {short(value)}")
    x, y = _number(value[0], f"{where} x"), _number(value[1], f"{where} y")
    if not (0 <= x <= width and 0 <= y <= height):
        raise DragDocumentError(
            f"{where} ({x:g}, {y:g}) is outside the {width}x{height} image: keep points within "
            f"0..{width} (x) and 0..{height} (y)"
        )
    return x, y


def _times(value: Any, where: str, count: int) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or len(value) != count:
        raise DragDocumentError(f"{where} must be a list of {count} numbers (one per point), got {short(value)}")
    times = tuple(_number(t, f"{where}[{i}]") for i, t in enumerate(value))
    if any(not 0 <= t <= 1 for t in times):
        raise DragDocumentError(f"{where} must lie in 0..1, got {list(times)}")
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise DragDocumentError(f"{where} must be non-decreasing, got {list(times)}")
    return times


def _drag(value: Any, index: int, width: int, height: int) -> Drag:
    name = f"drag {index + 1}"
    if isinstance(value, list):
        value = {"points": value}
    if not isinstance(value, dict) or "points" not in value:
        raise DragDocumentError(f'{name} must be an object with "points": [[x, y], ...], got {short(value)}')
    raw_points = value["points"]
    if not isinstance(raw_points, list) or len(raw_points) < 2:
        count = len(raw_points) if isinstance(raw_points, list) else short(raw_points)
        raise DragDocumentError(f"{name} needs at least 2 points (where it is grabbed and where it goes), got {count}")
    points = tuple(_point(p, f"{name} point {i + 1}", width, height) for i, p in enumerate(raw_points))
    if points[0] == (0.0, 0.0):
        raise DragDocumentError(
            f"{name} starts exactly at the image corner (0, 0), which the model reads as 'no drag': "
            "move its first point by a pixel"
        )
    times = _times(value["times"], f"{name} times", len(points)) if value.get("times") is not None else None
    return Drag(points=points, times=times)


def _check_count(drags: Sequence[Any]) -> None:
    if len(drags) > MAX_DRAGS:
        raise DragDocumentError(
            f"{len(drags)} drags given but the model takes at most {MAX_DRAGS}: remove {len(drags) - MAX_DRAGS}"
        )


def parse_drag_document(data: str | dict | list, image_size: tuple[int, int] | None = None) -> DragDocument:
    """Parse and validate a version-1 document or KJNodes/ATI/WanMove tracks.

    Args:
        data: JSON text or the parsed value, never a file name: read the file first
            (`Path("drags.json").read_text(encoding="utf-8")`). A path given here is named as one.
        image_size: (width, height) in pixels; required for tracks (which carry no size), and, for a
            version-1 document drawn on a differently sized preview, its points are rescaled to it.

    Raises:
        DragDocumentError: with the drag, the point and the fix named.
    """
    if isinstance(data, os.PathLike):
        raise DragDocumentError(_path_message(data))
    if isinstance(data, str):
        if not data.strip():
            raise DragDocumentError(
                'the drag document is empty: draw at least one drag, or give {"version": 1, "width": W, '
                '"height": H, "drags": []} to generate without drags'
            )
        try:
            data = json.loads(data)
        except RecursionError:
            raise DragDocumentError("drag document is nested too deeply to be a drag document") from None
        except ValueError as error:  # JSONDecodeError, or an integer literal too long to convert
            if _looks_like_path(data):
                raise DragDocumentError(_path_message(data)) from None
            raise DragDocumentError(f"drag document is not valid JSON: {short(str(error))}") from None
    if isinstance(data, list):
        return parse_tracks(data, image_size)
    if not isinstance(data, dict):
        raise DragDocumentError(f"drag document must be a JSON object or a list of tracks, got {type(data).__name__}")
    version = data.get("version")
    if isinstance(version, bool) or version != DOCUMENT_VERSION:  # True == 1 in Python: a boolean is no version
        shown = json.dumps(version) if isinstance(version, bool) else short(version)
        raise DragDocumentError(f'drag document "version" must be {DOCUMENT_VERSION}, got {shown}')
    width, height = _image_side(data.get("width"), "width"), _image_side(data.get("height"), "height")
    drags = data.get("drags")
    if not isinstance(drags, list):
        raise DragDocumentError(f'drag document "drags" must be a list, got {short(drags)}')
    _check_count(drags)
    document = DragDocument(width, height, tuple(_drag(d, i, width, height) for i, d in enumerate(drags)))
    return document.fitted_to(*image_size) if image_size is not None else document


def _looks_like_path(text: str) -> bool:
    """Text that is no JSON but reads as a file name (one line, a .json name, a folder separator or a file)."""
    text = text.strip()
    return (
        "\n" not in text
        and not text.startswith(("{", "[", '"'))
        and (text.lower().endswith(".json") or "/" in text or "\\" in text or os.path.exists(text))
    )


def _path_message(path: str | os.PathLike) -> str:
    """A file name given where the document's text is expected: say so, and how to pass the file."""
    name = short(os.fspath(path).strip())
    return (
        f"the drag document given is {name}, which looks like a file path, not the document's JSON text: pass "
        f"the file's text (in Python Path({name}).read_text(encoding='utf-8'); the CLI's --drags takes the path)"
    )


def parse_tracks(tracks: list, image_size: tuple[int, int] | None) -> DragDocument:
    """KJNodes/ATI/WanMove tracks `[[{"x": .., "y": ..}, ...], ...]` in pixels of an image of `image_size`."""
    if image_size is None:
        raise DragDocumentError("tracks carry no image size: give the image's (width, height) with them")
    width, height = _image_side(image_size[0], "width"), _image_side(image_size[1], "height")
    if tracks and isinstance(tracks[0], dict):
        tracks = [tracks]
    # a one-point track holds its point still: a zero-length drag (as two clicks on one point in the demo)
    tracks = [track * 2 if isinstance(track, list) and len(track) == 1 else track for track in tracks]
    _check_count(tracks)
    return DragDocument(width, height, tuple(_drag(t, i, width, height) for i, t in enumerate(tracks)))


def resample_path(
    points: Sequence[tuple[float, float]], frames: int, times: Sequence[float] | None = None
) -> np.ndarray:
    """(frames, 2) positions along a polyline at times f/(frames-1).

    Without `times` a point is reached in proportion to the path length before it (constant speed);
    a 2-point path is then exactly the official linear interpolation start*(1-t) + end*t.
    """
    path = np.asarray(points, dtype=np.float64)
    if times is None:
        lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
        total = lengths.sum()
        if total == 0:
            return np.repeat(path[:1], frames, axis=0)
        knots = np.concatenate([[0.0], np.cumsum(lengths) / total])
        knots[-1] = 1.0
    else:
        knots = np.asarray(times, dtype=np.float64)
    result = np.empty((frames, 2))
    for frame in range(frames):
        t = frame / (frames - 1)
        if t <= knots[0]:
            result[frame] = path[0]
            continue
        if t >= knots[-1]:
            result[frame] = path[-1]
            continue
        segment = int(np.searchsorted(knots, t, side="right")) - 1
        span = knots[segment + 1] - knots[segment]
        u = (t - knots[segment]) / span if span > 0 else 1.0
        result[frame] = path[segment] * (1 - u) + path[segment + 1] * u
    return result


def drag_tensor(tracks: np.ndarray, width: float, height: float, slots: int = MAX_DRAGS) -> torch.Tensor:
    """(F, slots, 4) float32 model drags from (K, F, 2) pixel tracks on a width x height frame.

    Each slot holds (x_start, y_start, x_current, y_current) normalised by the frame size, the start
    being the track's first position; unused slots are all zero (the official "no drag").
    """
    count, frames = tracks.shape[:2]
    if count > slots:
        raise DragDocumentError(f"{count} drags given but the model takes at most {slots}")
    if not np.isfinite(tracks).all():
        raise DragDocumentError("drag tracks contain NaN or infinite positions: give finite pixel positions")
    if count == 0:
        logger.warning(
            "no drags: the video is generated without any drag, so nothing is told to move; "
            "draw at least one drag to animate a part"
        )
    normalised = tracks / np.array([width, height], dtype=np.float64)
    result = np.zeros((frames, slots, 4), dtype=np.float64)
    result[:, :count, :2] = normalised[:, :1].transpose(1, 0, 2)
    result[:, :count, 2:] = normalised.transpose(1, 0, 2)
    return torch.from_numpy(result.astype(np.float32))
