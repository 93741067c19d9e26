"""The training objective (paper appendix C.1, spec section 4).

x_noisy = x0 + sigma * eps with ln sigma ~ N(0.7, 1.6^2) and c_noise = 0.25 ln sigma; the model input is
- `edm`: c_in * x_noisy with c_in = 1/sqrt(sigma^2 + 1), the EDM preconditioning SVD was trained with and
  that inference applies (the sampler feeds x/sqrt(sigma^2+1));
- `official`: x_noisy itself, as the released train.py computes it.
Which of the two the released checkpoint was trained with is not known (spec section 7, Q1).
x0_hat = x_noisy/(sigma^2+1) - F*sigma/sqrt(sigma^2+1); loss = mean((1 + sigma^-2) * (x0 - x0_hat)^2), NaNs in
the squared error zeroed as officially.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from puppet_master.model import PuppetMasterUNet

INPUT_SCALINGS = ("edm", "official")


@dataclass(frozen=True)
class NoiseDraw:
    """The random inputs of one training step, drawn from one generator."""

    sigma: torch.Tensor
    noise: torch.Tensor
    drop_drags: torch.Tensor


def draw_noise(
    shape: tuple[int, ...], generator: torch.Generator, p_mean: float = 0.7, p_std: float = 1.6, drop_prob: float = 0.1
) -> NoiseDraw:
    """Per-sample sigma (log-normal), the Gaussian noise and the drag-dropout decisions."""
    batch = shape[0]
    sigma = (torch.randn(batch, generator=generator) * p_std + p_mean).exp()
    noise = torch.randn(shape, generator=generator)
    drop = (torch.rand(batch, generator=generator) < drop_prob).long()
    return NoiseDraw(sigma=sigma, noise=noise, drop_drags=drop)


def edm_loss(
    model: PuppetMasterUNet,
    latents: torch.Tensor,
    cond_latent: torch.Tensor,
    embedding: torch.Tensor,
    drags: torch.Tensor,
    draw: NoiseDraw,
    input_scaling: str = "edm",
) -> torch.Tensor:
    """Weighted denoising loss of one batch (latents (B, F, 4, h, w) already scaled by 0.18215).

    `input_scaling` is "edm" (the model sees c_in * x_noisy) or "official" (x_noisy, as the released script).
    """
    if input_scaling not in INPUT_SCALINGS:
        raise ValueError(f"input_scaling must be one of {', '.join(INPUT_SCALINGS)}, got {input_scaling!r}")
    device = latents.device
    sigma = draw.sigma.to(device).view(-1, 1, 1, 1, 1)
    noisy = latents + sigma * draw.noise.to(device)
    output = model(
        noisy / (sigma**2 + 1).sqrt() if input_scaling == "edm" else noisy,
        0.25 * draw.sigma.to(device).log(),
        image_latents=cond_latent,
        encoder_hidden_states=embedding,
        drags=drags,
        force_drop_ids=draw.drop_drags.to(device),
    ).float()
    denoised = noisy / (sigma**2 + 1) - output * sigma / (sigma**2 + 1).sqrt()
    error = torch.nan_to_num((latents - denoised) ** 2, nan=0.0)
    return ((1 + sigma**-2) * error).mean()
