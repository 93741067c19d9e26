"""Checks and measurements, not the generation API: the offline self-check with tiny random models
(`python -m puppet_master selfcheck`, `selfcheck`) and the benchmark (`python -m puppet_master bench`: `bench`,
its report `bench_report` and plot `bench_plot`, `peak_memory`, and `bench_loading` for the memory of loading
a checkpoint)."""
