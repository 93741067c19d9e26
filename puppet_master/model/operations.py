"""Weight layers from a caller's `operations` namespace: one network, any layer implementation.

The UNet is built from diffusers' blocks, which create `torch.nn` layers. A host that manages weights
itself (ComfyUI's `comfy.ops`: cast-on-use, fp8 storage, low-VRAM streaming, LoRA patches) passes a
namespace with classes of the same names and constructor signatures (`Linear`, `Conv2d`, `Conv3d`,
`GroupNorm`, `LayerNorm`); `build_unet` constructs the network's skeleton without memory, then builds
every weight layer from that namespace. Without a namespace the plain `torch.nn` model is built as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import nn

from .unet import PuppetMasterUNet

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.Conv3d, nn.GroupNorm, nn.LayerNorm)
"""The layer types the UNet uses that hold weights (the only other parameters are AlphaBlender scalars)."""


def _rebuilt(layer: nn.Module, operations: Any, device: torch.device | None, dtype: torch.dtype | None) -> nn.Module:
    """The same layer (same hyper-parameters) built from `operations`; its weights are left unset."""
    kind = type(layer)
    factory = {"device": device, "dtype": dtype}
    cls = getattr(operations, kind.__name__)
    if kind is nn.Linear:
        return cls(layer.in_features, layer.out_features, bias=layer.bias is not None, **factory)
    if kind in (nn.Conv2d, nn.Conv3d):
        return cls(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
            bias=layer.bias is not None,
            padding_mode=layer.padding_mode,
            **factory,
        )
    if kind is nn.GroupNorm:
        return cls(layer.num_groups, layer.num_channels, eps=layer.eps, affine=layer.affine, **factory)
    return cls(
        layer.normalized_shape,
        eps=layer.eps,
        elementwise_affine=layer.elementwise_affine,
        bias=layer.bias is not None,
        **factory,
    )


def use_operations(
    model: nn.Module, operations: Any, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> nn.Module:
    """Replace every plain `torch.nn` weight layer of `model` by `operations`' class of the same name.

    Only exact `torch.nn` types are replaced, so calling it twice is harmless. Other parameters (the
    AlphaBlender mix factors) that are still on the meta device are given float32 storage on `device`.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in WEIGHT_LAYERS:
                setattr(parent, name, _rebuilt(child, operations, device, dtype))
    for module in model.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            if parameter.is_meta:
                storage = torch.empty(parameter.shape, dtype=torch.float32, device=device)
                setattr(module, name, nn.Parameter(storage, requires_grad=parameter.requires_grad))
    return model


def build_unet(
    config: Mapping[str, Any],
    operations: Any | ModuleType | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cls: type[PuppetMasterUNet] = PuppetMasterUNet,
) -> PuppetMasterUNet:
    """A `cls` (a PuppetMasterUNet) from constructor arguments, its weight layers from `operations`.

    Args:
        config: PuppetMasterUNet constructor arguments.
        operations: a namespace with `Linear`, `Conv2d`, `Conv3d`, `GroupNorm`, `LayerNorm` classes taking
            torch's constructor arguments (e.g. `comfy.ops.manual_cast`); None builds plain torch.nn layers,
            randomly initialised as `PuppetMasterUNet(**config)` does.
        device, dtype: where and in which dtype the layers' (uninitialised) weights are allocated.
    """
    if operations is None or operations is nn:
        model = cls(**config)
        return model.to(device=device, dtype=dtype) if device is not None or dtype is not None else model
    with torch.device("meta"):
        model = cls(**config)
    return use_operations(model, operations, device=device, dtype=dtype)
