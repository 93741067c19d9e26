"""`python -m training.precompute`: rendered frames + drag samples -> training clips (dataset.py format).

For every drag sample of every object / action / view (see renders.py), the 14 frames of its window are
composited over white, resized to `size` (256), encoded with the SVD VAE in batches (posterior mean and
std) and frame 0 with CLIP, and written with its tracks rescaled to `size`. Work is split by `--shard i/n`
(clip k goes to shard k mod n) so machines can run in parallel, and finished clips are skipped, so an
interrupted run resumes; each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from puppet_master.encoders import SVDEncoders, load_svd_encoders
from puppet_master.image import composite_on_white
from puppet_master.pipeline import default_device

from .dataset import write_clip


@dataclass(frozen=True)
class ClipSpec:
    """One training clip to encode."""

    object_id: str
    action: str
    view: int
    sample: int
    start_frame: int
    frame_paths: tuple[Path, ...]
    tracks: np.ndarray
    render_size: int
    metadata: dict

    @property
    def name(self) -> str:
        return f"{self.object_id}/{self.action}/{self.view:03d}_{self.sample:03d}"


def find_clip_specs(root: str | Path, frames: int = 14) -> list[ClipSpec]:
    """Every drag sample below `root` whose window has all its frames rendered, in a stable order."""
    specs = []
    root = Path(root)
    for metadata_path in sorted(root.glob("*/metadata.json")):
        object_dir = metadata_path.parent
        metadata = json.loads(metadata_path.read_text())
        size = int(metadata.get("size", 512))
        for drags_path in sorted(object_dir.glob("*/drags_*.json")):
            action_dir, view = drags_path.parent, int(drags_path.stem.split("_")[1])
            for sample, entry in enumerate(json.loads(drags_path.read_text())):
                start = entry["start_frame"]
                paths = tuple(action_dir / f"{view:03d}_{start + f:03d}.png" for f in range(frames))
                if not all(p.is_file() for p in paths):
                    continue
                specs.append(
                    ClipSpec(
                        object_id=object_dir.name,
                        action=action_dir.name,
                        view=view,
                        sample=sample,
                        start_frame=start,
                        frame_paths=paths,
                        tracks=np.array(entry["tracks"]),
                        render_size=size,
                        metadata=metadata,
                    )
                )
    return specs


def _load_frame(path: Path, size: int) -> torch.Tensor:
    image = Image.open(path)
    alpha = np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255 if image.mode == "RGBA" else None
    flat = composite_on_white(image, alpha).resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.asarray(flat, dtype=np.float32) / 255).permute(2, 0, 1)


@torch.no_grad()
def encode_clip(spec: ClipSpec, encoders: SVDEncoders, size: int = 256, batch: int = 14) -> dict[str, torch.Tensor]:
    """The dataset tensors of one clip."""
    pixels = torch.stack([_load_frame(path, size) for path in spec.frame_paths])
    means, stds = zip(
        *(encoders.vae.posterior(pixels[i : i + batch]) for i in range(0, len(pixels), batch)), strict=True
    )
    mean, std = torch.cat(means).cpu(), torch.cat(stds).cpu()
    return {
        "latent_mean": mean,
        "latent_std": std,
        "cond_latent": mean[0],
        "embedding": encoders.image_encoder.embed(pixels[:1]).reshape(1, -1).cpu(),
        "tracks": torch.from_numpy(spec.tracks * (size / spec.render_size)).float(),
    }


def run_precompute(
    specs: list[ClipSpec],
    out: str | Path,
    encoders: SVDEncoders,
    shard: tuple[int, int] = (0, 1),
    size: int = 256,
    batch: int = 14,
) -> tuple[int, int]:
    """Encode this shard's clips that are not done yet; returns (written, skipped)."""
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    out = Path(out)
    written = skipped = 0
    for spec in specs[index::count]:
        target = out / f"{spec.name}.safetensors"
        if target.is_file():
            skipped += 1
            continue
        metadata = {
            "category": spec.metadata.get("category", ""),
            "source": spec.metadata.get("source", "objaverse"),
            "source_id": spec.object_id,
            "view": spec.view,
            "size": size,
        }
        partial = write_clip(target.with_suffix(".partial"), encode_clip(spec, encoders, size, batch), metadata)
        partial.rename(target)
        written += 1
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.precompute", description=__doc__)
    parser.add_argument("--renders", required=True, help="rendered animations (see training/renders.py)")
    parser.add_argument("--out", required=True, help="dataset root to write clips into")
    parser.add_argument("--svd", required=True, help="SVD img2vid diffusers folder (VAE + CLIP)")
    parser.add_argument("--shard", default="0/1", help="i/n: this machine's share of the clips")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=14, help="frames per VAE call")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    index, count = (int(part) for part in args.shard.split("/"))
    device = default_device() if args.device == "auto" else torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    specs = find_clip_specs(args.renders)
    written, skipped = run_precompute(
        specs, args.out, load_svd_encoders(args.svd, device, dtype), (index, count), args.size, args.batch
    )
    print(f"shard {index}/{count}: {written} clips written, {skipped} already done, {len(specs)} clips in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
