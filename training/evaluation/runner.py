"""Generate every clip, score it against its ground truth, write the tables and side-by-side videos.

Ground truth for the pixel metrics is the VAE decode of the ground-truth latents at 256 px (the clip's
gif is 512 px and palette-quantised, so it is not used): both videos then went through the same decoder.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from puppet_master.encoders import VideoAutoencoder
from puppet_master.model import PuppetMasterUNet
from puppet_master.pipeline import sample_video
from puppet_master.sampler_settings import OFFICIAL_SETTINGS, SamplerSettings
from puppet_master.video import draw_drags, save_video

from .clips import DragAMoveClip
from .fvd import I3DFeatures
from .lpips import LPIPS
from .metrics import frechet_distance, psnr, ssim
from .tracking import PointTracker, foreground_points, motion_error

COLUMNS = ("clip", "category", "psnr", "ssim", "lpips", "motion_error_drags", "motion_error_foreground")


@dataclass
class ClipScores:
    """Scores of one clip (LPIPS is None without its weight files)."""

    clip: str
    category: str
    psnr: float
    ssim: float
    lpips: float | None
    motion_error_drags: float
    motion_error_foreground: float


@dataclass
class EvaluationReport:
    """Per-clip scores, their means, and FVD over the whole set (None without an I3D file)."""

    clips: list[ClipScores]
    fvd: float | None
    settings: dict = field(default_factory=dict)

    def means(self) -> dict[str, float | None]:
        """Each metric's mean over the clips that have it (None where none has)."""
        means: dict[str, float | None] = {}
        for column in COLUMNS[2:]:
            values = [getattr(c, column) for c in self.clips if getattr(c, column) is not None]
            values = [v for v in values if not math.isnan(v)]
            means[column] = sum(values) / len(values) if values else None
        return means

    def rows(self) -> list[dict]:
        """One row per clip plus the mean row."""
        return [asdict(c) for c in self.clips] + [{"clip": "mean", "category": "", **self.means()}]

    def write_csv(self, path: Path) -> Path:
        """Write the rows as CSV; returns `path`."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in self.rows():
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return path

    def write_markdown(self, path: Path) -> Path:
        """Write the rows as a Markdown table; returns `path`."""

        def cell(value: object) -> str:
            return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in self.rows()]
        lines.append("")
        lines.append(f"FVD over {len(self.clips)} clips: {cell(self.fvd)}")
        lines.append("Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def drag_tracks(drags: torch.Tensor, size: int) -> torch.Tensor:
    """(K, F, 2) pixel tracks of the slots that hold a drag in any frame."""
    present = (drags != 0).any(-1).any(0)
    return drags[:, present, 2:].permute(1, 0, 2) * size


@torch.no_grad()
def evaluate(
    clips: list[DragAMoveClip],
    unet: PuppetMasterUNet,
    vae: VideoAutoencoder,
    out_dir: str | Path,
    tracker: PointTracker,
    settings: SamplerSettings = OFFICIAL_SETTINGS,
    *,
    lpips: LPIPS | None = None,
    i3d: I3DFeatures | None = None,
    fps: float = 7.0,
) -> EvaluationReport:
    """Score `clips` generated with `settings`; writes results.csv, results.md and clips/<name>.mp4 (input with
    drags | generated | truth). The ground truth is decoded in `settings.decode_chunk_size` chunks too."""
    out_dir = Path(out_dir)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    scores, generated_features, reference_features = [], [], []
    for clip in clips:
        generated = sample_video(unet, vae, clip.cond_latent[None], clip.embedding.view(1, 1, -1), clip.drags, settings)
        reference = vae.decode(clip.latents, settings.decode_chunk_size).permute(0, 2, 3, 1).cpu()
        size = reference.shape[2]
        tracks = drag_tracks(clip.drags, size)
        origins = tracks[:, 0]
        scores.append(
            ClipScores(
                clip=clip.name,
                category=str(clip.metadata.get("category", "")),
                psnr=psnr(generated, reference),
                ssim=ssim(generated, reference),
                lpips=lpips.video_distance(generated, reference) if lpips is not None else None,
                motion_error_drags=motion_error(generated, reference, origins, tracker),
                motion_error_foreground=motion_error(generated, reference, foreground_points(reference[0]), tracker),
            )
        )
        if i3d is not None:
            generated_features.append(i3d(generated))
            reference_features.append(i3d(reference))
        first = reference[:1].expand(len(reference), -1, -1, -1)
        panels = [draw_drags(first, tracks.numpy()), draw_drags(generated, tracks.numpy()), reference]
        save_video(torch.cat(panels, dim=2), out_dir / "clips" / f"{clip.name}.mp4", fps=fps)
    fvd = None
    if i3d is not None:
        fvd = frechet_distance(torch.stack(generated_features), torch.stack(reference_features))
    shown = {
        "steps": settings.steps,
        "guidance": f"{settings.min_guidance}->{settings.max_guidance}",
        "seed": settings.seed,
        "clips": len(clips),
    }
    report = EvaluationReport(clips=scores, fvd=fvd, settings=shown)
    report.write_csv(out_dir / "results.csv")
    report.write_markdown(out_dir / "results.md")
    return report
