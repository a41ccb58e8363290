"""Forward throughput of the exponential and random functions against a copy, at large sizes.

Interleaved repeats (every program once per round), min-of-N per program; the ceiling is the faster of
``jit(jnp.copy)`` and ``jit(jnp.negative)`` at the same size and dtype (as ``jrelu bench``). Prints the
load average, since on a shared machine only a quiet run is a measurement; the CPU time the process
spent per element (min-of-N of ``time.process_time``, all threads) is printed too: on a loaded machine
it still ranks the programs' compute cost, which wall time then does not.

    python benchmarks/forward_vs_copy.py --sizes 24 26 --repeats 30
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp

import jrelu

KEY = jax.random.key(1)
FUNCTIONS = {
    "copy": jnp.copy,
    "negate": jnp.negative,
    "relu": jrelu.relu,
    "elu": jrelu.elu,
    "selu": jrelu.selu,
    "celu": jrelu.celu,
    "rrelu+key": lambda x: jrelu.rrelu(x, key=KEY),
    "alpha_dropout": lambda x: jrelu.alpha_dropout(x, 0.1, key=KEY),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 26])
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--fns", nargs="+", default=list(FUNCTIONS))
    a = p.parse_args()
    print(f"jax {jax.__version__}, load average before: {os.getloadavg()}")
    for dt in a.dtypes:
        for e in a.sizes:
            n = 2**e
            x = jax.random.normal(jax.random.key(0), (n // 1024, 1024), jnp.dtype(dt))
            progs = {k: jax.jit(FUNCTIONS[k]).lower(x).compile() for k in a.fns}
            for f in progs.values():
                jax.block_until_ready(f(x))
            best = {k: float("inf") for k in progs}
            cpu = {k: float("inf") for k in progs}
            for _ in range(a.repeats):
                for k, f in progs.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    jax.block_until_ready(f(x))
                    best[k] = min(best[k], time.perf_counter() - t0)
                    cpu[k] = min(cpu[k], time.process_time() - c0)
            ceiling = min(best.get("copy", float("inf")), best.get("negate", float("inf")))
            nbytes = 2 * n * jnp.dtype(dt).itemsize
            row = "  ".join(
                f"{k} {nbytes / t / 1e9:.2f}GB/s {100 * ceiling / t:.0f}% cpu {1e9 * cpu[k] / n:.2f}ns"
                for k, t in best.items()
            )
            print(f"{dt} 2^{e}: {row}  load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
