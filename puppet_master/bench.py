"""`python -m puppet_master bench`: this implementation against the official per-step behaviour, same run.

The baseline recomputes every drag-only tensor (drag maps, the 15 DragEmbedding CNNs, token masks,
position samples) in each UNet call, as the official code does; ours prepares them once per generation.
Both use the same weights, inputs, attention kernels and sampler, so the ratios isolate the caching.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .model import PuppetMasterUNet
from .sampling import initial_noise, sample
from .selfcheck import tiny_unet_config

PAGE_SIZE = 4096


@dataclass
class PathResult:
    """Measurements of one path (ours or the baseline)."""

    step_seconds: float
    generation_seconds: float
    peak_memory_bytes: int
    flops_per_step: int

    @property
    def flops_per_second(self) -> float:
        return self.flops_per_step / self.step_seconds


@dataclass
class BenchReport:
    """Both paths, their ratios and the setup."""

    setup: dict
    ours: PathResult
    baseline: PathResult

    def ratios(self) -> dict[str, float]:
        return {
            "step_speedup": self.baseline.step_seconds / self.ours.step_seconds,
            "generation_speedup": self.baseline.generation_seconds / self.ours.generation_seconds,
            "flops_ratio": self.baseline.flops_per_step / self.ours.flops_per_step,
            "peak_memory_ratio": self.ours.peak_memory_bytes / self.baseline.peak_memory_bytes,
        }

    def to_json(self) -> dict:
        return {
            "setup": self.setup,
            "ours": {**asdict(self.ours), "flops_per_second": self.ours.flops_per_second},
            "baseline": {**asdict(self.baseline), "flops_per_second": self.baseline.flops_per_second},
            "ratios": self.ratios(),
        }

    def table(self) -> str:
        rows = [
            ("UNet step (CFG pair), s", "step_seconds", "{:.4f}"),
            (f"generation ({self.setup['steps']} steps), s", "generation_seconds", "{:.3f}"),
            ("peak memory, MiB", "peak_memory_bytes", "{:.0f}"),
            ("GFLOP per step", "flops_per_step", "{:.2f}"),
        ]
        lines = [f"{'':34} {'ours':>12} {'baseline':>12} {'base/ours':>9}"]
        for label, field, fmt in rows:
            ours, base = getattr(self.ours, field), getattr(self.baseline, field)
            scale = 2**20 if field == "peak_memory_bytes" else 1e9 if field == "flops_per_step" else 1
            lines.append(
                f"{label:34} {fmt.format(ours / scale):>12} {fmt.format(base / scale):>12} {base / ours:>7.3f}x"
            )
        achieved = f"{self.ours.flops_per_second / 1e9:.1f} / {self.baseline.flops_per_second / 1e9:.1f}"
        lines.append(f"{'achieved GFLOP/s (ours / baseline)':34} {achieved:>25}")
        return "\n".join(lines)


class PeakMemory:
    """Peak memory during a block: max allocated on CUDA, else resident set size sampled every 2 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._running = True
            self.peak = _resident_bytes()
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
    """'tiny' (the official tiny test model) or 'full' (the released 1.68B-parameter configuration)."""
    if size == "tiny":
        return tiny_unet_config()
    if size == "full":
        return {}
    raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")


def step_flops(config: dict, frames: int, latent: int, cached: bool) -> int:
    """FLOPs of one CFG-pair UNet call, counted on fake tensors (no weights are allocated)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        model = PuppetMasterUNet(**config).eval()
        inputs = _inputs(model, frames, latent)
        drags = inputs.pop("drags")
        with torch.no_grad():
            context = model.prepare_drags(drags, (latent, latent)) if cached else None
            with FlopCounterMode(display=False) as counter:
                if cached:
                    model(**inputs, drag_context=context)
                else:
                    model(**inputs, drags=drags)
    return counter.get_total_flops()


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


def run_bench(
    size: str = "tiny",
    frames: int = 14,
    latent: int = 32,
    steps: int = 4,
    repeats: int = 3,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> BenchReport:
    """Measure ours and the baseline on the same random-weight model and inputs."""
    device = torch.device(device)
    config = bench_config(size)
    torch.manual_seed(0)
    model = PuppetMasterUNet(**config).to(device=device, dtype=dtype).eval()
    inputs = _inputs(model, frames, latent)
    drags = inputs.pop("drags")
    noise = initial_noise(0, frames, (latent, latent))

    with torch.no_grad():
        ours = _measure_path(model, inputs, drags, noise, config, steps, repeats, cached=True)
        baseline = _measure_path(model, inputs, drags, noise, config, steps, repeats, cached=False)
    setup = {
        "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "frames": frames,
        "latent": latent,
        "steps": steps,
        "repeats": repeats,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    return BenchReport(setup=setup, ours=ours, baseline=baseline)


def _measure_path(
    model: PuppetMasterUNet,
    inputs: dict,
    drags: torch.Tensor,
    noise: torch.Tensor,
    config: dict,
    steps: int,
    repeats: int,
    cached: bool,
) -> PathResult:
    """Time one UNet step and one generation, and take the peak memory, with or without the drag cache."""
    device = next(model.parameters()).device
    frames, latent = noise.shape[1], noise.shape[-1]
    with PeakMemory(device) as memory:
        if cached:
            context = model.prepare_drags(drags, (latent, latent))

            def step() -> object:
                return model(**inputs, drag_context=context)
        else:

            def step() -> object:
                return model(**inputs, drags=drags)

        step()
        step_times = [_timed(step, device) for _ in range(repeats)]
        conditioning = (inputs["image_latents"][:1], inputs["encoder_hidden_states"][:1], drags[:1])
        generation = _timed(lambda: sample(model, noise, *conditioning, steps=steps, reuse_drag_context=cached), device)
    return PathResult(
        step_seconds=statistics.median(step_times),
        generation_seconds=generation,
        peak_memory_bytes=memory.peak,
        flops_per_step=step_flops(config, frames, latent, cached),
    )


def write_report(report: BenchReport, path: str | Path) -> Path:
    """Write the JSON report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2))
    return path
