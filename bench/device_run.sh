#!/usr/bin/env bash
# The GPU checks, as one call of the `device` tool (see README, Benchmarks). Made here by `make device-kit`, which
# writes .whl/ (SAM 2's code and its pure-Python needs; the GPU machine has torch, numpy, scipy, tifffile, pandas).
# There: run from the repository root with .whl carried, e.g. command "bash bench/device_run.sh", carry [".whl"].
# Writes gpu.txt and one log per bench into $OUT (bench_out/ without it). PYTHON, DEVICE and FRAMES override the
# interpreter, the torch device and the frames per run (a CPU dry run: DEVICE=cpu FRAMES=3).
set -uo pipefail
out=${OUT:-bench_out}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
frames=${FRAMES:-40}
mkdir -p "$out"
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/samem-site \
    .whl/*.whl || exit 1
export PYTHONPATH=/tmp/samem-site:$PWD/services PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "no nvidia-smi") > "$out/gpu.txt" 2>&1

bench() {  # NAME ARGS...: one engine-vs-upstream speed run, its output in $out/NAME.log
    local name=$1
    shift
    echo "== $name"
    timeout 300 "$python" bench/bench_engine.py --skip-memory --device "$device" --frames "$frames" "$@" \
        > "$out/$name.log" 2>&1
    echo "exit $?"
    grep -A 8 "summary (Markdown)" "$out/$name.log" | tail -n 4
}

bench compact_bf16 --precision bf16
bench compact_fp32 --precision fp32
bench hiera_l_bf16 --precision bf16 --model sam2.1_hiera_l:random
