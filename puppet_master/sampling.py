"""The official sampler: EDM Euler on SVD's Karras schedule with per-frame classifier-free guidance.

The drag context is prepared once; per-step scalars are host floats and per-step tensors live on the
device before the loop starts, so the loop itself never waits on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch

from .configs import packaged_config
from .host_memory import reuse_freed_host_memory
from .model import PuppetMasterUNet
from .sampler_settings import OFFICIAL_SETTINGS, OFFICIAL_STEPS, SamplerSettings, check_count, check_seed

StepCallback = Callable[[int, int, torch.Tensor], "bool | None"]


class GenerationCancelled(RuntimeError):
    """Raised when a step callback returns False (`sample`, and so `PuppetMasterPipeline`, `sample_video` and
    `generate_frames`): sampling stopped cleanly after that step, nothing is returned. Catch it to tell a
    cancelled generation from a failed one: `from puppet_master import GenerationCancelled`."""


class NonFiniteOutputError(ValueError):
    """The generation produced NaN or infinite values; the message names the inputs that can cause it."""


def require_finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """`values` unchanged, or `NonFiniteOutputError`; one host sync, for use once after a loop, never inside."""
    if not bool(torch.isfinite(values).all()):
        raise NonFiniteOutputError(
            f"the {what} contain NaN or infinite values: the weights (check them with `python -m puppet_master "
            "info`, re-download if damaged), cfg/min_cfg, or the conditioning image hold non-finite numbers"
        )
    return values


@dataclass(frozen=True)
class Schedule:
    """Noise levels sigma_0 > ... > sigma_{n-1} > sigma_n = 0 and the model timesteps 0.25 ln sigma."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor
    init_noise_sigma: float


@lru_cache(maxsize=1)
def scheduler_config() -> dict:
    """SVD img2vid's EulerDiscreteScheduler config, shipped with the package (never downloaded)."""
    return packaged_config("svd_scheduler.json")


def karras_schedule(steps: int) -> Schedule:
    """The exact schedule diffusers' EulerDiscreteScheduler gives SVD img2vid for `steps` steps."""
    from diffusers import EulerDiscreteScheduler

    check_count("steps", steps, OFFICIAL_STEPS)
    scheduler = EulerDiscreteScheduler.from_config(scheduler_config())
    scheduler.set_timesteps(steps)
    return Schedule(scheduler.sigmas.float(), scheduler.timesteps.float(), float(scheduler.init_noise_sigma))


def initial_noise(seed: int, frames: int, latent_size: tuple[int, int]) -> torch.Tensor:
    """The official demo's noise for `seed` (torch.manual_seed(seed); torch.randn((1, F, 4, h, w)) on CPU),
    drawn from a private generator so the global RNG is left alone."""
    check_seed(seed)
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn((1, frames, 4, *latent_size), generator=generator)


def guidance_scales(min_guidance: float, max_guidance: float, frames: int) -> torch.Tensor:
    """(1, F, 1, 1, 1) per-frame guidance linspace(min, max, F): frame 0 is unguided by default."""
    return torch.linspace(min_guidance, max_guidance, frames).view(1, frames, 1, 1, 1)


def sample(
    unet: PuppetMasterUNet,
    noise: torch.Tensor,
    image_latents: torch.Tensor,
    image_embedding: torch.Tensor,
    drags: torch.Tensor,
    settings: SamplerSettings = OFFICIAL_SETTINGS,
    *,
    callback: StepCallback | None = None,
    reuse_drag_context: bool = True,
    reuse_host_memory: bool = True,
) -> torch.Tensor:
    """Denoise `noise` into video latents (0.18215-scaled space), as the official `sample_from_noise`.

    Args:
        noise: (1, F, 4, h, w) standard normal noise (see `initial_noise`).
        image_latents: (1, 4, h, w) unscaled VAE posterior mean of the conditioning frame.
        image_embedding: (1, 1, D) CLIP image embedding.
        drags: (1, F, K, 4) model drags.
        settings: steps, the per-frame guidance ramp and the negative (the seed and decode chunk are the
            callers'); no guidance batch when max_guidance <= 1.
        callback: called after every step with (step_index, steps, latents); returning False stops
            sampling with `GenerationCancelled`.
        reuse_drag_context: prepare the drag-only work once (default). False recomputes it in every
            UNet call as the official code does; the benchmark uses it as its baseline.
        reuse_host_memory: on the CPU, keep freed activation memory for the next buffers while sampling
            (`reuse_freed_host_memory`, default). False allocates as the official code does (the baseline).

    Returns:
        (1, F, 4, h, w) float32 latents.
    """
    steps = settings.steps
    parameter = next(unet.parameters())
    device, dtype = parameter.device, parameter.dtype
    frames, latent_size = noise.shape[1], tuple(noise.shape[-2:])
    schedule = karras_schedule(steps)
    sigmas = schedule.sigmas.tolist()
    timesteps = schedule.timesteps.to(device)

    guided = settings.max_guidance > 1
    image_latents = image_latents.to(device=device, dtype=dtype)
    image_embedding = image_embedding.to(device=device, dtype=dtype)
    drags = drags.to(device=device, dtype=torch.float32)
    if guided:
        keep_image = settings.negative == "drags_only"
        image_latents = torch.cat([image_latents, image_latents if keep_image else torch.zeros_like(image_latents)])
        image_embedding = torch.cat(
            [image_embedding, image_embedding if keep_image else torch.zeros_like(image_embedding)]
        )
        drags = torch.cat([drags, torch.zeros_like(drags)])
        scales = guidance_scales(settings.min_guidance, settings.max_guidance, frames).to(device)
    drag_inputs = {"drag_context": unet.prepare_drags(drags, latent_size)} if reuse_drag_context else {"drags": drags}

    latents = noise.to(device=device, dtype=torch.float32) * schedule.init_noise_sigma
    with reuse_freed_host_memory(reuse_host_memory and device.type == "cpu"):
        for index in range(steps):
            sigma, sigma_next = sigmas[index], sigmas[index + 1]
            model_input = latents / ((sigma**2 + 1) ** 0.5)
            if guided:
                model_input = torch.cat([model_input, model_input])
            output = unet(
                model_input.to(dtype),
                timesteps[index],
                image_latents=image_latents,
                encoder_hidden_states=image_embedding,
                **drag_inputs,
            ).float()
            if guided:
                conditional, unconditional = output.chunk(2)
                output = unconditional + scales * (conditional - unconditional)
            denoised = output * (-sigma / (sigma**2 + 1) ** 0.5) + latents / (sigma**2 + 1)
            latents = latents + (latents - denoised) / sigma * (sigma_next - sigma)
            if callback is not None and callback(index, steps, latents) is False:
                raise GenerationCancelled(f"sampling stopped by the callback after step {index + 1} of {steps}")
    return require_finite(latents, "denoised latents")
