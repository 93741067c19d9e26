"""Queue-time checks of widget values (ComfyUI's VALIDATE_INPUTS), so a malformed prompt is refused with a
message naming the input instead of failing, or silently misbehaving, while it runs.

ComfyUI skips its own min/max checks for every input a VALIDATE_INPUTS names, so `widget_problem` applies
the limits declared in INPUT_TYPES, and also refuses NaN and infinity, which those comparisons let through.
"""

from __future__ import annotations

import math

from puppet_master.values import finite_number, short


def _limits(node: type, name: str) -> dict:
    spec = node.INPUT_TYPES()
    for section in ("required", "optional"):
        if name in spec.get(section, {}):
            entry = spec[section][name]
            return entry[1] if len(entry) > 1 else {}
    return {}


def widget_problem(node: type, **values: object) -> str | None:
    """The first widget value that is not a finite number within its declared min/max, as a message."""
    for name, value in values.items():
        if value is None:  # linked from another node: checked when the node runs
            continue
        limits = _limits(node, name)
        low, high = limits.get("min", -math.inf), limits.get("max", math.inf)
        shown = short(value)
        if finite_number(value) is None:
            return f"{name} must be a finite number from {low:g} to {high:g}, got {shown}"
        if not low <= value <= high:
            return f"{name} must be from {low:g} to {high:g}, got {shown}"
    return None
