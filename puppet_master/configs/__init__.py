"""The JSON configs shipped with the package (SVD img2vid's scheduler, the official tiny test UNet)."""

from __future__ import annotations

import json
from importlib import resources


def packaged_config(name: str) -> dict:
    """The packaged config `name` (e.g. "tiny_unet.json"), read as UTF-8 JSON."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
