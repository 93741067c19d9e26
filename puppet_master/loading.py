"""Load and save Puppet-Master UNet weights; recognise the usual wrong files; build one from SVD.

Weights are streamed tensor by tensor with plain file reads into a model built on the meta device,
so loading never holds a second copy of the 6.7 GB checkpoint in RAM (no memory map either).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from .checkpoint import (
    CONFIG_METADATA_KEY,
    DRAG_MODULE_MARKERS,
    DTYPE_SIZES,
    RELEASED_WEIGHTS_HINT,
    SVD_ENCODERS_USE,
    WEIGHT_DTYPES,
    CheckpointError,
    SafetensorsFile,
    TensorEntry,
    classify,
    infer_num_drags,
    model_folder,
    public_config,
    read_config,
    read_safetensors,
    stored_config,
    weight_files,
)
from .checkpoint import inspect_checkpoint as inspect_checkpoint  # re-exported for loading's users
from .model import PuppetMasterUNet

SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def iter_tensors(
    file: SafetensorsFile,
    names: list[str] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str = "cpu",
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield tensors one at a time, read with plain file reads and converted to `dtype` on `device`.

    A tensor kept as stored owns the bytes it was read into; one converted (another dtype or device) is read
    into a single scratch buffer, sized once for the largest of them and reused, so converting never leaves
    freed per-tensor buffers behind in the process."""
    names = names if names is not None else list(file.tensors)
    for name in names:
        if file.tensors[name].dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{file.path}: tensor {name} has unsupported dtype {file.tensors[name].dtype}")

    def converted(name: str) -> bool:
        source = SAFETENSORS_DTYPES[file.tensors[name].dtype]
        target = dtype if dtype is not None and source.is_floating_point else source
        return target != source or torch.device(device).type != "cpu"

    sizes = [file.tensors[name].end - file.tensors[name].begin for name in names if converted(name)]
    scratch = bytearray(max(sizes, default=0))
    with file.path.open("rb") as handle:
        for name in names:
            entry = file.tensors[name]
            size = entry.end - entry.begin
            buffer = scratch if converted(name) else bytearray(size)
            handle.seek(file.data_start + entry.begin)
            handle.readinto(memoryview(buffer)[:size])
            source_dtype = SAFETENSORS_DTYPES[entry.dtype]
            count = size // DTYPE_SIZES[entry.dtype]
            tensor = (
                torch.frombuffer(buffer, dtype=source_dtype, count=count)
                if size
                else torch.empty(0, dtype=source_dtype)
            )
            tensor = tensor.reshape(entry.shape)
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(
                    f"{file.path}: tensor {name} contains NaN or infinite values, which would give a black video; "
                    "the file is damaged: download it again"
                )
            target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
            yield name, tensor.to(device=device, dtype=target)  # a new tensor whenever `buffer` is the scratch


def _wrong_file_message(path: Path, kind: str) -> str:
    if kind == "svd_unet":
        return (
            f"{path} is a stock Stable Video Diffusion UNet, not Puppet-Master. Puppet-Master needs its own "
            "fine-tuned UNet. "
            + RELEASED_WEIGHTS_HINT
            + " (To fine-tune from SVD, use puppet_master.loading.unet_from_svd.)"
        )
    if kind == "svd_single_file":
        return (
            f"{path} is a single-file Stable Video Diffusion checkpoint (e.g. svd.safetensors). It provides the VAE "
            "and CLIP image encoder (ComfyUI: ImageOnlyCheckpointLoader), not the Puppet-Master UNet. "
            + RELEASED_WEIGHTS_HINT
        )
    if kind in ("svd_vae", "svd_image_encoder"):
        part = "VAE" if kind == "svd_vae" else "CLIP image encoder"
        return (
            f"{path} is the Stable Video Diffusion {part}, a part of the SVD img2vid encoder folder, not the "
            f"Puppet-Master UNet: give the folder holding vae/ and image_encoder/ as the SVD encoders "
            f"({SVD_ENCODERS_USE}). " + RELEASED_WEIGHTS_HINT
        )
    return f"{path} does not contain Puppet-Master UNet weights (no flow_convs / drag_token_mlps keys). " + (
        RELEASED_WEIGHTS_HINT
    )


