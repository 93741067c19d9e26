"""The official sampler settings expressed with ComfyUI's own sampling: k-diffusion Euler on the Karras
schedule of the model's sigma range, with classifier-free guidance ramped per frame (the first frame
min_cfg, the last cfg), the official demo's schedule and guidance."""

from __future__ import annotations

import torch

from puppet_master.sampler_settings import SamplerSettings

SAMPLER = "euler"
SCHEDULER = "karras"


def per_frame_guidance(min_cfg: float):
    """A sampler_cfg_function: guidance linspace(min_cfg, cfg, frames) over the batch (frames are the batch)."""

    def guidance(args: dict) -> torch.Tensor:
        cond, uncond = args["cond"], args["uncond"]
        ramp = torch.linspace(min_cfg, args["cond_scale"], cond.shape[0], device=cond.device, dtype=cond.dtype)
        return uncond + ramp.reshape(-1, *([1] * (cond.ndim - 1))) * (cond - uncond)

    return guidance


def with_per_frame_guidance(model, min_cfg: float):
    """A clone of the ComfyUI MODEL whose guidance ramps per frame."""
    patched = model.clone()
    patched.set_model_sampler_cfg_function(per_frame_guidance(min_cfg))
    return patched


def sample_official(model, positive: list, negative: list, latent: dict, settings: SamplerSettings) -> torch.Tensor:
    """Denoise `latent` with ComfyUI's sampling (progress bar, previews, interrupt included) and `settings`'
    steps, guidance ramp and seed: the samples in ComfyUI's latent space (the VAE's, i.e. the model's
    latents / 0.18215). The negative conditioning is already made (`settings.negative` chose it)."""
    import comfy.sample
    import comfy.utils
    import latent_preview

    patched = with_per_frame_guidance(model, settings.min_guidance)
    samples = latent["samples"]
    noise = comfy.sample.prepare_noise(samples, settings.seed)
    callback = latent_preview.prepare_callback(patched, settings.steps)
    return comfy.sample.sample(
        patched, noise, settings.steps, settings.max_guidance, SAMPLER, SCHEDULER, positive, negative, samples,
        denoise=1.0, callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=settings.seed,
    )  # fmt: skip
