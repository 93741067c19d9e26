"""`python -m puppet_master bench`: this implementation against the official per-step behaviour, same run.

The baseline behaves as the official code: every UNet call recomputes the drag-only tensors (drag maps,
the 15 DragEmbedding CNNs, token masks, position samples), runs diffusers' standard cross-attention with
NCHW convolution weights and whole feed-forward layers, and on the CPU writes every activation buffer into
fresh pages (glibc's default). Each speed lever is then switched on, one after the other, on the same
model, weights and inputs, and the variants are timed interleaved (A B C A B C ...) so that a busy machine
slows them alike. The report gives the step and 50-step ratios, each lever's share, FLOPs, peak memory,
and how time and memory grow with the frame count and the resolution (JSON, and a PNG plot beside it).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..host_memory import reuse_freed_host_memory
from ..model import PuppetMasterUNet
from ..sampler_settings import SamplerSettings
from ..sampling import initial_noise, sample
from .bench_report import CHANNELS_LAST, COMPILED, VARIANTS, BenchReport, ScalingPoint, Variant, VariantResult
from .peak_memory import PeakMemory
from .selfcheck import tiny_unet_config

MID_CONFIG = {
    "block_out_channels": (128, 256, 512, 512),
    "num_attention_heads": (2, 4, 8, 8),
    "drag_embedder_out_channels": (128, 128, 128),
}
"""A mid-size model (303M parameters, head dim 64 as the released one) for quick lever and scaling runs."""
SCALING_FRAMES = (14, 28, 56)
SCALING_LATENTS = (32, 48, 64)
"""256, 384 and 512 px."""


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def bench_config(size: str) -> dict:
    """'tiny' (the official tiny test model), 'mid' (`MID_CONFIG`) or 'full' (the released 1.68B configuration)."""
    if size == "tiny":
        return tiny_unet_config()
    if size == "mid":
        return dict(MID_CONFIG)
    if size == "full":
        return {}
    raise ValueError(f"size must be 'tiny', 'mid' or 'full', got {size!r}")


def step_flops(config: dict, frames: int, latent: int, cached: bool, short_context_attention: bool = True) -> int:
    """FLOPs of one CFG-pair UNet call, counted on fake tensors (no weights are allocated)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        model = PuppetMasterUNet(**config).eval()
        model.use_short_context_attention(short_context_attention)
        inputs = _inputs(model, frames, latent)
        drags = inputs.pop("drags")
        with torch.no_grad():
            context = model.prepare_drags(drags, (latent, latent)) if cached else None
            # torch counts the CUDA attention kernels only; the CPU one does the same work.
            cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops}
            with FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
                if cached:
                    model(**inputs, drag_context=context)
                else:
                    model(**inputs, drags=drags)
    return counter.get_total_flops()