def _check_keys(path: Path, model: PuppetMasterUNet, tensors: Mapping[str, TensorEntry]) -> None:
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong_shape = sorted(
        f"{name}: file {tensors[name].shape} vs model {expected[name]}"
        for name in set(expected) & set(tensors)
        if tensors[name].shape != expected[name]
    )
    shared = set(expected) & set(tensors)
    not_float = sorted(f"{name}: {tensors[name].dtype}" for name in shared if tensors[name].dtype not in WEIGHT_DTYPES)
    if not_float:
        raise CheckpointError(
            f"{path} stores {len(not_float)} weights in a non-floating-point type (e.g. {not_float[0]}): quantized "
            "files are not supported; use float weights (F32, F16 or BF16). " + RELEASED_WEIGHTS_HINT
        )
    if not (missing or unexpected or wrong_shape):
        return

    def listing(title: str, items: list[str]) -> str:
        shown = "\n    ".join(items[:10])
        more = f"\n    ... and {len(items) - 10} more" if len(items) > 10 else ""
        return f"\n  {title} ({len(items)}):\n    {shown}{more}" if items else ""

    raise CheckpointError(
        f"{path} does not match the Puppet-Master UNet configuration it is loaded into."
        + listing("missing keys", missing)
        + listing("unexpected keys", unexpected)
        + listing("shape mismatches", wrong_shape)
        + "\n  Pass the model's config (config=dict or config.json) if it is not the released full-size model."
    )


def _resolve_config(config: Mapping | str | Path | None, stored: dict | None, num_drags: int | None) -> dict:
    if isinstance(config, str | Path):
        config = read_config(Path(config))
    if config is not None:
        if not isinstance(config, Mapping):
            raise CheckpointError(f"config must be a dict or a JSON file path, got {type(config).__name__}")
        return public_config(config)
    if stored is not None:
        return stored
    return {"num_drags": num_drags} if num_drags is not None else {}


def _build_on_meta(config: Mapping) -> PuppetMasterUNet:
    """An empty model of `config`, or a CheckpointError naming the settings it does not accept."""
    accepted = set(inspect.signature(PuppetMasterUNet.__init__).parameters) - {"self"}
    unknown = sorted(str(key) for key in config if key not in accepted)
    if unknown:
        raise CheckpointError(
            f"the model config has unknown settings {', '.join(unknown)[:300]}; accepted: {', '.join(sorted(accepted))}"
        )
    try:
        with torch.device("meta"):
            return PuppetMasterUNet(**config)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as error:
        raise CheckpointError(f"the model config cannot build a Puppet-Master UNet: {str(error)[:300]}") from None


