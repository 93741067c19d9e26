"""`python -m training.precompute`: rendered frames + drag samples -> training clips (dataset.py format).

One clip per object / action with a `drags.json` (renders.py): for every view, every frame that some drag
sample's 14-frame window covers is composited over white, resized to `size` (256) and encoded with the SVD VAE
in batches (posterior mean and std); each sample's start frame is encoded with CLIP in every view; every
candidate track of every sample and view is kept (the per-step subset is drawn at training time). Work is split
by `--shard i/n` (action k goes to shard k mod n) so machines can run in parallel, and finished clips are
skipped, so an interrupted run resumes; each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from puppet_master.encoders import SVDEncoders, load_svd_encoders
from puppet_master.image import composite_on_white
from puppet_master.pipeline import default_device

from .dataset import write_clip
from .renders import DRAGS_FILE, frame_path, read_metadata

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnimationSpec:
    """One action of one object to encode: its drag samples and the frames they need."""

    object_id: str
    action: str
    action_dir: Path
    views: int
    render_size: int
    starts: tuple[int, ...]
    tracks: tuple[tuple[np.ndarray, ...], ...]
    """Per sample, per view: (K, F, 2) candidate tracks."""
    window: int
    metadata: dict

    @property
    def name(self) -> str:
        """The clip's name in messages: object/action (its file is `<object>/<action>.safetensors` under the root)."""
        return f"{self.object_id}/{self.action}"

    @property
    def frames(self) -> list[int]:
        """Every render frame some sample's window covers, increasing."""
        return sorted({start + f for start in self.starts for f in range(self.window)})


def _read_animation(object_dir: Path, drags_path: Path, metadata: dict) -> AnimationSpec | None:
    content = json.loads(drags_path.read_text(encoding="utf-8"))
    samples, window = content["samples"], int(content["window"])
    if not samples:
        return None
    return AnimationSpec(
        object_id=object_dir.name,
        action=drags_path.parent.name,
        action_dir=drags_path.parent,
        views=len(samples[0]["tracks"]),
        render_size=int(content["render_size"]),
        starts=tuple(int(s["start_frame"]) for s in samples),
        tracks=tuple(
            tuple(np.asarray(view, dtype=np.float32).reshape(len(view), window, 2) for view in s["tracks"])
            for s in samples
        ),
        window=window,
        metadata=metadata,
    )


def find_animations(root: str | Path) -> list[AnimationSpec]:
    """Every action below `root` with drag samples and all the frames they need, in a stable order."""
    specs = []
    for object_dir in sorted(p.parent for p in Path(root).glob("*/metadata.json")):
        metadata = read_metadata(object_dir)
        for drags_path in sorted(object_dir.glob(f"*/{DRAGS_FILE}")):
            spec = _read_animation(object_dir, drags_path, metadata)
            if spec is None:
                continue
            missing = [
                path
                for view in range(spec.views)
                for frame in spec.frames
                if not (path := frame_path(spec.action_dir, view, frame)).is_file()
            ]
            if missing:
                logger.warning("%s skipped: %d frames not rendered (first: %s)", spec.name, len(missing), missing[0])
                continue
            specs.append(spec)
    return specs


def _load_frame(path: Path, size: int) -> torch.Tensor:
    image = Image.open(path)
    alpha = np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255 if image.mode == "RGBA" else None
    flat = composite_on_white(image, alpha).resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.asarray(flat, dtype=np.float32) / 255).permute(2, 0, 1)


@torch.no_grad()
def encode_animation(
    spec: AnimationSpec, encoders: SVDEncoders, size: int = 256, batch: int = 14
) -> dict[str, torch.Tensor]:
    """The dataset tensors of one animation: every view's window frames, start-frame embeddings, all tracks."""
    frames = spec.frames
    row = {frame: index for index, frame in enumerate(frames)}
    means, stds, embeddings = [], [], []
    for view in range(spec.views):
        pixels = torch.stack([_load_frame(frame_path(spec.action_dir, view, frame), size) for frame in frames])
        posteriors = [encoders.vae.posterior(pixels[i : i + batch]) for i in range(0, len(pixels), batch)]
        means.append(torch.cat([mean for mean, _ in posteriors]).cpu())
        stds.append(torch.cat([std for _, std in posteriors]).cpu())
        distinct = sorted(set(spec.starts))
        embedded = encoders.image_encoder.embed(pixels[[row[start] for start in distinct]]).cpu()
        by_start = {start: embedded[i].reshape(-1) for i, start in enumerate(distinct)}
        embeddings.append(torch.stack([by_start[start] for start in spec.starts]))
    tracks = [torch.from_numpy(t) for sample in spec.tracks for t in sample]
    return {
        "latent_mean": torch.stack(means),
        "latent_std": torch.stack(stds),
        "frames": torch.tensor(frames),
        "sample_start": torch.tensor(spec.starts),
        "embedding": torch.stack(embeddings),
        "track_counts": torch.tensor([[len(t) for t in sample] for sample in spec.tracks]),
        "tracks": torch.cat(tracks),
    }


def run_precompute(
    specs: list[AnimationSpec],
    out: str | Path,
    encoders: SVDEncoders,
    shard: tuple[int, int] = (0, 1),
    size: int = 256,
    batch: int = 14,
) -> tuple[int, int]:
    """Encode this shard's animations that are not done yet; returns (written, skipped)."""
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    out = Path(out)
    written = skipped = 0
    for spec in specs[index::count]:
        target = out / spec.object_id / f"{spec.action}.safetensors"
        if target.is_file():
            skipped += 1
            continue
        metadata = {
            "category": spec.metadata.get("category", ""),
            "source": spec.metadata.get("source", "objaverse"),
            "source_id": spec.object_id,
            "action": spec.action,
            "render_size": spec.render_size,
            "size": size,
        }
        partial = write_clip(target.with_suffix(".partial"), encode_animation(spec, encoders, size, batch), metadata)
        partial.rename(target)
        written += 1
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.precompute", description=__doc__)
    parser.add_argument("--renders", required=True, help="rendered animations with drags.json (see renders.py)")
    parser.add_argument("--out", required=True, help="dataset root to write clips into")
    parser.add_argument("--svd", required=True, help="SVD img2vid diffusers folder (VAE + CLIP)")
    parser.add_argument("--shard", default="0/1", help="i/n: this machine's share of the animations")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=14, help="frames per VAE call")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    index, count = (int(part) for part in args.shard.split("/"))
    device = default_device() if args.device == "auto" else torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    specs = find_animations(args.renders)
    written, skipped = run_precompute(
        specs, args.out, load_svd_encoders(args.svd, device, dtype), (index, count), args.size, args.batch
    )
    print(f"shard {index}/{count}: {written} clips written, {skipped} already done, {len(specs)} animations in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
