"""What the memory floor costs in step time where it costs any: jrelu's rule keeping y, and the same rule
keeping x (as jax.nn does), against jax.nn, in transformer and FFN blocks.

    python benchmarks/floor_tradeoff.py                       # FFN and transformer blocks, d_model 64 and 128
    python benchmarks/floor_tradeoff.py --models ffn --fns relu --sizes 64 --repeats 150

For each block and function (relu, relu6, squared_relu: the rules whose backward pass reads y alone and
whose jax.nn formulations keep x) it compiles one SGD step of 2 blocks
(:func:`jrelu._cli.bench.blocks.step_program`, float32 or ``--dtype bfloat16``, 1024 tokens, 256 at d_model
1024) four ways:

* ``y kept``: the rule in mode ``"y"`` on the ``(rows, hidden)`` view (0 extra tensors per block);
* ``x kept``: the same rule in mode ``"recompute-y"`` on the same view -- the same bits, but the
  backward pass keeps ``x`` and recomputes ``y`` from it, as ``jax.nn`` does;
* ``jrelu``: the library as users call it, which is one of the two: on XLA:CPU ``x kept`` below
  ``jrelu._core.SMALL_ON_CPU`` elements (d_model 64 here), ``y kept`` from there up and on every other
  platform (``jrelu._core.keeps_small_x_on_cpu``);
* ``jax.nn``: the peer formulation;

and prints each one's temporary memory (XLA's ``memory_analysis()``) and the median over interleaved
repeats of its step time ÷ jax.nn's, wall clock and CPU time, with the quartiles. Where ``x kept`` is
at jax.nn's time and ``y kept`` is not, the floor itself costs that time: keeping ``y`` frees a buffer
that later kernels reuse, and XLA:CPU's runtime orders each reuse after the buffer's last reader.
Writes nothing.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from jrelu import _core, _rectifiers
from jrelu._cli.bench import blocks as bb
from jrelu._cli.bench import speed as bs
from jrelu._cli.bench.models import time_sgd_steps
from jrelu._testing.memory import temp_size

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from blocks_study import SIZES, _ratio

# d_model: (batch, seq); 128 (2**19 hidden elements, jrelu._core.SMALL_ON_CPU) is where the floor's
# price was gone on XLA:CPU
BATCH_SEQ = {**SIZES, 128: SIZES[64]}

RULES = {
    "relu": _rectifiers._relu_jit,
    "relu6": _rectifiers._relu6_jit,
    "squared_relu": _rectifiers._squared_jit,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--models", nargs="+", default=["ffn", "transformer"])
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 128], choices=list(BATCH_SEQ))
    p.add_argument("--fns", nargs="+", default=list(RULES), choices=list(RULES))
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--target", type=float, default=0.2, help="seconds of steps per repeat")
    args = p.parse_args(argv)
    plan = bs.Plan(args.target, args.repeats, args.repeats, budget=1e9)
    for model in args.models:
        for width in args.sizes:
            dims = bb.BlockDims(width, *BATCH_SEQ[width], model=model)
            for bc in bb.block_cases(bs.build_cases(args.fns)):
                rule = RULES[bc.case.fn]
                programs = {
                    kept: bb.step_program(
                        bc,
                        "jrelu",
                        dims,
                        args.dtype,
                        act=lambda z, rule=rule, mode=mode: _core._on_rows(rule, mode, z),
                    )
                    for kept, mode in (("y kept", "y"), ("x kept", "recompute-y"))
                }
                programs["jrelu"] = bb.step_program(bc, "jrelu", dims, args.dtype)
                programs["jax.nn"] = bb.step_program(bc, "jax.nn", dims, args.dtype)
                for prog in programs.values():
                    prog.compile()
                timed = time_sgd_steps(programs, plan)
                cells = []
                for impl, prog in programs.items():
                    cell = f"{impl} temp {temp_size(prog.compiled) / 2**20:5.2f} MiB"
                    if impl != "jax.nn":
                        w, c = (
                            _ratio(timed, k, impl)
                            for k in ("seconds_repeats", "cpu_seconds_repeats")
                        )
                        cell += (
                            f", wall {w['median']:.3f} ({w['q1']:.2f}-{w['q3']:.2f}), CPU "
                            f"{c['median']:.3f} ({c['q1']:.2f}-{c['q3']:.2f})"
                        )
                    cells.append(cell)
                print(
                    f"{model:11s} d={width:<5d} {args.dtype:8s} {bc.label:13s} " + "; ".join(cells),
                    flush=True,
                )


if __name__ == "__main__":
    main()
