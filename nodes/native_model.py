"""Puppet-Master as a native ComfyUI MODEL.

A model config (core's SVD img2vid config: V-prediction EDM, sigma 0.002..700, SD1.5 latent format) whose
model is a `BaseModel` around the one Puppet-Master UNet (`FrameBatchUNet`), built with the `comfy.ops`
layers ComfyUI picks for the weight dtype. The drags travel as a conditioning value
(`conditioning_set_values(cond, {DRAGS_KEY: (F, K, 4)})`) that `extra_conds` turns into the diffusion
model's `drags=` keyword, never into the cross-attention context. ComfyUI is imported only when a model is
built (this module loads without it).
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import torch

from puppet_master.host_memory import reuse_freed_host_memory
from puppet_master.loading import read_unet_checkpoint
from puppet_master.model import FrameBatchUNet, build_unet

DRAGS_KEY = "puppet_master_drags"
"""Name of the conditioning value holding the (frames, K, 4) drags."""

WEIGHT_DTYPES: dict[str, torch.dtype | None] = {
    "default": None,
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
    "auto": None,
}
"""Loader choices; "auto" is the name older workflows saved for "default"."""


def _diffusion_model(
    *, device: torch.device | None = None, operations=None, dtype: torch.dtype | None = None, **config
) -> FrameBatchUNet:
    """What `BaseModel` calls to build its `diffusion_model`: our UNet with ComfyUI's weight layers."""
    unet = build_unet(config, operations, device=device, dtype=dtype, cls=FrameBatchUNet)
    unet.fold_cross_attention_over(_computes_with_stored_weights)
    return unet


def _computes_with_stored_weights(layer: torch.nn.Module) -> bool:
    """A comfy.ops Linear whose forward is plain `nn.Linear` now: no cast-on-use (other dtype or device, fp8,
    low-VRAM offload) and no weight/bias patch (LoRA applied on the fly)."""
    return (
        isinstance(layer, torch.nn.Linear)
        and not getattr(layer, "comfy_cast_weights", False)
        and not getattr(layer, "weight_function", None)
        and not getattr(layer, "bias_function", None)
    )


@cache
def native_classes() -> tuple[type, type]:
    """(PuppetMasterModelConfig, PuppetMasterModel), defined on first use over ComfyUI's classes."""
    import comfy.conds
    import comfy.model_base
    import comfy.supported_models
    import comfy.utils

    class PuppetMasterModel(comfy.model_base.BaseModel):
        """SVD img2vid's sampling (V-prediction EDM) around the Puppet-Master UNet; drags as a cond value."""

        def __init__(self, model_config, model_type=comfy.model_base.ModelType.V_PREDICTION_EDM, device=None):
            super().__init__(model_config, model_type, device=device, unet_model=_diffusion_model)

        def extra_conds(self, **kwargs):
            noise = kwargs["noise"]
            frames = noise.shape[0]
            latent_image = kwargs.get("concat_latent_image")
            if latent_image is None:
                latent_image = torch.zeros_like(noise)
            elif latent_image.shape[1:] != noise.shape[1:]:
                latent_image = comfy.utils.common_upscale(
                    latent_image, noise.shape[-1], noise.shape[-2], "bilinear", "center"
                )
            out = {"c_concat": comfy.conds.CONDNoiseShape(comfy.utils.resize_to_batch_size(latent_image, frames))}
            cross_attn = kwargs.get("cross_attn")
            if cross_attn is not None:
                out["c_crossattn"] = comfy.conds.CONDCrossAttn(cross_attn)
            drags = kwargs.get(DRAGS_KEY)
            if drags is None:
                logging.warning(
                    "Puppet-Master: this conditioning has no drags (it did not come from Puppet-Master "
                    "Conditioning); sampling without drags"
                )
                drags = torch.zeros(frames, self.model_config.unet_config.get("num_drags", 5), 4)
            if drags.shape[0] != frames:
                raise ValueError(
                    f"the drags are for {drags.shape[0]} frames but the latent has {frames}: use the LATENT of the "
                    "Puppet-Master Conditioning node that made these drags (its frames come from the Drags node)"
                )
            out["drags"] = comfy.conds.CONDRegular(drags)
            out["num_video_frames"] = comfy.conds.CONDConstant(frames)
            return out

    class PuppetMasterModelConfig(comfy.supported_models.SVD_img2vid):
        """Core's SVD img2vid settings; `unet_config` holds the PuppetMasterUNet constructor arguments."""

        unet_extra_config = {}

        def get_model(self, state_dict, prefix="", device=None):
            return PuppetMasterModel(self, device=device)

    return PuppetMasterModelConfig, PuppetMasterModel


def _generation_scope(executor, *args, **kwargs):
    """OUTER_SAMPLE wrapper: a generation starts and ends with an empty drag-context cache, and on the CPU its
    steps reuse the host memory that earlier steps freed (`reuse_freed_host_memory`, as the library's loop)."""
    patcher = executor.class_obj.model_patcher
    cache = patcher.model.diffusion_model.drag_cache
    cache.clear()
    try:
        with reuse_freed_host_memory(torch.device(patcher.load_device).type == "cpu"):
            return executor(*args, **kwargs)
    finally:
        cache.clear()


def load_native_model(path: str | Path, weight_dtype: str = "default"):
    """A Puppet-Master checkpoint as a ComfyUI ModelPatcher, loaded as core's UNETLoader loads a model.

    The weight dtype is `weight_dtype`'s, or for "default" ComfyUI's choice for the device; where the device
    cannot compute in it (fp8, or fp16 on a CPU) ComfyUI's manual-cast layers compute in a supported dtype.
    """
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weight_dtype must be one of {', '.join(WEIGHT_DTYPES)}, got {weight_dtype!r}")
    unet_config, state = read_unet_checkpoint(path)  # clear errors for other files before ComfyUI is involved

    import comfy.model_management as management
    import comfy.model_patcher
    import comfy.patcher_extension
    import comfy.utils

    config_class, _ = native_classes()
    model_config = config_class(unet_config)
    load_device = management.get_torch_device()
    offload_device = management.unet_offload_device()
    dtype = WEIGHT_DTYPES[weight_dtype] or management.unet_dtype(
        model_params=comfy.utils.calculate_parameters(state),
        supported_dtypes=list(model_config.supported_inference_dtypes),
        weight_dtype=comfy.utils.weight_dtype(state),
    )
    manual_cast_dtype = management.unet_manual_cast(dtype, load_device, model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(dtype, manual_cast_dtype, device=load_device)
    model = model_config.get_model(state, "")
    patcher = comfy.model_patcher.CoreModelPatcher(model, load_device=load_device, offload_device=offload_device)
    if not management.is_device_cpu(offload_device):
        model.to(offload_device)
    model.load_model_weights(state, "", assign=patcher.is_dynamic())
    patcher.add_wrapper_with_key(
        comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "puppet_master_generation", _generation_scope
    )
    return patcher
