"""The benchmark's variants (each speed lever switched on after the other) and its report: the lever table,
the ratios against the baseline, the scaling points and the JSON form. Measures nothing itself (`bench`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PROJECTED_STEPS = 50


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
