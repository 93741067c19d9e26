"""The benchmark: both paths measured on the same model, FLOPs counted, JSON written (no timing asserts)."""

import json

from puppet_master.bench import run_bench, step_flops, write_report
from puppet_master.cli import main
from puppet_master.selfcheck import tiny_unet_config


def test_baseline_counts_the_drag_work_that_ours_skips():
    ours = step_flops(tiny_unet_config(), frames=4, latent=8, cached=True)
    baseline = step_flops(tiny_unet_config(), frames=4, latent=8, cached=False)
    assert 0 < ours < baseline


def test_full_size_flops_are_counted_without_allocating_weights():
    flops = step_flops({}, frames=14, latent=32, cached=True)
    assert 7.5e12 < flops < 8.5e12


def test_report_has_both_paths_and_ratios(tmp_path):
    report = run_bench(size="tiny", frames=4, latent=8, steps=1, repeats=1)
    assert report.setup["parameters"] == 2_366_426
    for path in (report.ours, report.baseline):
        assert path.step_seconds > 0 and path.generation_seconds > 0 and path.peak_memory_bytes > 2**20
    assert report.ratios()["flops_ratio"] > 1
    assert "GFLOP per step" in report.table()
    saved = json.loads(write_report(report, tmp_path / "bench.json").read_text())
    assert set(saved) == {"setup", "ours", "baseline", "ratios"}
    assert saved["ours"]["flops_per_second"] > 0


def test_bench_command_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    argv = ["bench", "--frames", "4", "--latent", "8", "--steps", "1", "--repeats", "1", "--device", "cpu"]
    assert main([*argv, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "base/ours" in printed and "2,366,426 parameters" in printed
    assert json.loads(out.read_text())["setup"]["frames"] == 4
