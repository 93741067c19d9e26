"""The only module that touches ComfyUI (`folder_paths`, `comfy.*`), always lazily.

Outside ComfyUI (unit tests, scripts) every function falls back to plain torch behaviour: model folders
come from $PUPPET_MASTER_MODELS (default ./models), devices from cuda/mps/cpu, no offloading, no UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

MODEL_FOLDER = "puppet_master"
MODEL_EXTENSIONS = {".safetensors", ".sft"}


def _comfy():
    """(folder_paths, comfy.model_management, comfy.utils, comfy.model_patcher), or None outside ComfyUI."""
    try:
        import comfy.model_management
        import comfy.model_patcher
        import comfy.utils
        import folder_paths
    except ImportError:
        return None
    return folder_paths, comfy.model_management, comfy.utils, comfy.model_patcher


def _fallback_models_dir() -> Path:
    return Path(os.environ.get("PUPPET_MASTER_MODELS", "models"))


def register_model_folder() -> None:
    """Register models/puppet_master with ComfyUI (model extensions only)."""
    comfy = _comfy()
    if comfy is None:
        return
    folder_paths = comfy[0]
    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    known = folder_paths.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))[0]
    folders = list(dict.fromkeys([*known, default]))
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (folders, set(MODEL_EXTENSIONS))


def model_names() -> list[str]:
    """Files in models/puppet_master."""
    comfy = _comfy()
    if comfy is not None:
        register_model_folder()
        return comfy[0].get_filename_list(MODEL_FOLDER)
    folder = _fallback_models_dir() / MODEL_FOLDER
    return sorted(p.name for p in folder.glob("*") if p.suffix in MODEL_EXTENSIONS) if folder.is_dir() else []


def _inside(root: Path, name: str, folder: str) -> Path:
    """`root / name` for a name that stays inside root (no absolute path, no '..'), else a clear error.

    Lexical, like ComfyUI's own folder_paths: a model folder may be a symlink to another disk."""
    relative = os.path.normpath(str(name)) if isinstance(name, str) and name.strip() else ""
    if not relative or relative == "." or os.path.isabs(relative) or relative.split(os.sep)[0] == "..":
        raise FileNotFoundError(f"{name!r} is not a name inside models/{folder}: pick one of the listed names")
    return root / relative


def model_path(name: str) -> Path:
    """Full path of a models/puppet_master file, or a clear error."""
    comfy = _comfy()
    if comfy is not None:
        register_model_folder()
        _inside(Path(), name, MODEL_FOLDER)
        path = comfy[0].get_full_path(MODEL_FOLDER, name)
    else:
        path = _inside(_fallback_models_dir() / MODEL_FOLDER, name, MODEL_FOLDER)
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"{name} is not in models/{MODEL_FOLDER}: put the Puppet-Master weights there")
    return Path(path)


def _diffusers_roots() -> list[Path]:
    comfy = _comfy()
    if comfy is not None:
        return [Path(p) for p in comfy[0].get_folder_paths("diffusers")]
    return [_fallback_models_dir() / "diffusers"]


def svd_folder_names() -> list[str]:
    """Sub-folders of models/diffusers that hold an SVD img2vid VAE and image encoder."""
    names = set()
    for root in _diffusers_roots():
        if root.is_dir():
            names.update(p.name for p in root.iterdir() if (p / "vae").is_dir() and (p / "image_encoder").is_dir())
    return sorted(names)


def svd_folder_path(name: str) -> Path:
    """Full path of an SVD folder in models/diffusers, or a clear error."""
    for root in _diffusers_roots():
        if _inside(root, name, "diffusers").is_dir():
            return _inside(root, name, "diffusers")
    raise FileNotFoundError(f"{name} is not in models/diffusers: put the SVD img2vid diffusers folder there")


def core_model_path(folder: str, name: str) -> str | None:
    """Full path of `name` in one of ComfyUI's own model folders (e.g. diffusion_models), or None."""
    comfy = _comfy()
    if comfy is None or folder not in comfy[0].folder_names_and_paths:
        return None
    try:
        _inside(Path(), name, folder)
    except FileNotFoundError:
        return None
    return comfy[0].get_full_path(folder, name)


def prompt_server() -> object | None:
    """ComfyUI's running PromptServer, or None (unit tests, scripts)."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def executing_node_id() -> str | None:
    """The id of the node ComfyUI is executing in this thread, or None (no prompt running, outside ComfyUI)."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:
        return None
    context = get_executing_context()
    return None if context is None else str(context.node_id)


def torch_device() -> torch.device:
    comfy = _comfy()
    if comfy is not None:
        return comfy[1].get_torch_device()
    from puppet_master.pipeline import default_device

    return default_device()


def offload_device() -> torch.device:
    comfy = _comfy()
    return comfy[1].unet_offload_device() if comfy is not None else torch.device("cpu")


@dataclass
class LoadedModel:
    """Outside ComfyUI, the stand-in for a ModelPatcher: the module and its device."""

    model: torch.nn.Module
    load_device: torch.device


class PatcherHeld(torch.nn.Module):
    """What a ModelPatcher holds for us: a plain container. The patcher assigns `model.device` (and a few
    bookkeeping attributes) when it moves a model; diffusers and transformers models expose `device` as a
    read-only property, so they cannot be handed to it directly."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.device = next(module.parameters()).device


def wrap_model(model: torch.nn.Module) -> object:
    """A ComfyUI ModelPatcher (so ComfyUI loads and offloads it like its own models), or a LoadedModel."""
    comfy = _comfy()
    if comfy is None:
        return LoadedModel(model, torch_device())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    held = PatcherHeld(model)
    return comfy[3].ModelPatcher(held, load_device=torch_device(), offload_device=offload_device(), size=size)


def loaded(wrapped: object) -> torch.nn.Module:
    """Put a wrapped model on its device (ComfyUI frees memory for it first) and return the module.

    Fully: ComfyUI's partial (low-VRAM) loading streams weights only for its own `comfy.ops` layers, and
    would leave our plain torch layers on the offload device."""
    comfy = _comfy()
    if comfy is not None:
        comfy[1].load_models_gpu([wrapped], force_full_load=True)
        return wrapped.model.module
    return wrapped.model.to(wrapped.load_device)


def check_interrupt() -> None:
    """Raise ComfyUI's interrupt if the user pressed Cancel (nothing outside ComfyUI)."""
    comfy = _comfy()
    if comfy is not None:
        comfy[1].throw_exception_if_processing_interrupted()


def save_temp_image(image, prefix: str = "pm_drags") -> dict | None:
    """Save a PIL image to ComfyUI's temp folder; its /view address parts (None outside ComfyUI)."""
    comfy = _comfy()
    if comfy is None:
        return None
    folder_paths = comfy[0]
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, folder_paths.get_temp_directory())
    filename = f"{name}_{counter:05}_.png"
    image.save(os.path.join(folder, filename))
    return {"filename": filename, "subfolder": subfolder, "type": "temp"}
