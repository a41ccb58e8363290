"""Eager-call overhead with a float hyperparameter: a repeated value and a new value on every call.

    python benchmarks/eager_dispatch.py          # print the table, write benchmarks/results/eager-dispatch-<backend>.json

An eager call (no outer ``jit``) on a small input is all overhead: argument checks, the hyperparameter's
trip to the device and jit's dispatch. This program times, for every function with a float
hyperparameter, jrelu and jax.nn side by side and interleaved (so load on the machine hits both alike):

* **repeated**: the same Python float on every call (a fixed slope);
* **fresh**: a new Python float on every call (a schedule or a sweep), never seen before.

It reports the median over rounds of the per-call time and the ratio to jax.nn. Goals: fresh
<= 2x jax.nn, repeated <= 1.5x. Run it on a quiet machine: it measures microseconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jrelu

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (label, jrelu call, jax.nn call, base value): the hyperparameter is the second positional argument.
CASES: list[tuple[str, Callable, Callable, float]] = [
    ("leaky_relu", jrelu.leaky_relu, jax.nn.leaky_relu, 0.01),
    ("elu", jrelu.elu, jax.nn.elu, 1.0),
    ("celu", jrelu.celu, jax.nn.celu, 1.0),
]


def _time(call: Callable[[float], jax.Array], values: itertools.count, n: int) -> float:
    """Seconds per call over ``n`` calls, each with the next value, blocking on the last result."""
    start = time.perf_counter()
    for _ in range(n):
        y = call(next(values))
    y.block_until_ready()
    return (time.perf_counter() - start) / n


def measure(rounds: int, calls: int, size: int) -> list[dict]:
    x = jnp.linspace(-3.0, 3.0, size, dtype=jnp.float32)
    rows = []
    fresh_ids = itertools.count(1)  # one counter: no value is ever met twice, by any implementation
    for label, ours, theirs, base in CASES:
        impls = {"jrelu": ours, "jax.nn": theirs}
        times: dict[tuple[str, str], list[float]] = {}
        for fn in impls.values():  # warm up: compile, fill the repeated value's cache
            fn(x, base).block_until_ready()
            fn(x, base).block_until_ready()
        for _ in range(rounds):
            for impl, fn in impls.items():
                rep = itertools.repeat(base)
                times.setdefault((impl, "repeated"), []).append(
                    _time(lambda v, fn=fn: fn(x, v), rep, calls)
                )
                fresh = (base * (1 + 1e-6 * i) for i in fresh_ids)
                times.setdefault((impl, "fresh"), []).append(
                    _time(lambda v, fn=fn: fn(x, v), fresh, calls)
                )
        for kind in ("repeated", "fresh"):
            us = {impl: statistics.median(times[(impl, kind)]) * 1e6 for impl in impls}
            rows.append(
                {
                    "fn": label,
                    "value": kind,
                    "jrelu_us": round(us["jrelu"], 2),
                    "jax_nn_us": round(us["jax.nn"], 2),
                    "ratio": round(us["jrelu"] / us["jax.nn"], 3),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median taken)")
    ap.add_argument("--calls", type=int, default=200, help="calls per round")
    ap.add_argument("--size", type=int, default=1024, help="elements of the input")
    args = ap.parse_args()
    rows = measure(args.rounds, args.calls, args.size)
    print(f"{'function':12} {'value':9} {'jrelu µs':>9} {'jax.nn µs':>10} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['fn']:12} {r['value']:9} {r['jrelu_us']:9.2f} {r['jax_nn_us']:10.2f} {r['ratio']:6.2f}"
        )
    backend = jax.default_backend()
    out = ROOT / "benchmarks" / "results" / f"eager-dispatch-{backend}.json"
    meta = {
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": backend,
        "cpu_count": __import__("os").cpu_count(),
        "machine": platform.machine(),
        "rounds": args.rounds,
        "calls": args.calls,
        "size": args.size,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
