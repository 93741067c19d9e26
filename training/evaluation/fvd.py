"""FVD features from an I3D TorchScript file the user provides; the distance is `metrics.frechet_distance`.

The expected file is the widely used `i3d_torchscript.pt` (Kinetics-400 I3D exported to TorchScript,
as used by StyleGAN-V and others). It is called as `model(videos, rescale=False, resize=True,
return_features=True)` with videos (N, 3, T, H, W) in [-1, 1] and returns (N, 400) logits-layer features.
"""

from __future__ import annotations

from pathlib import Path

import torch


class I3DFeatures:
    """Video -> feature vector with a TorchScript I3D."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu") -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"I3D TorchScript file not found: {path} (FVD needs it; it is never downloaded)")
        self.device = torch.device(device)
        self.model = torch.jit.load(str(path), map_location=self.device).eval()

    @torch.no_grad()
    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        """(F, H, W, 3) in [0, 1] -> (D,) features."""
        clip = (video.permute(3, 0, 1, 2)[None] * 2 - 1).to(self.device)
        return self.model(clip, rescale=False, resize=True, return_features=True)[0].float().cpu()
