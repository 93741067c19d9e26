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
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .host_memory import reuse_freed_host_memory
from .model import PuppetMasterUNet
from .sampler_settings import SamplerSettings
from .sampling import initial_noise, sample
from .selfcheck import tiny_unet_config

PAGE_SIZE = 4096
PROJECTED_STEPS = 50
MID_CONFIG = {
    "block_out_channels": (128, 256, 512, 512),
    "num_attention_heads": (2, 4, 8, 8),
    "drag_embedder_out_channels": (128, 128, 128),
}
"""A mid-size model (303M parameters, head dim 64 as the released one) for quick lever and scaling runs."""
SCALING_FRAMES = (14, 28, 56)
SCALING_LATENTS = (32, 48, 64)
"""256, 384 and 512 px."""


@dataclass(frozen=True)
class Variant:
    """One configuration of the levers; `VARIANTS` switches the default ones on one after the other, and each
    of `OPT_IN` adds one that users choose on top of them."""

    name: str
    description: str
    cached_drags: bool = True
    short_context_attention: bool = True
    bounded_host_memory: bool = True
    channels_last: bool = False
    compiled: bool = False


VARIANTS = (
    Variant(
        "baseline",
        "official behaviour: drag work in every call, standard cross-attention, NCHW, fresh host memory per buffer",
        cached_drags=False,
        short_context_attention=False,
        bounded_host_memory=False,
    ),
    Variant(
        "drag_context",
        "+ drag-only work once per generation",
        short_context_attention=False,
        bounded_host_memory=False,
    ),
    Variant(
        "short_context_attention",
        "+ cross-attention folded over the 1 + K context tokens",
        bounded_host_memory=False,
    ),
    Variant(
        "bounded_host_memory",
        "+ feed-forward over row chunks, freed activation memory reused on the CPU; ours (the defaults)",
    ),
)
CHANNELS_LAST = Variant("channels_last", "ours + channels-last convolution weights (opt-in: UNet.use_channels_last())")
COMPILED = Variant("compile", "ours + torch.compile (inductor), opt-in", compiled=True)


@dataclass
class VariantResult:
    """Measurements of one variant."""

    name: str
    description: str
    step_seconds: float
    step_times: list[float]
    step_cpu_seconds: float
    """Median process CPU time of a step (all threads): a busy machine inflates it far less than wall time."""
    peak_memory_bytes: int
    flops_per_step: int

    @property
    def flops_per_second(self) -> float:
        return self.flops_per_step / self.step_seconds


@dataclass
class ScalingPoint:
    """One (frames, latent) point of the scaling run: time and memory of one step of the default model."""

    frames: int
    latent: int
    step_seconds: float
    peak_memory_bytes: int
    """Peak resident (CPU) or allocated (CUDA) memory during the step above what was held before it."""
    flops_per_step: int
    full_size_flops_per_step: int

    @property
    def pixels(self) -> int:
        return self.latent * 8


