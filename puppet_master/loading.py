"""Load and save Puppet-Master UNet weights; recognise the usual wrong files; build one from SVD.

Weights are streamed tensor by tensor with plain file reads into a model built on the meta device,
so loading never holds a second copy of the 6.7 GB checkpoint in RAM (no memory map either).
"""

from __future__ import annotations

import inspect
import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import PuppetMasterUNet

CONFIG_METADATA_KEY = "puppet_master_config"
WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "model.safetensors",
    "model.fp16.safetensors",
)
INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
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
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip
"""Bytes per element of every dtype the safetensors format defines (headers are checked against them)."""
WEIGHT_DTYPES = ("F32", "F16", "BF16", "F64")
MAX_TENSOR_BYTES = 1 << 40
DRAG_MODULE_MARKERS = (".flow_convs.", ".drag_token_mlps.")
RELEASED_WEIGHTS_HINT = (
    "The Puppet-Master UNet is model.safetensors (6.7 GB) from the Hugging Face Space rayli/Puppet-Master "
    "(ckpts/model.safetensors)."
)


class CheckpointError(ValueError):
    """A weight file that is not a usable Puppet-Master UNet; the message says what it is and the fix."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in a safetensors file."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsFile:
    """A parsed and size-checked safetensors header."""

    path: Path
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int


@dataclass(frozen=True)
class CheckpointInfo:
    """What a weight file is, for `python -m puppet_master info` and error messages."""

    path: Path
    kind: str
    """'puppet_master', 'svd_unet' (stock diffusers SVD UNet), 'svd_single_file', 'svd_vae', 'svd_image_encoder'
    or 'unknown'."""
    dtypes: dict[str, int]
    num_parameters: int
    num_tensors: int
    num_drags: int | None
    config: dict | None

    def describe(self) -> str:
        """A few human-readable lines."""
        names = {
            "puppet_master": "Puppet-Master UNet",
            "svd_unet": "stock Stable Video Diffusion UNet (diffusers layout), not Puppet-Master",
            "svd_single_file": "single-file Stable Video Diffusion checkpoint (UNet + VAE + CLIP), not Puppet-Master",
            "svd_vae": "Stable Video Diffusion VAE (temporal decoder), used with Puppet-Master",
            "svd_image_encoder": "CLIP image encoder with projection (SVD's image_encoder), used with Puppet-Master",
            "unknown": "unknown weights (neither Puppet-Master nor SVD)",
        }
        dtypes = ", ".join(f"{dtype} x{count}" for dtype, count in sorted(self.dtypes.items()))
        lines = [
            f"file:       {self.path}",
            f"kind:       {names[self.kind]}",
            f"dtype:      {dtypes}",
            f"parameters: {self.num_parameters:,} in {self.num_tensors:,} tensors",
        ]
        if self.num_drags is not None:
            lines.append(f"drag slots: {self.num_drags}")
        return "\n".join(lines)


def read_safetensors(path: str | Path) -> SafetensorsFile:
    """Parse a safetensors header, rejecting other formats and truncated downloads with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64)
        if len(head) < 8:
            raise CheckpointError(f"{path} is {size} bytes: too small to be a safetensors file (truncated?)")
        (header_size,) = struct.unpack("<Q", head[:8])
        if header_size > min(size - 8, 100_000_000) or head[8:9] != b"{":
            raise CheckpointError(_not_safetensors_message(path, head))
        handle.seek(8)
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path} is not a safetensors file (unreadable header: {error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path} has a malformed safetensors header: __metadata__ must map names to strings")
    tensors = {name: _tensor_entry(path, name, entry) for name, entry in header.items()}
    _check_no_overlap(path, tensors)
    data_start = 8 + header_size
    expected = data_start + max((entry.end for entry in tensors.values()), default=0)
    if size < expected:
        raise CheckpointError(
            f"{path} is truncated: {size:,} bytes on disk but its header describes {expected:,}. "
            "The download did not finish; download it again"
        )
    return SafetensorsFile(path=path, tensors=tensors, metadata=metadata, data_start=data_start)


def _tensor_entry(path: Path, name: str, entry: object) -> TensorEntry:
    """One header entry, checked: known dtype, whole-number shape and offsets, size = shape x dtype."""

    def malformed(why: str) -> CheckpointError:
        return CheckpointError(
            f"{path} has a malformed safetensors header: tensor {name[:200]!r} {why}; "
            "the file is damaged or not a real checkpoint: download it again"
        )

    if not isinstance(entry, dict):
        raise malformed("is not an object with dtype, shape and data_offsets")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise malformed(f"has unknown dtype {str(dtype)[:40]!r}")

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TENSOR_BYTES

    if not isinstance(shape, list) or len(shape) > 16 or not all(whole(side) for side in shape):
        raise malformed(f"has shape {str(shape)[:80]}, not a list of non-negative whole numbers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(whole(o) for o in offsets):
        raise malformed(f"has data_offsets {str(offsets)[:80]}, not [begin, end] in bytes")
    begin, end = offsets
    size = DTYPE_SIZES[dtype]
    for side in shape:
        size *= side
    if end - begin != size:
        raise malformed(f"of shape {shape} and dtype {dtype} needs {size:,} bytes but its offsets give {end - begin:,}")
    return TensorEntry(dtype, tuple(shape), begin, end)


def _check_no_overlap(path: Path, tensors: Mapping[str, TensorEntry]) -> None:
    ordered = sorted((entry.begin, entry.end, name) for name, entry in tensors.items() if entry.end > entry.begin)
    for (_, end, first), (begin, _, second) in zip(ordered, ordered[1:], strict=False):
        if begin < end:
            raise CheckpointError(
                f"{path} has a malformed safetensors header: tensors {first[:100]!r} and {second[:100]!r} share "
                "bytes; the file is damaged or crafted: download it again"
            )


def _not_safetensors_message(path: Path, head: bytes) -> str:
    if head.startswith(b"PK") or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        return (
            f"{path} is a PyTorch pickle (.ckpt/.pt/.bin), not safetensors. Use the .safetensors file; "
            + RELEASED_WEIGHTS_HINT
        )
    if head.startswith(b"version https://git-lfs"):
        return (
            f"{path} is a Git-LFS pointer, not the weights: download the file itself (git lfs pull, or the "
            "download button of the file page)"
        )
    return f"{path} is not a safetensors file (bad header); " + RELEASED_WEIGHTS_HINT


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


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors weight file(s) of a diffusers-style model folder (single, fp16 variant or sharded)."""
    folder = Path(folder)
    index = folder / INDEX_NAME
    if index.is_file():
        weight_map = _read_config(index).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f'{index} has no "weight_map" of tensor names to shard files: download it again')
        shards = sorted(set(weight_map.values()))
        return [folder / shard for shard in shards]
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return [folder / name]
    raise CheckpointError(
        f"no weights in {folder}: expected one of {', '.join(WEIGHT_NAMES)} or {INDEX_NAME} next to config.json"
    )


def _model_folder(folder: Path) -> Path:
    """A diffusers model folder, or a pipeline snapshot's unet/ subfolder."""
    if (folder / "config.json").is_file():
        return folder
    if (folder / "unet" / "config.json").is_file():
        return folder / "unet"
    raise CheckpointError(f"{folder} is not a diffusers model folder: no config.json (or unet/config.json)")


def _classify(names: set[str]) -> str:
    if any(marker in name for name in names for marker in DRAG_MODULE_MARKERS):
        return "puppet_master"
    if any(name.startswith("model.diffusion_model.") for name in names):
        return "svd_single_file"
    if "add_embedding.linear_1.weight" in names and "conv_in.weight" in names:
        return "svd_unet"
    if "decoder.time_conv_out.weight" in names:
        return "svd_vae"
    if "visual_projection.weight" in names and any(name.startswith("vision_model.") for name in names):
        return "svd_image_encoder"
    return "unknown"


def _infer_num_drags(file: SafetensorsFile) -> int | None:
    for name, entry in file.tensors.items():
        if ".flow_convs." in name and name.endswith(".conv_in.weight"):
            return entry.shape[1] // 6
    return None


def _json_object(text: str, where: str) -> dict:
    """A JSON object from a config, or a CheckpointError naming where it came from."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{where} is not valid JSON ({str(error)[:200]}): fix or remove it") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{where} must be a JSON object of model settings, got {type(value).__name__}")
    return value


def _read_config(path: Path) -> dict:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"cannot read the config {path}: {error}") from None
    return _json_object(text, f"config {path}")


def _stored_config(file: SafetensorsFile) -> dict | None:
    text = file.metadata.get(CONFIG_METADATA_KEY)
    return _json_object(text, f"the {CONFIG_METADATA_KEY} metadata of {file.path}") if text else None


def inspect_checkpoint(path: str | Path) -> CheckpointInfo:
    """Say what a .safetensors file or diffusers folder holds, without loading any tensor."""
    path = Path(path)
    config = None
    if path.is_dir():
        folder = _model_folder(path)
        config = _public_config(_read_config(folder / "config.json"))
        files = [read_safetensors(file) for file in weight_files(folder)]
    else:
        files = [read_safetensors(path)]
        config = _stored_config(files[0])
    tensors = {name: entry for file in files for name, entry in file.tensors.items()}
    dtypes: dict[str, int] = {}
    for entry in tensors.values():
        dtypes[entry.dtype] = dtypes.get(entry.dtype, 0) + 1
    num_parameters = sum(int(torch.Size(entry.shape).numel()) for entry in tensors.values())
    return CheckpointInfo(
        path=path,
        kind=_classify(set(tensors)),
        dtypes=dtypes,
        num_parameters=num_parameters,
        num_tensors=len(tensors),
        num_drags=_infer_num_drags(files[0]) if len(files) == 1 else None,
        config=config,
    )


def _public_config(config: Mapping) -> dict:
    return {key: value for key, value in config.items() if not key.startswith("_")}


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
    return f"{path} does not contain Puppet-Master UNet weights (no flow_convs / drag_token_mlps keys). " + (
        RELEASED_WEIGHTS_HINT
    )


def _check_keys(path: Path, model: PuppetMasterUNet, tensors: Mapping[str, TensorEntry]) -> None:
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    kind = _classify(set(tensors))
    if kind != "puppet_master":
        raise CheckpointError(_wrong_file_message(path, kind))
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
        config = _read_config(Path(config))
    if config is not None:
        if not isinstance(config, Mapping):
            raise CheckpointError(f"config must be a dict or a JSON file path, got {type(config).__name__}")
        return _public_config(config)
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
        folder = _model_folder(path)
        files = [read_safetensors(file) for file in weight_files(folder)]
        stored = _public_config(_read_config(folder / "config.json"))
    else:
        files = [read_safetensors(path)]
        stored = _stored_config(files[0])
    tensors = {name: entry for file in files for name, entry in file.tensors.items()}
    model_config = _resolve_config(config, stored, _infer_num_drags(files[0]))
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
    metadata = {"format": "pt", CONFIG_METADATA_KEY: json.dumps(_public_config(model.config))}
    save_file(state, str(path), metadata=metadata)
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
        folder = _model_folder(path)
        architecture = _read_config(folder / "config.json")
        files = [read_safetensors(file) for file in weight_files(folder)]
    else:
        architecture = {}
        files = [read_safetensors(path)]
    names = {name for file in files for name in file.tensors}
    kind = _classify(names)
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
