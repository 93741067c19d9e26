"""Checks of the native MODEL inside ComfyUI's own Python, with the real comfy modules (no server).

Run by tests/e2e/test_native_graph.py as `$COMFYUI_PYTHON tests/e2e/native_checks.py OUT.json` (ComfyUI's
requirements are installed there, not in the project's environment). Every number it writes is measured here;
the test asserts on them. Parity: the official tiny sampling runs of ../shared/fixtures/tiny_sampling_io
through Loader -> conditioning -> VideoLinearCFGGuidance -> KSampler(euler, karras).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PUPPET_MASTER_SHARED", REPO.parent / "shared"))
RUNS = {"steps4_maxg3": (4, 3.0), "steps3_maxg1": (3, 1.0)}
SEED = 1234  # the official runs draw their noise right after torch.manual_seed(1234)
LATENT_SCALE = 0.18215


def import_comfy_and_pack():
    """ComfyUI's modules (CPU, as `main.py --cpu`) and this pack imported as ComfyUI imports a custom node."""
    sys.path.insert(0, os.environ["COMFYUI_PATH"])
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    spec = importlib.util.spec_from_file_location(
        "puppet_master_pack", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["puppet_master_pack"] = pack
    spec.loader.exec_module(pack)
    asyncio.run(pack.comfy_entrypoint())  # as ComfyUI does: this imports the nodes (pack.nodes)
    return pack


def tiny_checkpoint(folder: Path) -> Path:
    """The official tiny weights written as users' files are (save_unet: config in the metadata)."""
    import torch
    from safetensors.torch import load_file

    from puppet_master.loading import save_unet
    from puppet_master.model import PuppetMasterUNet

    config = json.loads((SHARED / "fixtures" / "tiny_unet_config.json").read_text(encoding="utf-8"))
    model = PuppetMasterUNet(**config)
    weights = load_file(SHARED / "fixtures" / "tiny_unet_weights.safetensors")
    model.load_state_dict({name: value.to(torch.float32) for name, value in weights.items()})
    return save_unet(model, folder / "tiny.safetensors")


def parity(pack, checkpoint: Path) -> dict:
    import comfy.sample
    import comfy.samplers
    import torch
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance
    from safetensors.torch import load_file

    from puppet_master.sampling import karras_schedule

    core_nodes = importlib.import_module("nodes")  # ComfyUI's nodes.py (the pack's package is puppet_master_pack)
    io = load_file(SHARED / "fixtures" / "tiny_sampling_io.safetensors")
    model = pack.nodes.native_model.load_native_model(checkpoint, "fp32")
    results = {}
    for run, (steps, cfg) in RUNS.items():
        positive, negative, latent = pack.nodes.conditioning.conditioning_values(
            io["cond_latent"], io["cond_embedding"], io["drags"][0], "official"
        )
        comfy_noise = comfy.sample.prepare_noise(latent["samples"], SEED)
        guided = VideoLinearCFGGuidance().patch(model, 1.0)[0]
        (out,) = core_nodes.KSampler().sample(guided, SEED, steps, cfg, "euler", "karras", positive, negative, latent)
        latents = out["samples"].float() * LATENT_SCALE
        expected = io[f"final_latents_{run}"][0]
        sampling = guided.model.model_sampling
        comfy_sigmas = comfy.samplers.calculate_sigmas(sampling, "karras", steps).float()
        official = karras_schedule(steps)
        results[run] = {
            "relative_error": ((latents - expected).norm() / expected.norm()).item(),
            "max_abs_error": (latents - expected).abs().max().item(),
            "max_abs_expected": expected.abs().max().item(),
            "finite": bool(torch.isfinite(latents).all()),
            "noise_equal": torch.equal(comfy_noise, io[f"noise_{run}"][0]),
            "sigma_max_relative_difference": ((comfy_sigmas - official.sigmas).abs() / official.sigmas.clamp_min(1e-12))
            .max()
            .item(),
            "timestep_max_abs_difference": (sampling.timestep(comfy_sigmas[:-1]) - official.timesteps)
            .abs()
            .max()
            .item(),
            "noise_scaling_relative_difference": abs(
                float(torch.sqrt(1.0 + sampling.sigma_max**2)) / official.init_noise_sigma - 1
            ),
        }
    return results


def module_tree(pack, checkpoint: Path) -> dict:
    import comfy.ops

    report = {}
    for weight_dtype in ("fp32", "fp8_e4m3fn"):
        model = pack.nodes.native_model.load_native_model(checkpoint, weight_dtype)
        weighted, not_cast, other = 0, [], set()
        for name, module in model.model.diffusion_model.named_modules():
            own = dict(module.named_parameters(recurse=False))
            if "weight" in own:
                weighted += 1
                if not isinstance(module, comfy.ops.CastWeightBiasOp):
                    not_cast.append(name)
            elif own:
                other.add(f"{type(module).__name__}:{','.join(own)}")
        weights = [m.weight.dtype for m in model.model.diffusion_model.modules() if hasattr(m, "comfy_cast_weights")]
        cross = model.model.diffusion_model.cross_attentions().values()
        folded = [attn.processor._foldable(attn, attn.processor.readable) for attn in cross]
        report[weight_dtype] = {
            "weight_bearing_modules": weighted,
            "not_comfy_cast": not_cast,
            "other_parameters": sorted(other),
            "weight_dtypes": sorted({str(dtype) for dtype in weights}),
            "cross_attentions_folded": f"{sum(folded)} of {len(folded)}",
            "manual_cast_dtype": str(model.model.manual_cast_dtype),
            "patcher": f"{type(model).__module__}.{type(model).__name__}",
            "model_type": model.model.model_type.name,
            "sigma_range": [float(model.model.model_sampling.sigma_min), float(model.model.model_sampling.sigma_max)],
        }
    return report


def drag_work_counts(pack, checkpoint: Path) -> dict:
    """DragEmbedding forward calls over multi-step KSampler runs (guided: cond + uncond batched; unguided)."""
    import torch
    from safetensors.torch import load_file

    from puppet_master.host_memory import reusing_freed_host_memory

    core_nodes = importlib.import_module("nodes")
    io = load_file(SHARED / "fixtures" / "tiny_sampling_io.safetensors")
    model = pack.nodes.native_model.load_native_model(checkpoint, "fp32")
    unet = model.model.diffusion_model
    embeddings = [conv for block in unet.drag_blocks().values() for conv in block.flow_convs]
    counts = {"drag_embeddings": len(embeddings)}
    prepare = unet.prepare_drags
    for label, steps, cfg in (("guided_3_steps", 3, 3.0), ("unguided_2_steps", 2, 1.0)):
        calls: list[int] = []
        contexts: list[int] = []
        reusing: list[bool] = []
        hooks = [conv.register_forward_hook(lambda *_, seen=calls: seen.append(1)) for conv in embeddings]
        hooks.append(
            unet.conv_in.register_forward_hook(lambda *_, seen=reusing: seen.append(reusing_freed_host_memory()))
        )
        unet.prepare_drags = lambda *args, seen=contexts, **kwargs: seen.append(1) or prepare(*args, **kwargs)
        positive, negative, latent = pack.nodes.conditioning.conditioning_values(
            io["cond_latent"], io["cond_embedding"], io["drags"][0], "official"
        )
        with torch.no_grad():
            core_nodes.KSampler().sample(model, 0, steps, cfg, "euler", "karras", positive, negative, latent)
        for hook in hooks:
            hook.remove()
        del unet.prepare_drags
        counts[label] = len(calls)
        counts[f"{label}_contexts"] = len(contexts)
        counts[f"{label}_cache_entries_after"] = len(unet.drag_cache)
        counts[f"{label}_unet_calls_reusing_host_memory"] = f"{sum(reusing)} of {len(reusing)}"
        counts[f"{label}_reusing_host_memory_after"] = reusing_freed_host_memory()
    return counts


def torch_compile(pack, checkpoint: Path) -> dict:
    """TorchCompileModel's own wrapper (core's set_torch_compile_wrapper) around the native model, traced by
    dynamo with the "eager" backend: the graphs, graph breaks and recompiles any backend would get, without
    inductor's C++ build (minutes per graph on a small CPU; the inductor run is measured in the README)."""
    import torch
    from comfy_api.torch_helpers import set_torch_compile_wrapper
    from safetensors.torch import load_file
    from torch._dynamo.utils import counters

    core_nodes = importlib.import_module("nodes")
    io = load_file(SHARED / "fixtures" / "tiny_sampling_io.safetensors")
    model = pack.nodes.native_model.load_native_model(checkpoint, "fp32")
    compiled = model.clone(disable_dynamic=True)
    set_torch_compile_wrapper(model=compiled, backend="eager")
    positive, negative, latent = pack.nodes.conditioning.conditioning_values(
        io["cond_latent"], io["cond_embedding"], io["drags"][0], "official"
    )
    torch._dynamo.reset()
    counters.clear()
    runs = {}
    with torch.no_grad():
        for label, patcher in (("eager", model), ("compiled", compiled), ("compiled_again", compiled)):
            (out,) = core_nodes.KSampler().sample(patcher, 0, 2, 3.0, "euler", "karras", positive, negative, latent)
            runs[label] = out["samples"]
            if label == "compiled":
                first = {"unique_graphs": counters["stats"]["unique_graphs"], "breaks": dict(counters["graph_break"])}
    eager = runs["eager"]
    return {
        "finite": bool(torch.isfinite(runs["compiled"]).all()),
        "frames": int(runs["compiled"].shape[0]),
        "relative_difference": float((runs["compiled"] - eager).norm() / eager.norm()),
        "unique_graphs": first["unique_graphs"],
        "graph_breaks": sorted(reason.split("\n")[0] for reason in first["breaks"]),
        "new_graphs_on_second_run": counters["stats"]["unique_graphs"] - first["unique_graphs"],
    }


def main() -> None:
    out = Path(sys.argv[1])
    pack = import_comfy_and_pack()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = tiny_checkpoint(Path(folder))
        report = {
            "parity": parity(pack, checkpoint),
            "module_tree": module_tree(pack, checkpoint),
            "drag_work": drag_work_counts(pack, checkpoint),
            "torch_compile": torch_compile(pack, checkpoint),
        }
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
