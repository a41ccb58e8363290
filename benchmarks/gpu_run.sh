#!/usr/bin/env bash
# The one prepared command for a machine with a GPU and no network: `jrelu check`, then a reduced
# `jrelu bench` in four section groups, then benchmarks/floor_tradeoff.py, each step under its own timeout
# and writing straight into $OUT, in at most 8 minutes (the timeouts add up to 480 s).
#
#   OUT=/some/dir bash benchmarks/gpu_run.sh     # on the GPU machine, from the repository root of a copy
#   QUICK=1 OUT=$(mktemp -d) bash benchmarks/gpu_run.sh   # smoke test of this script anywhere (--quick)
#
# Such a machine is lent to this project only now and then, for about 15 minutes of device time in all
# and at most 10 minutes a command, so one call must answer the most and leave room for a rerun.
# Nothing is downloaded or installed: the image has jax (CUDA), flax, optax and rich; jrelu runs from the
# checkout (PYTHONPATH; `pip install -e . --no-deps --no-build-isolation` would do as well).
#
# Every step writes into $OUT and nowhere else, so a failed or timed-out step can never hand back files
# from an earlier run (benchmarks/results holds the committed CPU runs: nothing here reads it). The
# bench rewrites its JSON after every section (and every size of the speed section), and records a
# row's error instead of ending the run, so a timeout still leaves what was measured. Full logs are
# kept (tee). Section groups, most wanted first: speed (kernels: each program loops its pass inside one
# jit so that 2^16-2^20 time the kernels, not dispatch), memory + ffn (compile only, one program at a
# time: XLA:GPU autotunes on the device while compiling), train + dispatch, blocks (every function in a
# transformer block, d_model 64 and 256, float32 and bfloat16: whether the XLA:CPU fix of the (rows,
# features) view holds, costs or is moot on XLA:GPU). At the end the parts are
# merged into $OUT/bench.json and its report (with the verdicts) into $OUT/report.txt; then
# benchmarks/floor_tradeoff.py times what the memory floor costs at d_model 64 on this device.
# Afterwards, here:
#   cp "$OUT"/bench.json benchmarks/results/bench-gpu-<card>-<date>.json   # and commit it
#
# pytest on a GPU (not run here): XLA_PYTHON_CLIENT_PREALLOCATE=false and a small -n (say -n 2), or each
# worker takes 75% of the GPU's memory up front and the others fail to allocate.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# Grow GPU memory as needed instead of taking 75% up front, so the compiled-memory figures and the
# PyTorch rows do not fight over a preallocated pool.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT="${OUT:-/tmp/jrelu-gpu-run}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
t0=$SECONDS

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c "import jax, flax, optax, jrelu; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'jrelu from', jrelu.__file__, jax.devices())"
} 2>&1 | tee "$OUT/machine.txt"

status=0
# step NAME TIMEOUT COMMAND...: run it under its own timeout, log it in full, note its exit status.
step() {
    local name=$1 limit=$2
    shift 2
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "$name: exit status $rc, $((SECONDS - t0)) s into the run (its own limit $limit s)" | tee -a "$OUT/machine.txt"
    [[ $rc -eq 0 ]] || status=1
}

# 1. Correctness on this backend first (XLA:GPU may compile slower than XLA:CPU: its own timeout).
step check "${CHECK_TIMEOUT:-100}" "$PY" -m jrelu check --json "$OUT/check.json"

# 2. A reduced bench: every section, bandwidth-bound sizes (2^26 float32 is 256 MiB: past any L2).
if [[ -n "${QUICK:-}" ]]; then
    bench_args=(--quick)
else
    bench_args=(--repeats "${REPEATS:-7}" --sizes 16 20 24 26)
fi
step bench-speed "${SPEED_TIMEOUT:-100}" "$PY" -m jrelu bench "${bench_args[@]}" \
    --sections speed --json "$OUT/bench-speed.json"
step bench-memory "${MEMORY_TIMEOUT:-70}" "$PY" -m jrelu bench "${bench_args[@]}" \
    --sections memory ffn --json "$OUT/bench-memory.json"
step bench-train "${TRAIN_TIMEOUT:-60}" "$PY" -m jrelu bench "${bench_args[@]}" \
    --sections train dispatch --json "$OUT/bench-train.json"
step bench-blocks "${BLOCKS_TIMEOUT:-90}" "$PY" -m jrelu bench "${bench_args[@]}" \
    --sections blocks --json "$OUT/bench-blocks.json"

# 3. One JSON and one report from whatever the parts left (each is complete up to its last section).
"$PY" - "$OUT" <<'EOF' 2>&1 | tee "$OUT/report.txt"
import json, pathlib, sys
from rich.console import Console
from jrelu._cli.bench.driver import _write_json, merge
from jrelu._cli.bench.report import print_report
out = pathlib.Path(sys.argv[1])
parts = [json.loads(p.read_text()) for n in ("speed", "memory", "train", "blocks")
         if (p := out / f"bench-{n}.json").exists()]
if not parts:
    sys.exit("no bench JSON in " + str(out))
merged = merge(parts)
_write_json(str(out / "bench.json"), merged)
print_report(Console(width=170), merged)
print(f"wrote {out / 'bench.json'} from {len(parts)} part(s)")
EOF
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1

# 4. What the memory floor costs on this device at d_model 64 (on XLA:CPU 3-6% of an FFN-only block's
# step, nothing from d_model 128 up: benchmarks/README.md; there the library keeps x, on a GPU y): each
# y-reading rule keeping y, the same rule keeping x, the library, and jax.nn, timed interleaved, with
# their temp memory. Printed only (floor.log).
step floor "${FLOOR_TIMEOUT:-60}" "$PY" benchmarks/floor_tradeoff.py --sizes 64 --repeats "${REPEATS:-7}" --target 0.1
echo "total $((SECONDS - t0)) s, exit status $status" | tee -a "$OUT/machine.txt"
exit $status
