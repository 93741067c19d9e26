"""What a weight file or model folder is, without torch: the safetensors header parsed and checked against
the file (truncated downloads, pickles, LFS pointers, damaged headers), the kind of model its keys show and
its stored config. `python -m puppet_master info` and every error about a wrong file need only this."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_METADATA_KEY = "puppet_master_config"
WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "model.safetensors",
    "model.fp16.safetensors",
)
INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip
"""Bytes per element of every dtype the safetensors format defines (headers are checked against them)."""
WEIGHT_DTYPES = ("F32", "F16", "BF16", "F64")
MAX_TENSOR_BYTES = 1 << 40
DRAG_MODULE_MARKERS = (".flow_convs.", ".drag_token_mlps.")
SVD_ENCODERS_USE = "the CLI's --svd, load_svd_encoders in Python, ComfyUI's models/diffusers"
"""Where an SVD img2vid encoder folder goes, for messages about one given as something else."""
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


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors weight file(s) of a diffusers-style model folder (single, fp16 variant or sharded)."""
    folder = Path(folder)
    index = folder / INDEX_NAME
    if index.is_file():
        weight_map = read_config(index).get("weight_map")
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


def model_folder(folder: Path) -> Path:
    """A diffusers model folder, or a pipeline snapshot's unet/ subfolder; an SVD encoder folder is named as such."""
    if (folder / "config.json").is_file():
        return folder
    if (folder / "unet" / "config.json").is_file():
        return folder / "unet"
    if any((folder / part / "config.json").is_file() for part in ("vae", "image_encoder")):
        raise CheckpointError(
            f"{folder} is an SVD img2vid encoder folder (vae/, image_encoder/, feature_extractor/), not a UNet: "
            f"it is the SVD encoders ({SVD_ENCODERS_USE}). " + RELEASED_WEIGHTS_HINT
        )
    raise CheckpointError(f"{folder} is not a diffusers model folder: no config.json (or unet/config.json)")


def classify(names: set[str]) -> str:
    """The kind of model a set of tensor names shows (see `CheckpointInfo.kind`)."""
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


def infer_num_drags(file: SafetensorsFile) -> int | None:
    """The drag slots of a Puppet-Master file, read from its first drag-embedding convolution (None if none)."""
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


def read_config(path: Path) -> dict:
    """A JSON config file as a dict, or a CheckpointError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"cannot read the config {path}: {error}") from None
    return _json_object(text, f"config {path}")


def stored_config(file: SafetensorsFile) -> dict | None:
    """The model config `save_unet` stores in the file's metadata, if any."""
    text = file.metadata.get(CONFIG_METADATA_KEY)
    return _json_object(text, f"the {CONFIG_METADATA_KEY} metadata of {file.path}") if text else None


def inspect_checkpoint(path: str | Path) -> CheckpointInfo:
    """Say what a .safetensors file or diffusers folder holds, without loading any tensor."""
    path = Path(path)
    config = None
    if path.is_dir():
        folder = model_folder(path)
        config = public_config(read_config(folder / "config.json"))
        files = [read_safetensors(file) for file in weight_files(folder)]
    else:
        files = [read_safetensors(path)]
        config = stored_config(files[0])
    tensors = {name: entry for file in files for name, entry in file.tensors.items()}
    dtypes: dict[str, int] = {}
    for entry in tensors.values():
        dtypes[entry.dtype] = dtypes.get(entry.dtype, 0) + 1
    num_parameters = sum(math.prod(entry.shape) for entry in tensors.values())
    return CheckpointInfo(
        path=path,
        kind=classify(set(tensors)),
        dtypes=dtypes,
        num_parameters=num_parameters,
        num_tensors=len(tensors),
        num_drags=infer_num_drags(files[0]) if len(files) == 1 else None,
        config=config,
    )


def public_config(config: Mapping) -> dict:
    """The constructor settings of a config (diffusers' bookkeeping keys, `_class_name` etc., dropped)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}
