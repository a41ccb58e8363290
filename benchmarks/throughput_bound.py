"""What bounds the forward pass at 2^26 elements on XLA:CPU: the output's page faults, then arithmetic.

    python benchmarks/throughput_bound.py     # prints the table, writes benchmarks/results/throughput-bound-cpu.json

``jrelu bench`` compares each forward pass with ``jit(jnp.copy)`` at the same size. At 2^26 elements the
copy is not bound by memory bandwidth: XLA:CPU gives every call a fresh output buffer, which the C
library maps from the operating system, so each 4 KiB page of the output is faulted in and zeroed by
the kernel on first write -- 65,537 minor faults per call for a 256 MiB float32 output. The faulting
thread is the one computing, so a pass's arithmetic adds to that time instead of hiding under it.

This program times, for each function and dtype, at 2^26 elements (median of 15 calls after 3):

* ``fresh``: ``jit(f)(x)``, as the bench does, with the minor page faults per call
  (``getrusage``);
* ``in place``: ``jit(f, donate_argnums=0)``, whose output reuses the input's buffer (no allocation,
  no fault); each call is fed the previous result.

and reports each against a ceiling of the same kind: ``fresh`` against the faster of copy and negate
(the bench's ceiling), ``in place`` against the fastest pass measured in place at that dtype (a
donated copy is no kernel at all, and a donated negate times no faster than relu: the ceiling is
whichever loop moved the bytes fastest). What is
left in place is the pass's own arithmetic against the memory system. Beside the times it counts the
elementwise ops XLA fused per element (:func:`fused_ops`, from the optimised HLO); the vector width of
the compiled loops can be read from ``XLA_FLAGS=--xla_dump_to=DIR`` (``*.ir-with-opt.ll``: ``<8 x float>``
with AVX2).
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import re
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import jrelu
from jrelu._cli.bench.driver import _device_info

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "throughput-bound-cpu.json"
KEY = jax.random.key(1)
N = 2**26
CALLS = 15  # timed, after 3
CEILINGS: dict[str, Callable[[jax.Array], jax.Array]] = {"copy": jnp.copy, "negate": jnp.negative}
FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jrelu.relu,
    "leaky_relu": jrelu.leaky_relu,
    "elu": jrelu.elu,
    "selu": jrelu.selu,
    "celu": jrelu.celu,
    "rrelu+key": lambda x: jrelu.rrelu(x, key=KEY),
    "jax.nn.elu": jax.nn.elu,
}
PROGRAMS = {**CEILINGS, **FUNCTIONS}  # every program timed with a fresh output, ceilings first


# Ops that are not per-element work in a fused loop.
_NOT_WORK = {
    "parameter",
    "constant",
    "fusion",
    "tuple",
    "get-tuple-element",
    "broadcast",
    "bitcast",
}


def fused_ops(fn: Callable[[jax.Array], jax.Array], dtype: str) -> dict[str, int]:
    """The elementwise ops of ``jit(fn)``'s optimised HLO on a (1024, 1024) input, by opcode: the
    per-element work XLA fused (parameters, constants, broadcasts and bitcasts left out; a key's
    digest stays scalar work and is not counted)."""
    x = jax.ShapeDtypeStruct((1024, 1024), jnp.dtype(dtype))
    text = jax.jit(fn).lower(x).compile().as_text()
    ops: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*(ROOT )?%[\w.\-]+ = (\w+)\[1024,1024\]\S* ([\w\-]+)\(", line)
        if m and m.group(3) not in _NOT_WORK:
            ops[m.group(3)] += 1
    return dict(sorted(ops.items()))


def _time(fn: Callable[[jax.Array], jax.Array], x: jax.Array, donate: bool) -> tuple[float, float]:
    """(median seconds per call, minor page faults per call). Few calls: a donated chain feeds each
    result to the next call, and 18 calls keep the values in range (selu grows by at most 1.05 a
    call, rrelu shrinks the negative side by at least 1/3: no inf, no subnormal)."""
    f = jax.jit(fn, donate_argnums=0 if donate else ())
    if donate:
        x = jnp.array(x, copy=True)  # the caller's x survives

    def call(v: jax.Array) -> jax.Array:
        out = f(v)
        out.block_until_ready()
        return out if donate else v

    for _ in range(3):
        x = call(x)
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(CALLS):
        t0 = time.perf_counter()
        x = call(x)
        times.append(time.perf_counter() - t0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return statistics.median(times), faults / CALLS


def measure() -> dict[str, Any]:
    rows = []
    for dt in ("float32", "bfloat16"):
        x = jax.random.normal(jax.random.key(0), (N // 1024, 1024), jnp.dtype(dt))
        fresh = {k: _time(f, x, False) for k, f in PROGRAMS.items()}
        placed = {k: _time(f, x, True) for k, f in {"negate": jnp.negative, **FUNCTIONS}.items()}
        ceiling = min(fresh["copy"][0], fresh["negate"][0])
        fastest = min(t for t, _ in placed.values())  # the fastest loop in place, whichever it was
        for k in PROGRAMS:
            row = {
                "fn": k,
                "dtype": dt,
                "ns_fresh": 1e9 * fresh[k][0] / N,
                "faults_fresh": fresh[k][1],
                "share_of_copy": ceiling / fresh[k][0],
                "fused_ops": fused_ops(PROGRAMS[k], dt),
            }
            if k in placed:
                row.update(
                    ns_in_place=1e9 * placed[k][0] / N,
                    faults_in_place=placed[k][1],
                    share_of_fastest_in_place=fastest / placed[k][0],
                )
            rows.append(row)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": _device_info()["device_detail"],  # the processor and its cores, as the bench
        "size": N,
        "rows": rows,
    }


def render(data: dict[str, Any]) -> str:
    """The Markdown table of benchmarks/README.md's "What bounds the forward pass" section."""
    gbs = {
        r["dtype"]: 2 * jnp.dtype(r["dtype"]).itemsize / r["ns_fresh"]
        for r in data["rows"]
        if r["fn"] == "copy"
    }
    neg: dict[str, float] = {}
    for r in data["rows"]:
        if "ns_in_place" in r:
            gb = 2 * jnp.dtype(r["dtype"]).itemsize / r["ns_in_place"]
            neg[r["dtype"]] = max(neg.get(r["dtype"], 0.0), gb)
    lines = [
        f"Measured by `python benchmarks/throughput_bound.py` ({data['backend']}, {data['device']}, "
        f"jax {data['jax']}, {data['date']}), at 2^26 elements. Copy with a "
        f"fresh output: float32 {gbs['float32']:.1f} GB/s, bfloat16 {gbs['bfloat16']:.1f} GB/s; "
        f"the fastest pass in place: float32 {neg['float32']:.1f} GB/s, bfloat16 {neg['bfloat16']:.1f} GB/s.",
        "",
        "| function | dtype | fused ops/element | fresh output: ns/element | page faults/call | "
        "share of copy | in place: ns/element | page faults/call | share of the fastest in place |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        placed = (
            [
                f"{r['ns_in_place']:.3f}",
                f"{r['faults_in_place']:,.0f}",
                f"{100 * r['share_of_fastest_in_place']:.0f}%",
            ]
            if "ns_in_place" in r
            else ["–", "–", "–"]
        )
        cells = [
            f"`{r['fn']}`",
            r["dtype"],
            str(sum(r["fused_ops"].values())),
            f"{r['ns_fresh']:.3f}",
            f"{r['faults_fresh']:,.0f}",
            f"{100 * r['share_of_copy']:.0f}%",
            *placed,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    data = measure()
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))
    print(f"load average after: {os.getloadavg()[0]:.2f}\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
