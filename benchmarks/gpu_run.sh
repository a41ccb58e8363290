#!/usr/bin/env bash
# The one prepared command for a lent GPU machine: the full `jrelu bench` and `jrelu check` there.
#
#   bash benchmarks/gpu_run.sh            # on the GPU machine (device tool: run, timeout_s 600)
#   QUICK=1 bash benchmarks/gpu_run.sh    # a smoke test of this script anywhere (bench --quick)
#
# The GPU image already has jax with CUDA, flax, optax, rich, matplotlib and torch, and it cannot reach
# PyPI, so jrelu runs from the checkout (PYTHONPATH) and nothing is installed. Results go to
# benchmarks/results/ there and are copied to $OUT (the device tool brings back at most 8 files);
# commit them here, then add them to the README with the card named:
#   python benchmarks/update_readme.py benchmarks/results/bench-gpu-<card>-<date>.json --readme ...
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/jrelu-gpu-run}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$OUT/machine.txt"

# The full CPU run takes about 10 minutes on 2 cores. On a GPU the kernels are far shorter, but there
# are ~450 programs to compile and torch rows besides, so 9 repeats instead of 15. The bench writes its
# JSON only at the end: the timeout must leave it room, and still leave time for `jrelu check` within the
# device tool's 10-minute command (run it with timeout_s=600).
bench_args=(-- --repeats "${REPEATS:-9}")
[[ -n "${QUICK:-}" ]] && bench_args=(-- --quick)
timeout "${BENCH_TIMEOUT:-500}" "$PY" benchmarks/run.py "${bench_args[@]}" 2>&1 | tail -n 120 > "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "bench exit status $bench_rc" | tee -a "$OUT/machine.txt"
newest_json=$(ls -t benchmarks/results/bench-*.json 2>/dev/null | head -n 1)
if [[ -n "$newest_json" ]]; then
    cp "$newest_json" "$OUT/"
    [[ -f "${newest_json%.json}.png" ]] && cp "${newest_json%.json}.png" "$OUT/"
fi

timeout "${CHECK_TIMEOUT:-80}" "$PY" -m jrelu check --json "$OUT/check.json" > "$OUT/check.txt" 2>&1
check_rc=$?
echo "check exit status $check_rc" | tee -a "$OUT/machine.txt"
tail -n 5 "$OUT/check.txt"
exit $(( bench_rc != 0 || check_rc != 0 ))
