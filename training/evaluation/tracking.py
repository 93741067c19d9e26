"""Point trackers for the motion-error metric, behind one protocol.

`LucasKanadeTracker` is the offline default: pyramidal Lucas-Kanade (Bouguet's formulation), tracking
frame to frame on grey levels with a square window, bilinear sampling and a fixed number of Gauss-Newton
iterations per pyramid level; points stay inside the frame. It needs no weights and is what the tests
use. `CoTrackerTracker` wraps CoTracker (facebookresearch/co-tracker) when it is installed and its
checkpoint is given; the paper's numbers use a learned tracker, so absolute motion errors from the two
are not comparable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

GREY = (0.299, 0.587, 0.114)


class PointTracker(Protocol):
    """Tracks points given in frame 0 through a video."""

    def track(self, video: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """(F, H, W, 3) video in [0, 1] and (N, 2) pixel (x, y) points in frame 0 -> (F, N, 2) positions."""
        ...


def _sample(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear values of a (H, W) image at (..., 2) pixel coordinates (pixel centres at integers)."""
    height, width = image.shape
    grid = torch.stack([2 * coords[..., 0] / (width - 1) - 1, 2 * coords[..., 1] / (height - 1) - 1], dim=-1)
    values = F.grid_sample(image[None, None], grid.reshape(1, 1, -1, 2), align_corners=True, padding_mode="border")
    return values.reshape(coords.shape[:-1])


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    padded = F.pad(image[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    return (padded[1:-1, 2:] - padded[1:-1, :-2]) / 2, (padded[2:, 1:-1] - padded[:-2, 1:-1]) / 2


class LucasKanadeTracker:
    """Pyramidal Lucas-Kanade point tracker (see the module docstring)."""

    def __init__(self, window: int = 15, levels: int = 3, iterations: int = 10) -> None:
        self.levels = levels
        self.iterations = iterations
        half = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
        ys, xs = torch.meshgrid(half, half, indexing="ij")
        self.offsets = torch.stack([xs.flatten(), ys.flatten()], dim=-1)

    def _pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        pyramid = [image]
        for _ in range(self.levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1][None, None], 2, ceil_mode=True)[0, 0])
        return pyramid

    def _displacement(self, previous: list[torch.Tensor], following: list[torch.Tensor], points: torch.Tensor):
        guess = torch.zeros_like(points)
        for level in reversed(range(self.levels)):
            scale = 2**level
            centres = (points + 0.5) / scale - 0.5
            window = centres[:, None, :] + self.offsets[None]
            template = _sample(previous[level], window)
            grad_x, grad_y = (_sample(g, window) for g in _gradients(previous[level]))
            gram = torch.stack(
                [
                    torch.stack([(grad_x * grad_x).sum(1), (grad_x * grad_y).sum(1)], -1),
                    torch.stack([(grad_x * grad_y).sum(1), (grad_y * grad_y).sum(1)], -1),
                ],
                -2,
            ) + 1e-9 * torch.eye(2, dtype=points.dtype)
            step = torch.zeros_like(points)
            for _ in range(self.iterations):
                moved = _sample(following[level], window + (guess + step)[:, None, :])
                error = template - moved
                mismatch = torch.stack([(error * grad_x).sum(1), (error * grad_y).sum(1)], -1)
                step = step + torch.linalg.solve(gram, mismatch)
            guess = 2 * (guess + step) if level else guess + step
        return guess

    @torch.no_grad()
    def track(self, video: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """See PointTracker.track."""
        grey = (video.double() * torch.tensor(GREY, dtype=torch.float64)).sum(-1)
        pyramids = [self._pyramid(frame) for frame in grey]
        limit = torch.tensor([grey.shape[2] - 1, grey.shape[1] - 1], dtype=torch.float64)
        positions = [points.double()]
        for previous, following in zip(pyramids[:-1], pyramids[1:], strict=True):
            moved = positions[-1] + self._displacement(previous, following, positions[-1])
            positions.append(torch.minimum(moved.clamp_min(0), limit))
        return torch.stack(positions).float()


class CoTrackerTracker:
    """CoTracker (`cotracker.predictor.CoTrackerPredictor`) from a local checkpoint file."""

    def __init__(self, checkpoint: str | Path, device: torch.device | str = "cpu") -> None:
        try:
            from cotracker.predictor import CoTrackerPredictor
        except ImportError:
            raise ImportError(
                "CoTracker is not installed: install facebookresearch/co-tracker and pass its checkpoint, "
                "or use the default Lucas-Kanade tracker"
            ) from None
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"CoTracker checkpoint not found: {checkpoint}")
        self.device = torch.device(device)
        self.model = CoTrackerPredictor(checkpoint=str(checkpoint)).to(self.device).eval()

    @torch.no_grad()
    def track(self, video: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """See PointTracker.track."""
        frames = (video.float() * 255).permute(0, 3, 1, 2)[None].to(self.device)
        queries = torch.cat([torch.zeros(len(points), 1), points.float()], dim=1)[None].to(self.device)
        tracks, _ = self.model(frames, queries=queries)
        return tracks[0].float().cpu()


def foreground_points(frame: torch.Tensor, stride: int = 8, white: float = 0.94) -> torch.Tensor:
    """(N, 2) grid points (every `stride` px) on the object: pixels not near-white in an (H, W, 3) frame."""
    height, width = frame.shape[:2]
    ys, xs = torch.meshgrid(
        torch.arange(stride // 2, height, stride), torch.arange(stride // 2, width, stride), indexing="ij"
    )
    on_object = frame[ys, xs].min(dim=-1).values < white
    return torch.stack([xs[on_object], ys[on_object]], dim=-1).float()


def motion_error(
    generated: torch.Tensor, reference: torch.Tensor, points: torch.Tensor, tracker: PointTracker
) -> float:
    """Mean L2 distance (pixels) between the tracks of `points` in the generated and the reference video."""
    if len(points) == 0:
        return float("nan")
    return float((tracker.track(generated, points) - tracker.track(reference, points)).norm(dim=-1).mean())