@dataclass
class BenchReport:
    """Every variant, the generation timings, the ratios, the scaling run and the setup."""

    setup: dict
    variants: list[VariantResult]
    generation: dict[str, float]
    prepare_seconds: float
    compile_seconds: float | None = None
    scaling: list[ScalingPoint] = field(default_factory=list)
    loading: list[dict] = field(default_factory=list)
    """`bench_loading.measure_loading` results, one per dtype."""

    @property
    def baseline(self) -> VariantResult:
        return self.variants[0]

    @property
    def ours(self) -> VariantResult:
        """The library's defaults (the last of `VARIANTS`), not an opt-in variant."""
        return next(v for v in self.variants if v.name == VARIANTS[-1].name)

    def projected_generation(self, result: VariantResult, steps: int = PROJECTED_STEPS) -> float:
        """A `steps`-step generation from the measured parts: one drag preparation (ours) + the UNet steps."""
        prepare = self.prepare_seconds if result.name != "baseline" else 0.0
        return prepare + steps * result.step_seconds

    def ratios(self) -> dict[str, float]:
        """ours / baseline (time and memory: below 1 is better) and baseline / ours FLOPs."""
        ours, base = self.ours, self.baseline
        ratios = {
            "step": ours.step_seconds / base.step_seconds,
            "step_cpu": ours.step_cpu_seconds / base.step_cpu_seconds,
            f"generation_{PROJECTED_STEPS}_steps": self.projected_generation(ours) / self.projected_generation(base),
            "flops": ours.flops_per_step / base.flops_per_step,
            "peak_memory": ours.peak_memory_bytes / base.peak_memory_bytes,
        }
        if self.generation:
            ratios["generation_measured"] = self.generation["ours"] / self.generation["baseline"]
        for opt_in in (v for v in self.variants if v.name in (CHANNELS_LAST.name, COMPILED.name)):
            ratios[f"step_{opt_in.name}"] = opt_in.step_seconds / base.step_seconds
        return ratios

    def nonlinearity(self) -> dict[str, list[dict]]:
        """Per scaling point, time, memory and full-size FLOPs per unit of work (frames x pixels) against the
        first point: 1.0 is linear, above 1 grows faster than the video."""
        if not self.scaling:
            return {}
        first = self.scaling[0]

        def relative(point: ScalingPoint) -> dict:
            work = (point.frames * point.latent**2) / (first.frames * first.latent**2)
            return {
                "frames": point.frames,
                "pixels": point.pixels,
                "work": work,
                "time": point.step_seconds / first.step_seconds / work,
                "memory": point.peak_memory_bytes / max(first.peak_memory_bytes, 1) / work,
                "full_size_flops": point.full_size_flops_per_step / first.full_size_flops_per_step / work,
            }

        return {
            "frames": [relative(p) for p in self.scaling if p.latent == first.latent],
            "resolution": [relative(p) for p in self.scaling if p.frames == first.frames],
        }

    def to_json(self) -> dict:
        def variant(result: VariantResult) -> dict:
            return {**asdict(result), "flops_per_second": result.flops_per_second}

        return {
            "setup": self.setup,
            "ours": variant(self.ours),
            "baseline": variant(self.baseline),
            "variants": [variant(v) for v in self.variants],
            "generation": {**self.generation, "prepare_drags_seconds": self.prepare_seconds},
            "compile_seconds": self.compile_seconds,
            "ratios": self.ratios(),
            "scaling": [{**asdict(p), "pixels": p.pixels} for p in self.scaling],
            "scaling_per_unit_of_work": self.nonlinearity(),
            "loading": self.loading,
        }

    def table(self) -> str:
        """The lever table: each variant's step time against the baseline measured in the same run."""
        base = self.baseline
        lines = [
            f"{'variant':26} {'step s':>9} {'x baseline':>10} {'CPU s':>9} {'x baseline':>10} {'GFLOP':>8} "
            f"{'GFLOP/s':>8} {'peak MiB':>9}"
        ]
        for v in self.variants:
            lines.append(
                f"{v.name:26} {v.step_seconds:9.3f} {v.step_seconds / base.step_seconds:10.3f} "
                f"{v.step_cpu_seconds:9.3f} {v.step_cpu_seconds / base.step_cpu_seconds:10.3f} "
                f"{v.flops_per_step / 1e9:8.1f} {v.flops_per_second / 1e9:8.1f} {v.peak_memory_bytes / 2**20:9.0f}"
            )
        ratios = self.ratios()
        steps = self.setup["steps"]
        lines += [
            f"step (CFG pair), ours / baseline: {ratios['step']:.3f} (CPU time: {ratios['step_cpu']:.3f})",
            f"{PROJECTED_STEPS}-step generation (drag preparation {self.prepare_seconds:.3f} s + {PROJECTED_STEPS} "
            f"measured steps), ours / baseline: {ratios[f'generation_{PROJECTED_STEPS}_steps']:.3f}",
        ]
        if self.generation:
            lines.append(
                f"{steps}-step generation run end to end: ours {self.generation['ours']:.3f} s, baseline "
                f"{self.generation['baseline']:.3f} s, ratio {ratios['generation_measured']:.3f}"
            )
        if self.compile_seconds is not None:
            lines.append(f"torch.compile: {self.compile_seconds:.1f} s to compile (first call minus an eager step)")
        for axis, points in self.nonlinearity().items():
            cells = ", ".join(
                f"{p['frames']}f {p['pixels']}px: time {p['time']:.2f} memory {p['memory']:.2f} "
                f"FLOPs {p['full_size_flops']:.2f}"
                for p in points
            )
            lines.append(f"scaling over {axis} (per unit of work, 1.00 = linear): {cells}")
        for load in self.loading:
            lines.append(
                f"loading {load['dtype']}: weights {load['weights_bytes'] / 2**30:.2f} GiB, peak RSS "
                f"{load['peak_resident_bytes'] / 2**30:.2f} GiB ({load['peak_over_weights']:.2f}x the weights; "
                f"{load['peak_increase_over_weights']:.2f}x above the {load['resident_before_bytes'] / 2**30:.2f} GiB "
                "held before loading)"
            )
        return "\n".join(lines)


class PeakMemory:
    """Peak memory during a block: max allocated on CUDA, else resident set size sampled every 2 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self.start = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self._running = True
            self.start = self.peak = _resident_bytes()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self.peak = max(self.peak, _resident_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._running = False
            self._thread.join()
            self.peak = max(self.peak, _resident_bytes())

    @property
    def increase(self) -> int:
        """Peak above the memory held when the block started."""
        return max(self.peak - self.start, 0)


def _resident_bytes() -> int:
    """Current resident set size (Linux), else the peak so far (getrusage; bytes on macOS)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


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
    path.write_text(json.dumps(report.to_json(), indent=2))
    if report.scaling:
        from .bench_plot import draw_scaling

        draw_scaling(report).save(path.with_suffix(".png"))
    return path
