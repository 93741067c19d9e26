"""What the library may fetch from the Hugging Face hub, and where it goes. Imports nothing heavy, so the
command line can name it in `--help` without loading torch."""

from __future__ import annotations

import os
import re
from pathlib import Path

SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"
SVD_PATTERNS = ("vae/*", "image_encoder/*", "feature_extractor/*", "model_index.json")
"""The files of SVD_REPO the encoders need (not its UNet)."""
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
"""`owner/name` as the hub spells repositories: one slash, nothing before or after it empty."""


def is_hub_id(source: str | os.PathLike) -> bool:
    """True for a string shaped like a hub repository (`owner/name`) that is no local path: the only thing
    the library may try to download. A missing folder (`svd/`, `./svd`, `C:\\svd`) or a file is not one."""
    return isinstance(source, str) and HUB_ID.fullmatch(source) is not None and not Path(source).exists()


def hub_offline() -> bool:
    """The hub may not be reached (HF_HUB_OFFLINE set, as `--offline` does)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_cache() -> str:
    """The folder hub downloads go to (HF_HUB_CACHE, or HF_HOME/hub, by default ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
