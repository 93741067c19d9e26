"""The benchmark: every lever variant measured on the same model, FLOPs counted, scaling run, JSON and plot
written (no timing asserts: times on a shared machine prove nothing)."""

import json

from PIL import Image

from puppet_master.cli import main
from puppet_master.diagnostics.bench import run_bench, step_flops, write_report
from puppet_master.diagnostics.bench_loading import measure_loading, write_placeholder_checkpoint
from puppet_master.diagnostics.bench_report import CHANNELS_LAST, VARIANTS
from puppet_master.diagnostics.selfcheck import tiny_unet_config
from puppet_master.loading import inspect_checkpoint, save_unet
from puppet_master.model import PuppetMasterUNet


def test_baseline_counts_the_drag_work_that_ours_skips():
    ours = step_flops(tiny_unet_config(), frames=4, latent=8, cached=True)
    baseline = step_flops(tiny_unet_config(), frames=4, latent=8, cached=False)
    assert 0 < ours < baseline


def test_full_size_flops_are_counted_without_allocating_weights():
    standard = step_flops({}, frames=14, latent=32, cached=True, short_context_attention=False)
    folded = step_flops({}, frames=14, latent=32, cached=True)
    assert 7.5e12 < folded < standard < 8.5e12


def test_report_has_every_variant_the_ratios_and_the_scaling(tmp_path):
    report = run_bench(
        size="tiny",
        frames=4,
        latent=8,
        steps=1,
        repeats=1,
        scaling_size="tiny",
        scaling_frames=(2, 4),
        scaling_latents=(8, 16),
    )
    assert report.setup["parameters"] == 2_366_426
    assert [v.name for v in report.variants] == [v.name for v in (*VARIANTS, CHANNELS_LAST)]
    assert report.baseline.name == "baseline" and report.ours.name == VARIANTS[-1].name
    for variant in report.variants:
        assert len(variant.step_times) == 1 and variant.step_seconds > 0 and variant.peak_memory_bytes > 2**20
        assert variant.step_cpu_seconds > 0
    assert report.ours.flops_per_step < report.variants[1].flops_per_step < report.baseline.flops_per_step
    assert report.variants[-1].flops_per_step == report.ours.flops_per_step  # channels-last: same work
    ratios = report.ratios()
    assert set(ratios) >= {
        "step",
        "step_cpu",
        "step_channels_last",
        "generation_50_steps",
        "generation_measured",
        "flops",
        "peak_memory",
    }
    assert 0 < ratios["flops"] < 1
    assert [(p.frames, p.latent) for p in report.scaling] == [(2, 8), (4, 8), (2, 16)]
    assert report.scaling[-1].full_size_flops_per_step > 3 * report.scaling[0].full_size_flops_per_step
    per_work = report.nonlinearity()
    assert [p["frames"] for p in per_work["frames"]] == [2, 4]
    assert [p["pixels"] for p in per_work["resolution"]] == [64, 128]
    assert per_work["frames"][0]["time"] == 1.0
    assert "x baseline" in report.table() and "scaling over resolution" in report.table()

    path = write_report(report, tmp_path / "bench.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert {"setup", "ours", "baseline", "variants", "ratios", "scaling", "scaling_per_unit_of_work"} <= set(saved)
    assert saved["ours"]["flops_per_second"] > 0
    plot = Image.open(path.with_suffix(".png"))
    assert plot.size == (1200, 560)
    assert len(plot.convert("RGB").getcolors(maxcolors=1 << 24)) > 10  # lines in several colours, not blank


def test_bench_command_prints_the_lever_table_and_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "b.json"
    argv = ["bench", "--frames", "2", "--latent", "8", "--steps", "1", "--repeats", "1", "--device", "cpu"]
    assert main([*argv, "--scaling", "off", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x baseline" in printed and "2,366,426 parameters" in printed and "50-step generation" in printed
    assert json.loads(out.read_text(encoding="utf-8"))["setup"]["frames"] == 2
    assert not out.with_suffix(".png").exists()


def test_placeholder_checkpoint_has_the_released_key_set_and_takes_no_disk_space(tmp_path):
    path = write_placeholder_checkpoint(tmp_path / "model.safetensors")
    info = inspect_checkpoint(path)
    assert info.kind == "puppet_master" and info.num_drags == 5
    assert (info.num_parameters, info.num_tensors) == (1_675_809_962, 1664)
    assert info.dtypes == {"F32": 1664}
    assert path.stat().st_size > 6.7e9 and path.stat().st_blocks * 512 < 2**20


def test_loading_is_measured_in_a_fresh_interpreter(tmp_path):
    model = PuppetMasterUNet(**tiny_unet_config())
    path = save_unet(model, tmp_path / "tiny.safetensors")
    measured = measure_loading(path, "fp16")
    assert measured["dtype"] == "fp16"
    assert measured["weights_bytes"] == 2 * sum(p.numel() for p in model.parameters())
    assert measured["peak_resident_bytes"] >= measured["resident_before_bytes"] > 50 * 2**20
