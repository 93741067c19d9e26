"""Where the SVD img2vid VAE and CLIP image encoder come from: a local diffusers folder, checked file by file,
or a hub id (`owner/name`, no such local path) fetched into the hub cache. Imports no torch, so the command
line checks and describes a folder before anything heavy is loaded."""

from __future__ import annotations

from pathlib import Path

from .hub import SVD_PATTERNS, SVD_REPO, hub_offline, is_hub_id

LAYOUT_HELP = (
    "An SVD img2vid folder (diffusers layout, e.g. ComfyUI/models/diffusers/stable-video-diffusion-img2vid or a "
    f"Hugging Face snapshot of {SVD_REPO}) must contain:\n"
    "  vae/config.json and vae/diffusion_pytorch_model[.fp16].safetensors\n"
    "  image_encoder/config.json and image_encoder/model[.fp16].safetensors\n"
    "  feature_extractor/preprocessor_config.json"
)
WANTED_FILES = {
    "vae": ("config.json", "diffusion_pytorch_model.safetensors"),
    "image_encoder": ("config.json", "model.safetensors"),
    "feature_extractor": ("preprocessor_config.json",),
}
"""The files of an encoder folder; a weight file may be its .fp16.safetensors variant instead."""


class EncoderLoadError(ValueError):
    """The SVD VAE / CLIP image encoder could not be found or loaded; the message says which files go where."""


def missing_svd_files(root: Path) -> list[str]:
    """The files an SVD img2vid encoder folder lacks (empty when it is complete)."""
    missing = []
    for sub, names in WANTED_FILES.items():
        for name in names:
            fp16 = name.replace(".safetensors", ".fp16.safetensors")
            if not (root / sub / name).is_file() and not (root / sub / fp16).is_file():
                missing.append(f"{sub}/{name}")
    return missing


def check_svd_source(source: str | Path) -> None:
    """Check a local SVD folder's files (nothing is loaded or downloaded); a hub id is checked when fetched.

    Raises:
        EncoderLoadError: a folder that is incomplete or missing, or a file, with the layout expected.
    """
    if not is_hub_id(source):
        resolve_svd_source(source)


def resolve_svd_source(source: str | Path) -> Path:
    """The local folder holding the SVD files: `source` itself, or a hub id's snapshot, fetched only when the
    hub is reachable. Anything else (a missing folder, a file) is an EncoderLoadError saying so."""
    path = Path(source).expanduser()
    if path.is_dir():
        missing = missing_svd_files(path)
        if missing:
            raise EncoderLoadError(f"{path} lacks {', '.join(missing)}.\n{LAYOUT_HELP}")
        return path
    if path.exists():
        raise EncoderLoadError(
            f"{path} is a file, but the SVD encoders are a folder (a single-file svd.safetensors is for ComfyUI's "
            f"Image Only Checkpoint Loader): give the folder holding vae/, image_encoder/ and feature_extractor/, "
            f"e.g. those of {SVD_REPO}.\n{LAYOUT_HELP}"
        )
    if not is_hub_id(source):
        raise EncoderLoadError(
            f"SVD folder not found: {source} (only an owner/name such as {SVD_REPO} is looked up on the Hugging "
            f"Face hub): check the path.\n{LAYOUT_HELP}"
        )
    if hub_offline():
        raise EncoderLoadError(f"{source} is not a local folder and the Hugging Face hub is offline.\n{LAYOUT_HELP}")
    try:
        from huggingface_hub import snapshot_download

        return resolve_svd_source(snapshot_download(str(source), allow_patterns=list(SVD_PATTERNS)))
    except EncoderLoadError:
        raise
    except Exception as error:  # network, authentication or missing repo: all end in the same advice
        raise EncoderLoadError(
            f"could not download {source} from the Hugging Face hub ({type(error).__name__}: {error}).\n{LAYOUT_HELP}"
        ) from None


def svd_encoder_parameters(source: str | Path) -> int | None:
    """How many parameters the VAE and image encoder files of a complete local folder hold (headers only);
    None for a hub id, whose files may not be here yet."""
    from .checkpoint import inspect_checkpoint

    path = Path(source).expanduser()
    if not path.is_dir():
        return None
    return sum(inspect_checkpoint(path / part).num_parameters for part in ("vae", "image_encoder"))
