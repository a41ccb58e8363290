"""Is a training step slower because of its kernels or because of how XLA runs them? jrelu vs its peer.

    python benchmarks/kernel_time.py --model cnn --fns leaky_relu squared_relu relu
    python benchmarks/kernel_time.py --model transformer --d-model 64 --fns relu reglu

For each function it compiles jrelu's training step and its peer's (the bench's own programs: the CNN
and MLP of ``jrelu bench``'s train section, Adam; the transformer and FFN blocks of its blocks section,
SGD) and runs ``--steps`` steps of each under ``jax.profiler``, alternating jrelu and the peer
``--repeats`` times. From XLA's trace it sums, per step, the time of every operation of the compiled
program (the events named as the entry computation's instructions: fusions, convolutions, dots,
copies) -- the *kernel time*, whatever thread ran it -- and it takes the step's wall time around the
same steps. A wall-time ratio above the kernel-time ratio is time the runtime spent not overlapping
kernels it could have run side by side (XLA:CPU's executor runs independent kernels concurrently; a
buffer that two kernels share makes the second wait for the first), not work the activation asked
for. Prints the medians over the repeats; writes nothing. The profiler slows every step a little,
both programs alike.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import pathlib
import re
import tempfile
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jrelu import FUNCTIONS
from jrelu._cli.bench import blocks as bb
from jrelu._cli.bench import models as bm
from jrelu._cli.bench import speed as bs

IMPLS = ("jrelu", "jax.nn")


def entry_instructions(hlo: str) -> dict[str, tuple[str, list[str]]]:
    """Name -> (result shape, operand names) of the entry computation's instructions (the trace names
    its kernel events after them; ``benchmarks/gradient_buffers.py`` reads their operands)."""
    entry = re.search(r"^ENTRY [^\n]*\{\n(.*?)^\}", hlo, re.S | re.M)
    assert entry is not None, "no ENTRY computation in the compiled HLO"
    found = {}
    for line in entry.group(1).splitlines():
        # a tuple-shaped result has spaces in it: the shape is whatever precedes " opcode("
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (.*?) [\w\-]+\((.*?)\)(?:,|$)", line)
        if m:
            found[m.group(1)] = (m.group(2), re.findall(r"%([\w.\-]+)", m.group(3)))
    return found


def _step(kind: str, case: Any, impl: str, args: argparse.Namespace) -> tuple[Callable, set]:
    """One training step as a no-argument call that carries its state, and its kernels' names
    (``case``: a bench case for the CNN and MLP, a block case for the blocks)."""
    if kind in ("cnn", "mlp"):
        p = bm.train_program(case, impl, kind, bm.train_dims("default")[kind]).compile()
        params, opt_state, x, labels, key = p.args
        state = [params, opt_state]

        def call() -> Any:
            state[0], state[1], loss = p.fn(state[0], state[1], x, labels, key)
            return loss

    else:
        dims = bb.BlockDims(args.d_model, args.batch, args.seq, model=kind)
        p = bb.step_program(case, impl, dims, args.dtype).compile()
        carried = [p.args[0]]

        def call() -> Any:
            carried[0], loss = p.fn(carried[0], p.args[1])
            return loss

    return call, set(entry_instructions(p.compiled.as_text()))


def _profile(call: Callable, ops: set, steps: int) -> tuple[float, float]:
    """(wall seconds, kernel seconds) per step over ``steps`` profiled steps."""
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            # the steps alone: stopping the profiler (collecting and writing the trace) is not timed
            t0 = time.perf_counter()
            for _ in range(steps):
                jax.block_until_ready(call())
            wall = (time.perf_counter() - t0) / steps
        (trace,) = pathlib.Path(d).rglob("*.trace.json.gz")
        events = json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    per_op: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in ops:
            per_op[e["name"]] += e["dur"] * 1e-6
    return wall, sum(per_op.values()) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("cnn", "mlp", "transformer", "ffn"), default="cnn")
    ap.add_argument(
        "--fns", nargs="+", default=["relu", "leaky_relu", "squared_relu"], choices=list(FUNCTIONS)
    )
    ap.add_argument("--d-model", type=int, default=64, help="blocks only")
    ap.add_argument("--batch", type=int, default=8, help="blocks only")
    ap.add_argument("--seq", type=int, default=128, help="blocks only")
    ap.add_argument("--dtype", default="float32", help="blocks only")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{args.model}, jax {jax.__version__}, {jax.devices()[0].device_kind}")
    cases = bs.build_cases(args.fns)
    # the blocks' cases: rrelu with a key, prelu's slope learned shared and per hidden unit
    for case in cases if args.model in ("cnn", "mlp") else bb.block_cases(cases):
        steps = {impl: _step(args.model, case, impl, args) for impl in IMPLS}
        for call, _ in steps.values():
            for _ in range(3):
                jax.block_until_ready(call())
        got: dict[str, list[tuple[float, float]]] = {impl: [] for impl in IMPLS}
        for r in range(args.repeats):
            for impl in IMPLS if r % 2 == 0 else IMPLS[::-1]:
                got[impl].append(_profile(*steps[impl], args.steps))
        wall = {i: np.array([w for w, _ in got[i]]) for i in IMPLS}
        peer = getattr(case, "case", case).peer_name  # a block case wraps a bench case
        kern = {i: np.array([k for _, k in got[i]]) for i in IMPLS}
        print(
            f"{case.label:16s} wall {np.median(wall['jrelu']) * 1e3:7.2f} / "
            f"{np.median(wall['jax.nn']) * 1e3:7.2f} ms = "
            f"{np.median(wall['jrelu'] / wall['jax.nn']):.3f}   kernels "
            f"{np.median(kern['jrelu']) * 1e3:7.2f} / {np.median(kern['jax.nn']) * 1e3:7.2f} ms = "
            f"{np.median(kern['jrelu'] / kern['jax.nn']):.3f}   (jrelu / {peer})",
            flush=True,
        )


if __name__ == "__main__":
    main()
