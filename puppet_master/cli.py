"""`python -m puppet_master info|generate|bench|selfcheck`: command-line entry points.

Help and argument errors answer at once: torch and the models are imported only once a command that needs
them runs (`info` reads file headers and never does)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .hub import SVD_PATTERNS, SVD_REPO, is_hub_id
from .sampler_settings import MAX_SEED, OFFICIAL_SETTINGS, SamplerSettings, check_guidance

DTYPES = ("auto", "fp32", "fp16", "bf16")
MAX_STEPS = 1000
MAX_FRAMES = 1024
SVD_PARTS = ("unet", "vae", "image_encoder")
DESCRIPTION = (
    "Puppet-Master (arXiv 2408.04631): one image and up to 5 drags -> a video of the dragged parts moving. "
    "Each command has its own options: python -m puppet_master COMMAND --help"
)
EPILOG = (
    "First run: python -m puppet_master selfcheck (offline, tiny random weights); it prints a generate command "
    "that runs on the files it leaves."
)
USER_ERRORS = (ValueError, FileNotFoundError)
"""The errors that are the user's to fix: one line on stderr and exit code 2, never a traceback. Every input
error of the library is a ValueError (CheckpointError, DragDocumentError, EncoderLoadError, ImageInputError),
so naming them needs no import of the modules (and torch) behind them."""
INTERRUPTED = 130
"""The exit code of a command stopped with Ctrl-C (128 + SIGINT, as shells report it)."""
SVD_HELP = (
    "SVD img2vid diffusers folder (vae/, image_encoder/, feature_extractor/). The default is the Hugging Face "
    f"repository {SVD_REPO}: unless it is in the hub cache already, its {', '.join(SVD_PATTERNS)} (several GB) "
    "are downloaded into the hub cache ($HF_HOME/hub, by default ~/.cache/huggingface/hub); --offline forbids that"
)


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, except for required options and on/off flags (nothing to show)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default is None or action.default is False:  # 0 (--seed) is shown
            return action.help
        return super()._get_help_string(action)


def torch_dtype(name: str):
    """The torch dtype of 'fp32', 'fp16' or 'bf16'; None for 'auto'."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(name)


def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """--steps, --cfg, --min-cfg, --seed, --decode-chunk-size, --drags-only-negative (official defaults)."""
    preset = OFFICIAL_SETTINGS
    parser.add_argument("--steps", type=int, default=preset.steps, help="denoising steps")
    parser.add_argument("--cfg", type=float, default=preset.max_guidance, help="guidance of the last frame (max)")
    parser.add_argument("--min-cfg", type=float, default=preset.min_guidance, help="guidance of the first frame (min)")
    parser.add_argument("--seed", type=int, default=preset.seed, help="noise seed")
    parser.add_argument(
        "--decode-chunk-size", type=int, default=preset.decode_chunk_size, help="frames per VAE decode (memory)"
    )
    parser.add_argument("--drags-only-negative", action="store_true", help="uncond keeps image and CLIP")


