"""Dev benchmark: the native ComfyUI graph against the library's own sampling loop, same model, same inputs.

A real ComfyUI (COMFYUI_PATH, COMFYUI_PYTHON: `eval "$(bash ../shared/comfyui/setup.sh requirements.txt)"`) gets
a random Puppet-Master UNet of the chosen size and runs LoadImage -> Drags -> Prepare Image -> SVD Encoders ->
Conditioning, Loader -> VideoLinearCFGGuidance -> KSampler(euler, karras) -> SaveLatent. After a first run
(loading, encoding), each timed run changes only the seed, so ComfyUI re-executes KSampler and SaveLatent alone;
its time is the span between the server's execution_start and execution_success, and its CPU time the
server process's over the request (the prompt's other work is cached, so it is KSampler's). The library's
`puppet_master.sampling.sample` runs the same weights, latent size, frames, steps and guidance in this process.
The two are interleaved (server, library, server, ...) so that a busy machine slows them alike.

    .venv/bin/python scripts/bench_native_graph.py --size mid --steps 4 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

from comfyui_server import Server, fill_base_folder  # noqa: E402

from puppet_master.diagnostics.bench import bench_config  # noqa: E402
from puppet_master.diagnostics.selfcheck import write_tiny_svd_folder  # noqa: E402
from puppet_master.loading import load_unet, save_unet  # noqa: E402
from puppet_master.model import PuppetMasterUNet  # noqa: E402
from puppet_master.sampler_settings import SamplerSettings  # noqa: E402
from puppet_master.sampling import initial_noise, sample  # noqa: E402

DRAGS = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[48, 50], [60, 30]]}]}


def native_prompt(steps: int, size: int, seed: int) -> dict:
    """The native graph in API format on `bench.safetensors`, ending in SaveLatent."""

    def node(class_type: str, **inputs: object) -> dict:
        return {"class_type": class_type, "inputs": inputs}

    return {
        "1": node("LoadImage", image="example.png"),
        "2": node("PuppetMasterDrags", drags=json.dumps(DRAGS), frames=14, image=["1", 0]),
        "3": node("PuppetMasterPrepareImage", scale=2.2, size=size, image=["1", 0], drags=["2", 0], mask=["1", 1]),
        "4": node("PuppetMasterSVDEncoders", svd_folder="svd_tiny"),
        "5": node("PuppetMasterConditioning", negative="official", image=["3", 0], drags=["3", 1], encoders=["4", 0]),
        "6": node("PuppetMasterLoader", unet_name="bench.safetensors", weight_dtype="fp32"),
        "7": node("VideoLinearCFGGuidance", min_cfg=1.0, model=["6", 0]),
        "8": node(
            "KSampler",
            seed=seed,
            steps=steps,
            cfg=5.0,
            sampler_name="euler",
            scheduler="karras",
            denoise=1.0,
            model=["7", 0],
            positive=["5", 0],
            negative=["5", 1],
            latent_image=["5", 2],
        ),  # fmt: skip
        "9": node("SaveLatent", filename_prefix="bench", samples=["8", 0]),
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_seconds(server: Server, prompt: dict) -> tuple[float, float, list[str]]:
    """Wall time of one prompt between execution_start and execution_success, the server's CPU time over the
    whole request, and the nodes it ran."""
    cpu_started = process_cpu_seconds(server.process.pid)
    history = server.run(prompt)
    cpu = process_cpu_seconds(server.process.pid) - cpu_started
    messages = dict(history["status"]["messages"])
    if "execution_success" not in messages:
        raise RuntimeError(f"the prompt failed: {history['status']}")
    seconds = (messages["execution_success"]["timestamp"] - messages["execution_start"]["timestamp"]) / 1000
    cached = set(messages.get("execution_cached", {}).get("nodes", []))
    return seconds, cpu, sorted(set(prompt) - cached)


def library_seconds(unet: PuppetMasterUNet, steps: int, latent: int, seed: int) -> tuple[float, float]:
    """Wall and CPU time of `sample` (CFG 1 -> 5 ramp, official negative) on the same shapes."""
    generator = torch.Generator().manual_seed(seed)
    image_latent = torch.randn(1, 4, latent, latent, generator=generator)
    embedding = torch.randn(1, 1, unet.config.cross_attention_dim, generator=generator)
    drags = torch.zeros(1, 14, unet.config.num_drags, 4)
    drags[0, :, 0] = torch.tensor([0.5, 0.6, 0.6, 0.4])
    start, cpu_started = time.perf_counter(), time.process_time()
    with torch.no_grad():
        sample(unet, initial_noise(seed, 14, (latent, latent)), image_latent, embedding, drags, SamplerSettings(steps))
    return time.perf_counter() - start, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "mid", "full"), default="mid")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pixels", type=int, default=256)
    parser.add_argument("--json", type=Path, default=REPO / "outputs" / "bench_native_graph.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        svd = write_tiny_svd_folder(root / "svd")
        # The UNet takes the tiny SVD encoder's CLIP width; attn2 is folded over 1 + K tokens, so its cost is small.
        clip_width = json.loads((svd / "image_encoder" / "config.json").read_text(encoding="utf-8"))["projection_dim"]
        torch.manual_seed(0)
        config = {**bench_config(args.size), "cross_attention_dim": clip_width}
        weights = save_unet(PuppetMasterUNet.from_config(config), root / "bench.safetensors")
        base = root / "comfyui"
        base.mkdir()
        fill_base_folder(base, {"bench.safetensors": weights}, svd)
        unet = load_unet(weights).eval()
        server = Server(base)
        try:
            first, _, _ = server_seconds(server, native_prompt(args.steps, args.pixels, seed=0))
            native, native_cpu, library, library_cpu, reran = [], [], [], [], set()
            for round_index in range(args.rounds):
                seed = round_index + 1
                seconds, cpu, ran = server_seconds(server, native_prompt(args.steps, args.pixels, seed=seed))
                native.append(seconds)
                native_cpu.append(cpu)
                reran.update(ran)
                seconds, cpu = library_seconds(unet, args.steps, args.pixels // 8, seed=seed)
                library.append(seconds)
                library_cpu.append(cpu)
                print(
                    f"round {seed}: native graph {native[-1]:.2f} s ({native_cpu[-1]:.1f} CPU s), "
                    f"library {library[-1]:.2f} s ({library_cpu[-1]:.1f} CPU s)"
                )
        finally:
            server.stop()
    report = {
        "size": args.size, "steps": args.steps, "frames": 14, "pixels": args.pixels, "rounds": args.rounds,
        "first_native_run_seconds": first, "native_seconds": native, "library_seconds": library,
        "native_cpu_seconds": native_cpu, "library_cpu_seconds": library_cpu, "nodes_rerun": sorted(reran),
        "native_over_library": statistics.median(native) / statistics.median(library),
        "native_over_library_cpu": statistics.median(native_cpu) / statistics.median(library_cpu),
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(
        f"native graph / library loop (median of {args.rounds}): {report['native_over_library']:.3f} wall, "
        f"{report['native_over_library_cpu']:.3f} CPU time"
    )
    print(f"re-executed per timed run: {', '.join(report['nodes_rerun'])}; report: {args.json}")


if __name__ == "__main__":
    main()
