#!/usr/bin/env bash
# Issue 16's GPU figures in one run, for a session that is lent the device machine (README: Benchmark).
# Writes under $OUT: the bench JSON, table and scaling plot per dtype, and nvidia-smi's view of the card.
#
# The device image has torch but not diffusers: carry its wheel. Here, once, in the repository root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl "diffusers==$(.venv/bin/python -c 'import diffusers; print(diffusers.__version__)')"
# Then the device tool's run: command "bash scripts/device_checks.sh", carry [".whl"], timeout_s 540.
# COMPILE=1 adds torch.compile (its compile time is reported). To check this script here, on the CPU:
#   DEVICE=cpu SIZE=tiny OUT=/tmp/device_checks PYTHON=.venv/bin/python bash scripts/device_checks.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-full}
OUT=${OUT:-outputs/device_checks}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=".:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then
    nvidia-smi >"$OUT/nvidia_smi.txt"
fi

bench() {
    local name=$1
    shift
    "$PYTHON" -m puppet_master bench --size "$SIZE" --device "$DEVICE" --json "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
}

# fp16: every lever against the baseline, a 50-step generation of each timed end to end (the UNet time of a
# video), peak memory (max allocated), and the frames/resolution scaling with its plot.
bench bench_fp16 --dtype fp16 --levers each --repeats 5 --steps 50 --scaling "$SIZE"
bench bench_bf16 --dtype bf16 --levers ends --repeats 5 --steps 50 --scaling off
if [ "${COMPILE:-0}" = 1 ]; then
    bench bench_fp16_compile --dtype fp16 --levers ends --repeats 5 --steps 0 --scaling off --compile
fi
