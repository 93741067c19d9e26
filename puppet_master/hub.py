"""What the library may fetch from the Hugging Face hub, and where it goes. Imports nothing heavy, so the
command line can name it in `--help` without loading torch."""

from __future__ import annotations

SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"
SVD_PATTERNS = ("vae/*", "image_encoder/*", "feature_extractor/*", "model_index.json")
"""The files of SVD_REPO the encoders need (not its UNet)."""


def hub_cache() -> str:
    """The folder hub downloads go to (HF_HUB_CACHE, or HF_HOME/hub, by default ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
