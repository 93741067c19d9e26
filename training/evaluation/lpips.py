"""LPIPS with the AlexNet backbone (Zhang et al. 2018, v0.1), from weight files the user provides.

Two files, never downloaded: the AlexNet ImageNet weights in torchvision's layout (`features.N.weight`,
e.g. alexnet-owt-7be5be79.pth) and the LPIPS linear layers (`lin0.model.1.weight` ... `lin4...`, the
`weights/v0.1/alex.pth` of the lpips package). Either may be .pth or .safetensors. torchvision is not
needed: the five-convolution AlexNet feature stack is defined here.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CONVOLUTIONS = {  # torchvision index: (in, out, kernel, stride, padding)
    0: (3, 64, 11, 4, 2),
    3: (64, 192, 5, 1, 2),
    6: (192, 384, 3, 1, 1),
    8: (384, 256, 3, 1, 1),
    10: (256, 256, 3, 1, 1),
}
POOL_BEFORE = (3, 6)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a plain (weights-only) .pth file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class LPIPS(nn.Module):
    """Perceptual distance between images in [0, 1]; lower is more similar."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.ModuleDict(
            {str(i): nn.Conv2d(cin, cout, k, stride=s, padding=p) for i, (cin, cout, k, s, p) in CONVOLUTIONS.items()}
        )
        self.lins = nn.ModuleList(nn.Conv2d(c[1], 1, 1, bias=False) for c in CONVOLUTIONS.values())
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_files(cls, alexnet: str | Path, linear: str | Path) -> LPIPS:
        """Build from the AlexNet backbone and LPIPS linear-layer files (see the module docstring)."""
        model = cls()
        backbone = load_weights(alexnet)
        lins = load_weights(linear)
        state = {}
        for index in CONVOLUTIONS:
            for kind in ("weight", "bias"):
                key = f"features.{index}.{kind}"
                if key not in backbone:
                    raise ValueError(f"{alexnet} is not torchvision AlexNet weights: no {key}")
                state[f"features.{index}.{kind}"] = backbone[key]
        for layer in range(len(CONVOLUTIONS)):
            key = f"lin{layer}.model.1.weight"
            if key not in lins:
                raise ValueError(f"{linear} is not the LPIPS v0.1 AlexNet linear layers: no {key}")
            state[f"lins.{layer}.weight"] = lins[key]
        model.load_state_dict(state, strict=True)
        return model.eval().requires_grad_(False)

    def _activations(self, images: torch.Tensor) -> list[torch.Tensor]:
        hidden = ((images * 2 - 1) - self.shift) / self.scale
        outputs = []
        for index, conv in self.features.items():
            if int(index) in POOL_BEFORE:
                hidden = F.max_pool2d(hidden, kernel_size=3, stride=2)
            hidden = F.relu(conv(hidden))
            outputs.append(hidden)
        return outputs

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) pairs in [0, 1] -> (N,) distances."""
        total = torch.zeros(a.shape[0], device=a.device)
        for lin, fa, fb in zip(self.lins, self._activations(a), self._activations(b), strict=True):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((na - nb) ** 2).mean(dim=(1, 2, 3))
        return total

    def video_distance(self, a: torch.Tensor, b: torch.Tensor) -> float:
        """Mean LPIPS over the frames of two (F, H, W, 3) videos."""
        return float(self(a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)).mean())
