#!/usr/bin/env bash
# The GPU checks, as one call of the `device` tool (see README, Benchmarks). Made here by `make device-kit`, which
# writes .whl/ (SAM 2's code and its pure-Python needs, and triton-kit.tar.xz: tritonclient and the tritonserver
# binary, python backend and libraries of the nvidia-pytriton wheel; the GPU machine has torch, numpy, scipy,
# tifffile, pandas, grpcio, protobuf).
# There: run from the repository root with .whl carried, e.g. command "bash bench/device_run.sh", carry [".whl"].
# Writes gpu.txt and one log per bench into $OUT (bench_out/ without it). PYTHON, DEVICE, FRAMES and BUDGET override
# the interpreter, the torch device, the frames per run and the seconds all benches may take together (each bench
# gets at most what is left; a CPU dry run: DEVICE=cpu FRAMES=3); ONLY, a regular expression, picks benches by name.
set -uo pipefail
out=${OUT:-bench_out}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
frames=${FRAMES:-30}
deadline=$((SECONDS + ${BUDGET:-500}))
site=/tmp/samem-site
mkdir -p "$out"
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    .whl/*.whl || exit 1
tar -xJf .whl/triton-kit.tar.xz -C "$site" || exit 1
export PYTHONPATH=$site:$PWD/services PYTHONUNBUFFERED=1
# The python backend's stub for Python 3.12 links libpython3.12.so.1.0: put the interpreter's LIBDIR on the path.
libdir=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "no nvidia-smi"
    "$python" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'
    echo "LIBDIR $libdir:"; ls "$libdir" | grep -i libpython || echo "no libpython in LIBDIR"
    ldconfig -p | grep -i libpython || echo "no libpython in the loader cache"
} > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

run() {  # NAME CAP SCRIPT ARGS...: one bench, at most CAP seconds and what is left of the budget; log in $out/NAME.log
    local name=$1 cap=$2 script=$3
    shift 3
    [[ $name =~ ${ONLY:-.} ]] || return
    local left=$((deadline - SECONDS))
    ((left < cap)) && cap=$left
    if ((cap < 20)); then
        echo "== $name: skipped, ${left} s of the budget left"
        return
    fi
    echo "== $name (at most $cap s)"
    local began=$SECONDS
    timeout "$cap" "$python" "bench/$script" --device "$device" --frames "$frames" "$@" > "$out/$name.log" 2>&1
    echo "exit $? after $((SECONDS - began)) s"
    sed -n '/summary (Markdown)/,$p' "$out/$name.log" | grep -v "^$" || tail -n 5 "$out/$name.log"
}

run engine_compact_bf16 90 bench_engine.py --skip-memory --precision bf16
run engine_hiera_l_bf16 120 bench_engine.py --skip-memory --precision bf16 --model sam2.1_hiera_l:random
run triton_hiera_l_1obj 150 bench_triton.py --precision bf16 --model sam2.1_hiera_l:random --objects 1 --threads 4
run triton_compact_bf16 90 bench_triton.py --precision bf16 --objects 3 --threads 4
run triton_hiera_l_8obj 120 bench_triton.py --precision bf16 --model sam2.1_hiera_l:random --objects 8 --threads 4
run engine_compact_fp32 60 bench_engine.py --skip-memory --precision fp32
run prefetch_hiera_l_bf16 90 bench_prefetch.py --precision bf16 --model sam2.1_hiera_l:random
run prefetch_compact_fp32 60 bench_prefetch.py --precision fp32
run compile_hiera_l_bf16 240 bench_engine.py --skip-memory --precision bf16 --model sam2.1_hiera_l:random --compile
run compile_compact_graphs 180 bench_engine.py --skip-memory --precision fp32 --compile reduce-overhead
run precision_compact 240 bench_precision.py --clips 12 --jobs 12 --cache /tmp/precision_clips
