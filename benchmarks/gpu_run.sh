#!/usr/bin/env bash
# The one prepared command for a machine with a GPU that has no network: `jrelu check`, then a reduced
# `jrelu bench`, each writing straight into $OUT, in at most about 6 minutes.
#
#   OUT=/some/dir bash benchmarks/gpu_run.sh     # on the GPU machine, run from a checkout
#   QUICK=1 bash benchmarks/gpu_run.sh           # a smoke test of this script anywhere (bench --quick)
#
# Such a machine is lent to this project only now and then, for about 15 minutes of device time in all
# and at most 10 minutes a command, so one call must answer the most and leave room for a rerun.
# Nothing is installed: the image is expected to have jax (CUDA), flax, optax and rich; jrelu runs from
# the checkout (PYTHONPATH). Every step writes into $OUT and nowhere else, so a failed or timed-out step
# can never hand back files from an earlier run; the bench rewrites its JSON after every section, so a
# timeout still leaves what was measured. Full logs are kept. Afterwards, here:
#   cp "$OUT"/bench.json benchmarks/results/bench-gpu-<card>-<date>.json   # and commit it
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
    "$PY" -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$OUT/machine.txt"

# 1. Correctness on this backend first (XLA:GPU may compile slower than XLA:CPU: its own timeout).
timeout "${CHECK_TIMEOUT:-150}" "$PY" -m jrelu check --json "$OUT/check.json" 2>&1 | tee "$OUT/check.log"
check_rc=${PIPESTATUS[0]}
echo "check exit status $check_rc after $((SECONDS - t0)) s" | tee -a "$OUT/machine.txt"

# 2. A reduced bench: every section, bandwidth-bound sizes, fewer repeats.
bench_args=(--repeats "${REPEATS:-7}" --sizes 16 20 24 26)
[[ -n "${QUICK:-}" ]] && bench_args=(--quick)
timeout "${BENCH_TIMEOUT:-200}" "$PY" -m jrelu bench "${bench_args[@]}" \
    --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "bench exit status $bench_rc after $((SECONDS - t0)) s" | tee -a "$OUT/machine.txt"
exit $(( bench_rc != 0 || check_rc != 0 ))