def read_unet_checkpoint(
    path: str | Path,
    *,
    config: Mapping | str | Path | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The constructor config and the checked tensors of a Puppet-Master UNet checkpoint, without a model.

    Same arguments and errors as `load_unet` (which builds the model from them); `dtype` None keeps the
    stored dtypes (a host that chooses weight dtypes itself, e.g. ComfyUI, converts them).
    """
    path = Path(path)
    if path.is_dir():
        folder = model_folder(path)
        files = [read_safetensors(file) for file in weight_files(folder)]
        stored = public_config(read_config(folder / "config.json"))
    else:
        files = [read_safetensors(path)]
        stored = stored_config(files[0])
    tensors = {name: entry for file in files for name, entry in file.tensors.items()}
    kind = classify(set(tensors))
    if kind != "puppet_master":  # before its config is read as ours: another model's settings are not errors
        raise CheckpointError(_wrong_file_message(path, kind))
    model_config = _resolve_config(config, stored, infer_num_drags(files[0]))
    skeleton = _build_on_meta(model_config)
    _check_keys(path, skeleton, tensors)
    state = {}
    for file in files:
        state.update(iter_tensors(file, dtype=dtype, device=device))
    return model_config, state


def load_unet(
    path: str | Path,
    *,
    config: Mapping | str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> PuppetMasterUNet:
    """Load a Puppet-Master UNet from a .safetensors file or a diffusers-style folder.

    Args:
        path: the released `model.safetensors`, a file written by `save_unet`, or a folder with
            config.json and diffusion_pytorch_model(.fp16).safetensors (or a pipeline's unet/).
        config: constructor arguments (dict or JSON path). Default: the folder's config.json, the
            config stored in the file by `save_unet`, else the official full-size config with
            num_drags read from the weights.
        dtype: float32 (the official precision), float16 or bfloat16.
        device: where the weights go; each tensor is read and moved on its own.

    Raises:
        CheckpointError: the file is missing, truncated, not safetensors, another model (stock SVD,
            an SVD single-file checkpoint), or its keys/shapes do not match the config.
    """
    model_config, state = read_unet_checkpoint(path, config=config, dtype=dtype, device=device)
    model = _build_on_meta(model_config)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def save_unet(model: PuppetMasterUNet, path: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the UNet as one .safetensors file with its config in the metadata (`load_unet` reads it back)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {
        name: (tensor.to(dtype) if dtype is not None else tensor).detach().contiguous().cpu()
        for name, tensor in model.state_dict().items()
    }
    metadata = {"format": "pt", CONFIG_METADATA_KEY: json.dumps(public_config(model.config))}
    save_file(state, str(path), metadata=metadata)
    return with_default_mode(path)


def with_default_mode(path: Path) -> Path:
    """`path` with the permissions any new file of the user gets (0666 less the umask), as safetensors writes
    through a private 0600 temporary file. Nothing to do off POSIX, where permissions are not mode bits."""
    if os.name == "posix":
        umask = os.umask(0o022)
        os.umask(umask)
        path.chmod(0o666 & ~umask)
    return path


SVD_ARCHITECTURE_KEYS = (
    "sample_size",
    "in_channels",
    "out_channels",
    "down_block_types",
    "up_block_types",
    "block_out_channels",
    "addition_time_embed_dim",
    "projection_class_embeddings_input_dim",
    "layers_per_block",
    "cross_attention_dim",
    "transformer_layers_per_block",
    "num_attention_heads",
    "num_frames",
)


def load_svd_unet_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a stock SVD img2vid UNet (diffusers folder, pipeline snapshot or .safetensors file) in fp32.

    Returns the state dict and the architecture part of its config (empty for a bare file).
    """
    path = Path(path)
    if path.is_dir():
        folder = model_folder(path)
        architecture = read_config(folder / "config.json")
        files = [read_safetensors(file) for file in weight_files(folder)]
    else:
        architecture = {}
        files = [read_safetensors(path)]
    names = {name for file in files for name in file.tensors}
    kind = classify(names)
    if kind != "svd_unet":
        raise CheckpointError(
            f"{path} is not a stock SVD img2vid UNet in diffusers layout (found: {kind}); use the unet/ folder of "
            "stabilityai/stable-video-diffusion-img2vid"
        )
    state = {}
    for file in files:
        state.update(iter_tensors(file, dtype=torch.float32))
    return state, {key: architecture[key] for key in SVD_ARCHITECTURE_KEYS if key in architecture}


def unet_from_svd(svd_unet: str | Path | Mapping[str, torch.Tensor], config: Mapping | None = None) -> PuppetMasterUNet:
    """Build a Puppet-Master UNet for fine-tuning from a stock SVD img2vid UNet (paper, appendix C.1).

    All shared weights are copied, `add_embedding` is dropped, the drag modules keep their fresh
    initialisation with every DragEmbedding `conv_out` zero (so modulation starts as the identity).

    Args:
        svd_unet: a state dict, or a path accepted by `load_svd_unet_state_dict`.
        config: Puppet-Master constructor arguments overriding the SVD architecture and the defaults.
    """
    architecture: dict = {}
    if isinstance(svd_unet, str | Path):
        svd_unet, architecture = load_svd_unet_state_dict(svd_unet)
    model = PuppetMasterUNet(**{**architecture, **(config or {})})
    own = model.state_dict()
    shared = {name: tensor for name, tensor in svd_unet.items() if name in own}
    not_drag = [name for name in own if name not in shared and not any(m in name for m in DRAG_MODULE_MARKERS)]
    mismatched = [name for name, tensor in shared.items() if tensor.shape != own[name].shape]
    if not_drag or mismatched:
        raise CheckpointError(
            "the SVD UNet does not match the Puppet-Master architecture: "
            f"{len(not_drag)} missing keys (e.g. {not_drag[:3]}), {len(mismatched)} shape mismatches "
            f"(e.g. {mismatched[:3]}); pass the SVD config's architecture in config="
        )
    model.load_state_dict(shared, strict=False)
    for block in model.drag_blocks().values():
        for flow_conv in block.flow_convs:
            torch.nn.init.zeros_(flow_conv.conv_out.weight)
            torch.nn.init.zeros_(flow_conv.conv_out.bias)
    return model
