"""Queue-time checks of widget values (a V3 node's `validate_inputs`), so a malformed prompt is refused with a
message naming the input instead of failing, or silently misbehaving, while it runs.

ComfyUI skips its own min/max checks for every input a `validate_inputs` names, so `widget_problem` applies
the limits declared in the node's schema, and also refuses NaN and infinity, which those comparisons let through.
"""

from __future__ import annotations

import math

from puppet_master.values import finite_number, short

from .v3 import io


def _limits(node: type[io.ComfyNode], name: str) -> tuple[float, float]:
    declared = next(item for item in node.define_schema().inputs if item.id == name)
    low, high = getattr(declared, "min", None), getattr(declared, "max", None)
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def widget_problem(node: type[io.ComfyNode], **values: object) -> str | None:
    """The first widget value that is not a finite number within its declared min/max, as a message."""
    for name, value in values.items():
        if value is None:  # linked from another node: checked when the node runs
            continue
        low, high = _limits(node, name)
        shown = short(value)
        if finite_number(value) is None:
            return f"{name} must be a finite number from {low:g} to {high:g}, got {shown}"
        if not low <= value <= high:
            return f"{name} must be from {low:g} to {high:g}, got {shown}"
    return None
