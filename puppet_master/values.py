"""Checking numbers and showing values that came from users (JSON, widgets, command lines)."""

from __future__ import annotations

import math
import reprlib
from typing import Any

_short_repr = reprlib.Repr()
_short_repr.maxlevel, _short_repr.maxlist, _short_repr.maxdict = 3, 6, 6
_short_repr.maxstring, _short_repr.maxother, _short_repr.maxlong = 60, 60, 40


def short(value: Any) -> str:
    """A bounded repr of user input for error messages (deeply nested or huge values stay short)."""
    return _short_repr.repr(value)


def finite_number(value: Any) -> float | None:
    """`value` as a float if it is a real, finite number (not a bool, not an int beyond float range), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
