"""The drags' start points as point prompts for core's SAM3 Detect (`positive_coords`), as the official demo
segments the object: SAM prompted, foreground, by the point where each drag starts (held points included).

The format is the one SAM3 Detect parses: a JSON list `[{"x": .., "y": ..}, ...]` in pixels of the image it
segments (it divides x by that image's width and y by its height), whole pixels as its tooltip asks. The
editor marks the same points (web/drag_logic.js `startPoints`, pinned to this by tests/js/vectors.json).
"""

from __future__ import annotations

import json
import math

from puppet_master.drags import DragDocument

TOOLTIP = (
    "The drags' start points (one per drag, held points included) as JSON [{\"x\": .., \"y\": ..}] in whole "
    "pixels of this node's image (rounded half up, kept on the image): connect to SAM3 Detect's positive_coords "
    "(with the same image) to segment the object, as the official demo does."
)


def _pixel(value: float, size: int) -> int:
    """A coordinate in 0..size as the whole pixel it lies on: rounded half up, at most the last pixel."""
    return min(math.floor(value + 0.5), size - 1)


def start_points(document: DragDocument) -> str:
    """Each drag's first point, in the drags' order, as SAM3 Detect's `positive_coords` JSON, in whole pixels
    of the document's image (`document.width` x `document.height`); `[]` without drags."""
    points = [
        {"x": _pixel(drag.points[0][0], document.width), "y": _pixel(drag.points[0][1], document.height)}
        for drag in document.drags
    ]
    return json.dumps(points)
