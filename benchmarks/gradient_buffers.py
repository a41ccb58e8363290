"""Which buffer each activation's backward kernel writes over, jrelu against its peer, on XLA:CPU.

    python benchmarks/gradient_buffers.py                 # relu, relu6, squared_relu, leaky_relu, elu
    python benchmarks/gradient_buffers.py --fns relu --model ffn --d-model 256

XLA:CPU's runtime runs two kernels side by side unless one writes a buffer the other reads. An
elementwise backward kernel may write its output over one of its operands' buffers where that operand
dies; if another kernel still reads that operand (the next matmul's weight gradient reads ``y``), the
write must wait for it. For the 2-block SGD step of ``jrelu bench``'s blocks section (float32), this
compiles each program with ``--xla_dump_to`` in a subprocess, finds the backward kernels that read two
hidden-sized operands (the activation's residual and the incoming cotangent), and prints whose buffer
each one writes over and which other kernels read that buffer. jrelu's relu and relu6 wrote over ``y``
(read by the weight gradient's dot) until their tangent map applied the gate before the NaN factor
(jrelu/README.md, "Transformer blocks"); now every rule writes over the cotangent, as the peers do.
Writes nothing.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_time import entry_instructions

BATCH, SEQ = 8, 128  # the blocks section's default block (jrelu._cli.bench.blocks.block_dims)
PROGRAM = """
import sys
from jrelu._cli.bench import blocks as bb, speed as bs
(bc,) = bb.block_cases(bs.build_cases([sys.argv[1]]))
dims = bb.BlockDims(int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), model=sys.argv[3])
bb.step_program(bc, sys.argv[2], dims, "float32").compile()
"""


def _slices(assignment: str) -> dict[str, tuple[str, int]]:
    """value name -> (allocation, offset) from XLA's buffer-assignment dump."""
    where: dict[str, tuple[str, int]] = {}
    alloc = None
    for line in assignment.splitlines():
        m = re.match(r"allocation (\d+):", line)
        if m:
            alloc = m.group(1)
            continue
        m = re.match(r"\s*value: <\d+ ([\w.\-]+) @0> \(size=\d+,offset=(\d+)\)", line)
        if m and alloc is not None:
            where.setdefault(m.group(1), (alloc, int(m.group(2))))
    return where


def report(fn: str, impl: str, model: str, d_model: int) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        flags = f"--xla_dump_to={d} --xla_dump_hlo_as_text --xla_dump_hlo_module_re=jit_step"
        env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
        args = [fn, impl, model, str(d_model), str(BATCH), str(SEQ)]
        subprocess.run(
            [sys.executable, "-c", PROGRAM, *args], env=env, check=True, capture_output=True
        )
        (hlo,) = glob.glob(f"{d}/*jit_step.cpu_after_optimizations.txt")
        (ba,) = glob.glob(f"{d}/*jit_step.cpu_after_optimizations-buffer-assignment.txt")
        ops, where = entry_instructions(open(hlo).read()), _slices(open(ba).read())
    hidden = f"f32[{BATCH * SEQ},{4 * d_model}]"
    lines = []
    for name, (shape, operands) in ops.items():
        args = [a for a in operands if a in ops and ops[a][0].startswith(hidden)]
        if not shape.startswith(hidden) or "fusion" not in name or len(args) != 2:
            continue
        over = [a for a in args if a in where and where[a] == where.get(name)]
        readers = [m for m, (_, o) in ops.items() if over and over[0] in o and m != name]
        lines.append(
            f"{fn:13s} {impl:6s} {name}({', '.join(args)}) writes over "
            f"{over[0] if over else 'a buffer of its own'}; other readers: {readers or 'none'}"
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--fns", nargs="+", default=["relu", "relu6", "squared_relu", "leaky_relu", "elu"]
    )
    p.add_argument("--model", default="transformer", choices=("transformer", "ffn"))
    p.add_argument("--d-model", type=int, default=64)
    args = p.parse_args()
    for fn in args.fns:
        for impl in ("jrelu", "jax.nn"):
            print("\n".join(report(fn, impl, args.model, args.d_model)), flush=True)


if __name__ == "__main__":
    main()