def sampler_settings(args: argparse.Namespace) -> SamplerSettings:
    """The settings of `add_sampler_options`' options; a bad one raises ValueError naming its flag."""
    if not 1 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be from 1 to {MAX_STEPS} (official 50), got {args.steps}")
    if args.decode_chunk_size < 1:
        raise ValueError(f"--decode-chunk-size must be at least 1, got {args.decode_chunk_size}")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be from 0 to {MAX_SEED} (2**64 - 1), got {args.seed}")
    check_guidance(args.min_cfg, args.cfg, names=("--min-cfg", "--cfg"))
    return SamplerSettings(
        steps=args.steps,
        min_guidance=args.min_cfg,
        max_guidance=args.cfg,
        seed=args.seed,
        negative="drags_only" if args.drags_only_negative else "official",
        decode_chunk_size=args.decode_chunk_size,
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command and option (`--help` shows each option's default)."""
    parser = argparse.ArgumentParser(prog="python -m puppet_master", description=DESCRIPTION, epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, formatter_class=DefaultsShown)

    info = command("info", "say what a weight file or diffusers folder is")
    info.add_argument("path", help=".safetensors file, diffusers model folder or SVD img2vid folder")

    generate = command("generate", "image + drags -> video")
    generate.add_argument("--image", required=True, help="first frame (RGBA alpha = object mask)")
    generate.add_argument("--mask", help="object mask image (white = object); enables the object-centric crop")
    generate.add_argument("--drags", required=True, help="drag document JSON (or KJNodes/ATI tracks) in image pixels")
    generate.add_argument("--unet", required=True, help="Puppet-Master model.safetensors (or a diffusers folder)")
    generate.add_argument("--svd", default=SVD_REPO, help=SVD_HELP)
    generate.add_argument("--offline", action="store_true", help="never download: --svd must be a local folder")
    generate.add_argument("--out", required=True, help="output .mp4, .webp or .gif")
    add_sampler_options(generate)
    generate.add_argument("--frames", type=int, default=14, help="video length (the model was trained on 14)")
    generate.add_argument("--size", type=int, default=256, help="generated frame side in pixels (multiple of 8)")
    generate.add_argument("--scale", type=float, default=2.2, help="crop side relative to the object's box")
    generate.add_argument("--fps", type=float, default=7.0, help="frames per second of the written video")
    generate.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:1, mps or cpu")
    generate.add_argument("--dtype", choices=DTYPES, default="auto", help="UNet weights (auto: fp16 on GPU)")
    generate.add_argument("--crop-only", action="store_true", help="write the model's square crop, no paste-back")
    generate.add_argument("--draw-drags", action="store_true", help="draw the drag tracks on the output")

    bench = command("bench", "speed, memory, FLOPs and scaling: each speed lever against the official behaviour")
    sizes = ("tiny", "mid", "full")
    bench.add_argument("--size", choices=sizes, default="tiny", help="mid = 303M, full = 1.68B params, random weights")
    bench.add_argument("--frames", type=int, default=14, help="video length")
    bench.add_argument("--latent", type=int, default=32, help="latent side (32 = 256 px)")
    bench.add_argument("--steps", type=int, default=4, help="denoising steps of the timed generation (0: skip it)")
    bench.add_argument("--repeats", type=int, default=3, help="interleaved rounds of timed UNet steps (median)")
    bench.add_argument(
        "--levers", choices=("each", "ends"), default="each", help="every lever variant, or baseline and ours only"
    )
    bench.add_argument("--no-warmup", action="store_true", help="time the first round too (slow full-size runs)")
    bench.add_argument("--compile", action="store_true", help="also time torch.compile and report its compile time")
    bench.add_argument(
        "--scaling", choices=(*sizes, "off"), default="tiny", help="model for the frames/resolution scaling run"
    )
    bench.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:1, mps or cpu")
    bench.add_argument("--dtype", choices=DTYPES[1:], default="fp32", help="UNet weights and activations")
    bench.add_argument(
        "--loading",
        metavar="FILE",
        help="also measure peak memory while loading FILE in fp16 and fp32 (a missing FILE is first written as a "
        "sparse placeholder with the released checkpoint's keys)",
    )
    bench.add_argument("--json", default="outputs/bench.json", help="where the JSON report goes (plot: same name .png)")

    selfcheck = command("selfcheck", "offline end-to-end check with tiny random models")
    selfcheck.add_argument("--out", default="outputs/selfcheck.mp4", help="where the generated video goes")
    selfcheck.add_argument("--frames", type=int, default=14, help="video length")
    selfcheck.add_argument("--steps", type=int, default=3, help="denoising steps")
    return parser


def _svd_source(svd: str, offline: bool) -> str:
    """`svd` itself: a local folder checked file by file; a hub id announced (what is downloaded, where) or,
    offline, refused. A missing folder or a file is said to be one, never sent to the hub."""
    from .svd_folder import check_svd_source

    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"  # no other library (diffusers, transformers) may reach the hub either
    if not is_hub_id(svd):
        check_svd_source(svd)
        return svd
    if offline:
        raise ValueError(
            f"--svd {svd} is not a local folder and --offline forbids downloading it: pass --svd with a local "
            "stable-video-diffusion-img2vid folder (vae/, image_encoder/, feature_extractor/)"
        )
    from .hub import hub_cache

    print(f"SVD encoders: {', '.join(SVD_PATTERNS)} of {svd} from the Hugging Face hub, into {hub_cache()} (kept for "
          "later runs; --offline forbids downloading)", file=sys.stderr)  # fmt: skip
    return svd


def _read_drags(path: str) -> str:
    from .drags import DragDocumentError

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DragDocumentError(f"drag file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DragDocumentError(f"cannot read the drag file {path} as UTF-8 JSON text: {error}") from None


def parse_device(name: str):
    """--device as a torch device that exists here, or a ValueError naming the choices."""
    import torch

    from .pipeline import default_device

    if name == "auto":
        return default_device()
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {name!r} is not a device: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available here (torch {torch.__version__}); use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...)")
    elif device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise ValueError(f"--device {name}: MPS is not available here; use cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {name!r} is not supported: use auto, cpu, cuda, cuda:N or mps")
    return device


def _check_numbers(args: argparse.Namespace) -> SamplerSettings:
    """The numeric options of `generate` checked (named by their flags); the sampler settings they make."""
    from .video import check_fps

    if not 2 <= args.frames <= MAX_FRAMES:
        raise ValueError(f"--frames must be from 2 to {MAX_FRAMES} (the model was trained on 14), got {args.frames}")
    if args.size % 8 or not 64 <= args.size <= 1024:
        raise ValueError(f"--size must be a multiple of 8 from 64 to 1024 (official 256), got {args.size}")
    check_fps(args.fps, "--fps")
    return sampler_settings(args)


def _prepare(args: argparse.Namespace) -> tuple:
    """Every input checked and read, no model loaded: (image, mask, document, device, svd source, settings)."""
    from .budget import weight_bytes
    from .drags import parse_drag_document
    from .image import load_image, load_mask, object_crop
    from .loading import inspect_checkpoint, load_unet
    from .svd_folder import svd_encoder_parameters
    from .video import check_output

    settings = _check_numbers(args)
    check_output(args.out, args.fps, name="--out")
    image = load_image(args.image)
    mask = load_mask(args.mask) if args.mask else None
    document = parse_drag_document(_read_drags(args.drags), image.size)
    object_crop(image, mask, scale=args.scale, size=args.size)  # mask size, empty mask, scale: before any load
    device = parse_device(args.device)
    unet = inspect_checkpoint(args.unet)
    if unet.kind != "puppet_master":
        load_unet(args.unet)  # raises the loader's explanation of what the file is instead
    svd = _svd_source(args.svd, args.offline)
    weights = weight_bytes(unet.num_parameters, svd_encoder_parameters(svd), device, torch_dtype(args.dtype))
    check_memory(args.frames, args.size, unet.config, device, settings.decode_chunk_size, weights)
    return image, mask, document, device, svd, settings


def check_memory(frames: int, size: int, config: dict | None, device, decode_chunk_size: int, weights: int) -> None:
    """Say what the frame count costs, and refuse it when it cannot fit, before anything is loaded."""
    from .budget import available_bytes, generation_bytes, readable_bytes

    working = generation_bytes(frames, size, config, decode_chunk_size)
    needed = working + weights
    available = available_bytes(device)
    print(
        f"{frames} frames at {size} px: about {readable_bytes(needed)} ({readable_bytes(weights)} of weights, "
        f"{readable_bytes(working)} of work)"
        + (f"; {readable_bytes(available)} available on {device}" if available is not None else ""),
        file=sys.stderr,
    )
    if available is not None and needed > available:
        raise ValueError(
            f"--frames {frames} at --size {size} needs about {readable_bytes(needed)} but {readable_bytes(available)} "
            f"is available on {device}: use fewer frames (the model was trained on 14) or a smaller --size"
        )


def _generate(args: argparse.Namespace) -> None:
    """Check every input, load the models, sample with a progress bar, write the video. Ctrl-C is a
    KeyboardInterrupt saying where it stopped (a half-written video is removed)."""
    image, mask, document, device, svd, settings = _prepare(args)
    from dataclasses import asdict

    from tqdm import tqdm

    from .pipeline import PuppetMasterPipeline
    from .video import draw_drags_on, save_video, to_pil

    print(f"loading {args.unet} and the SVD encoders of {svd} on {device}", file=sys.stderr)
    try:
        pipeline = PuppetMasterPipeline.from_files(args.unet, svd, device=device, unet_dtype=torch_dtype(args.dtype))
    except KeyboardInterrupt:
        raise KeyboardInterrupt("while loading the models (nothing written)") from None
    with tqdm(total=settings.steps, desc="denoising", unit="step") as bar:
        try:
            result = pipeline(
                image,
                document,
                mask,
                frames=args.frames,
                crop_scale=args.scale,
                size=args.size,
                callback=lambda step, total, latents: bar.update(1),
                **asdict(settings),
            )
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"at step {bar.n + 1} of {settings.steps} (nothing written)") from None
    if args.crop_only:
        frames, tracks = (to_pil(result.frames[i : i + 1])[0] for i in range(args.frames)), result.tracks
        width = height = args.size
    else:
        frames, tracks = result.images_on_original(image, mask), result.crop.to_original(result.tracks)
        width, height = image.size
    if args.draw_drags:
        frames = (draw_drags_on(frame, tracks, index) for index, frame in enumerate(frames))
    try:
        written = save_video(frames, args.out, fps=args.fps)
    except KeyboardInterrupt:
        Path(args.out).unlink(missing_ok=True)
        raise KeyboardInterrupt(f"while writing {args.out} (the incomplete file was removed)") from None
    print(f"wrote {written} ({args.frames} frames, {width}x{height})")


def _bench(args: argparse.Namespace) -> None:
    import torch

    from .diagnostics.bench import run_bench, write_report
    from .diagnostics.bench_loading import measure_loading
    from .pipeline import default_device

    # loading first, before the timed runs have allocated anything
    loading = [measure_loading(args.loading, dtype) for dtype in ("fp16", "fp32")] if args.loading else []
    report = run_bench(
        size=args.size,
        frames=args.frames,
        latent=args.latent,
        steps=args.steps,
        repeats=args.repeats,
        device=default_device() if args.device == "auto" else torch.device(args.device),
        dtype=torch_dtype(args.dtype),
        compile_model=args.compile,
        levers=args.levers,
        warmup=not args.no_warmup,
        scaling_size=None if args.scaling == "off" else args.scaling,
    )
    report.loading = loading
    setup = report.setup
    print(
        f"{setup['size']} UNet ({setup['parameters']:,} parameters), {setup['frames']} frames, latent "
        f"{setup['latent']}x{setup['latent']}, CFG batch 2, {setup['device']} {setup['dtype']}, "
        f"{setup['threads']} threads, torch {setup['torch']}"
    )
    print(report.table())
    path = write_report(report, args.json)
    print(f"wrote {path}" + (f" and {path.with_suffix('.png')}" if report.scaling else ""))


def _info(path: str) -> str:
    """What a weight file or model folder is; an SVD img2vid folder is described part by part. Reads file
    headers only (no torch)."""
    from .checkpoint import inspect_checkpoint
    from .svd_folder import missing_svd_files

    root = Path(path)
    parts = [root / part for part in SVD_PARTS if (root / part / "config.json").is_file()]
    if not root.is_dir() or (root / "config.json").is_file() or parts in ([], [root / "unet"]):
        return inspect_checkpoint(root).describe()
    lines = [f"{part.name}/\n{inspect_checkpoint(part).describe()}" for part in parts]
    missing = missing_svd_files(root)
    usable = "complete" if not missing else f"lacks {', '.join(missing)}"
    lines.append(f"SVD img2vid encoders (--svd, ComfyUI models/diffusers): {usable}")
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code (2 for bad input, with the reason on stderr; 130 when
    stopped with Ctrl-C, with one line saying where). Third-party messages that say nothing to the user
    (`console.NOISE`, transformers' progress bars) are hidden while a model-loading command runs."""
    args = build_parser().parse_args(argv)  # --help and usage errors exit here, before torch is imported
    try:
        if args.command == "info":
            print(_info(args.path))
        elif args.command == "generate":
            from .console import quiet_third_party

            with quiet_third_party():
                _generate(args)
        elif args.command == "bench":
            _bench(args)
        else:
            from .console import quiet_third_party
            from .diagnostics.selfcheck import run_selfcheck

            with quiet_third_party():
                return 0 if run_selfcheck(out=args.out, frames=args.frames, steps=args.steps) else 1
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted {interrupt}".rstrip(), file=sys.stderr)
        return INTERRUPTED
    return 0