def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _inputs(model: PuppetMasterUNet, frames: int, latent: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    parameter = next(model.parameters())
    dtype, device = parameter.dtype, parameter.device
    drags = torch.zeros(2, frames, model.config.num_drags, 4)
    drags[0, :, :2] = torch.rand(1, 1, 2, 4, generator=generator)
    return {
        "sample": torch.randn(2, frames, 4, latent, latent, generator=generator).to(device, dtype),
        "timestep": torch.tensor(0.5, device=device),
        "image_latents": torch.randn(2, 4, latent, latent, generator=generator).to(device, dtype),
        "encoder_hidden_states": torch.randn(2, 1, model.config.cross_attention_dim, generator=generator).to(
            device, dtype
        ),
        "drags": drags.to(device),
    }


def _configure(model: PuppetMasterUNet, variant: Variant) -> None:
    model.use_short_context_attention(variant.short_context_attention)
    model.use_row_chunked_feed_forward(variant.bounded_host_memory)
    model.use_channels_last(variant.channels_last)


def run_bench(
    size: str = "tiny",
    frames: int = 14,
    latent: int = 32,
    steps: int = 4,
    repeats: int = 3,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    compile_model: bool = False,
    levers: str = "each",
    warmup: bool = True,
    scaling_size: str | None = None,
    scaling_frames: Iterable[int] = SCALING_FRAMES,
    scaling_latents: Iterable[int] = SCALING_LATENTS,
) -> BenchReport:
    """Measure every lever variant, interleaved, on the same random-weight model and inputs.

    Args:
        size: model for the lever and generation runs ('tiny', 'mid', 'full').
        steps: denoising steps of the end-to-end generation run (ours and baseline, once each).
        repeats: interleaved rounds; each round times one UNet step of every variant (median reported).
        compile_model: also time `torch.compile` (inductor) on top of the default model, with its compile time.
        levers: 'each' times every variant (one more default lever each, then the channels-last opt-in); 'ends'
            only the baseline and ours (full size on a slow machine).
        warmup: run an untimed round first.
        steps: 0 skips the end-to-end generation run (the 50-step figure is then only the projection).
        scaling_size: model for the frames/resolution scaling run; None skips it.
    """
    device = torch.device(device)
    config = bench_config(size)
    if levers not in ("each", "ends"):
        raise ValueError(f"levers must be 'each' or 'ends', got {levers!r}")
    variants = [*VARIANTS, CHANNELS_LAST] if levers == "each" else [VARIANTS[0], VARIANTS[-1]]
    variants += [COMPILED] if compile_model else []
    results, generation, prepare_seconds, compile_seconds = _measure_variants(
        config, variants, frames, latent, steps, repeats, warmup, device, dtype
    )
    scaling = []
    if scaling_size is not None:
        scaling = measure_scaling(scaling_size, scaling_frames, scaling_latents, device, dtype)
    with torch.device("meta"):
        parameters = sum(p.numel() for p in PuppetMasterUNet(**config).parameters())
    setup = {
        "size": size,
        "parameters": parameters,
        "frames": frames,
        "latent": latent,
        "steps": steps,
        "repeats": repeats,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scaling_size": scaling_size,
    }
    return BenchReport(
        setup=setup,
        variants=results,
        generation=generation,
        prepare_seconds=prepare_seconds,
        compile_seconds=compile_seconds,
        scaling=scaling,
    )


def _measure_variants(
    config: dict,
    variants: list[Variant],
    frames: int,
    latent: int,
    steps: int,
    repeats: int,
    warmup: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[list[VariantResult], dict[str, float], float, float | None]:
    """Time every variant's UNet step in interleaved rounds, then a generation of the baseline and of ours."""
    torch.manual_seed(0)
    model = PuppetMasterUNet(**config).to(device=device, dtype=dtype).eval()
    inputs = _inputs(model, frames, latent)
    drags = inputs.pop("drags")
    with torch.no_grad():
        prepare_seconds = _timed(lambda: model.prepare_drags(drags, (latent, latent)), device)
        context = model.prepare_drags(drags, (latent, latent))
        compiled_model, compile_seconds = None, None
        if any(v.compiled for v in variants):
            _configure(model, VARIANTS[-1])
            compiled_model = torch.compile(model)
            eager = _timed(lambda: model(**inputs, drag_context=context), device)
            compile_seconds = _timed(lambda: compiled_model(**inputs, drag_context=context), device) - eager

        def step(variant: Variant) -> Callable[[], object]:
            runner = compiled_model if variant.compiled else model
            if variant.cached_drags:
                return lambda: runner(**inputs, drag_context=context)
            return lambda: runner(**inputs, drags=drags)

        times: dict[str, list[float]] = {v.name: [] for v in variants}
        cpu_times: dict[str, list[float]] = {v.name: [] for v in variants}
        peaks: dict[str, int] = dict.fromkeys(times, 0)
        for round_index in range(repeats + warmup):
            for variant in variants:
                _configure(model, variant)
                cpu_started = time.process_time()
                reuse = variant.bounded_host_memory and device.type == "cpu"
                with PeakMemory(device) as memory, reuse_freed_host_memory(reuse):
                    seconds = _timed(step(variant), device)
                if round_index >= warmup:  # the warm-up round is not timed
                    times[variant.name].append(seconds)
                    cpu_times[variant.name].append(time.process_time() - cpu_started)
                    peaks[variant.name] = max(peaks[variant.name], memory.peak)

        noise = initial_noise(0, frames, (latent, latent))
        conditioning = (inputs["image_latents"][:1], inputs["encoder_hidden_states"][:1], drags[:1])
        generation = {}
        for name, variant in (("baseline", VARIANTS[0]), ("ours", VARIANTS[-1])) if steps > 0 else ():
            _configure(model, variant)
            generation[name] = _timed(
                lambda variant=variant: sample(
                    model,
                    noise,
                    *conditioning,
                    SamplerSettings(steps=steps),
                    reuse_drag_context=variant.cached_drags,
                    reuse_host_memory=variant.bounded_host_memory,
                ),
                device,
            )
    results = [
        VariantResult(
            name=v.name,
            description=v.description,
            step_seconds=statistics.median(times[v.name]),
            step_times=times[v.name],
            step_cpu_seconds=statistics.median(cpu_times[v.name]),
            peak_memory_bytes=peaks[v.name],
            flops_per_step=step_flops(config, frames, latent, v.cached_drags, v.short_context_attention),
        )
        for v in variants
    ]
    return results, generation, prepare_seconds, compile_seconds


def measure_scaling(
    size: str,
    frames_axis: Iterable[int],
    latent_axis: Iterable[int],
    device: torch.device,
    dtype: torch.dtype,
) -> list[ScalingPoint]:
    """One step of the default model at every frame count (at the first latent side) and every latent side (at
    the first frame count)."""
    frames_axis, latent_axis = list(frames_axis), list(latent_axis)
    config = bench_config(size)
    torch.manual_seed(0)
    model = PuppetMasterUNet(**config).to(device=device, dtype=dtype).eval()
    points = [(f, latent_axis[0]) for f in frames_axis] + [(frames_axis[0], s) for s in latent_axis]
    results = []
    for point_frames, point_latent in dict.fromkeys(points):
        inputs = _inputs(model, point_frames, point_latent)
        drags = inputs.pop("drags")
        with torch.no_grad():
            inputs["drag_context"] = model.prepare_drags(drags, (point_latent, point_latent))
            with PeakMemory(device) as memory, reuse_freed_host_memory(device.type == "cpu"):
                seconds = _timed(lambda point_inputs=inputs: model(**point_inputs), device)
        results.append(
            ScalingPoint(
                frames=point_frames,
                latent=point_latent,
                step_seconds=seconds,
                peak_memory_bytes=memory.increase,
                flops_per_step=step_flops(config, point_frames, point_latent, cached=True),
                full_size_flops_per_step=step_flops({}, point_frames, point_latent, cached=True),
            )
        )
        del inputs, drags
    return results


def write_report(report: BenchReport, path: str | Path) -> Path:
    """Write the JSON report, and the scaling plot as a PNG of the same name beside it when there is one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    if report.scaling:
        from .bench_plot import draw_scaling

        draw_scaling(report).save(path.with_suffix(".png"))
    return path
