"""Pixel metrics and the Frechet distance.

Frames are (F, H, W, 3) float tensors in [0, 1], compared frame by frame and averaged.
SSIM is Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1,
computed per RGB channel over the valid region (no padding) and averaged over channels, pixels and frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"expected two (frames, height, width, 3) videos of equal shape, got {a.shape} and {b.shape}")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over frames of 10 log10(1 / MSE), in dB (identical frames are capped at 100 dB)."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def _gaussian_window(device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - (SSIM_WINDOW - 1) / 2
    kernel = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return kernel / kernel.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (the variant in the module docstring)."""
    _check_pair(a, b)
    x = a.double().permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])
    y = b.double().permute(0, 3, 1, 2).reshape(-1, 1, *b.shape[1:3])
    kernel = _gaussian_window(x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, kernel.view(1, 1, 1, -1))
        return F.conv2d(t, kernel.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(index.mean())


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to (N, D) features.

    The trace of the matrix square root is computed from the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2), in float64.
    """
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"expected (N, D) features with the same D, got {features_a.shape} and {features_b.shape}")
    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError("the Frechet distance needs at least 2 samples on each side")
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    product = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0)
    trace = cov_a.trace() + cov_b.trace() - 2 * product.sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + trace)
