"""Every FFN activation in transformer and FFN-only blocks, jrelu against its peer: memory, bytes, time.

    python benchmarks/blocks_study.py                     # the whole grid (about 20 min on 2 quiet cores)
    python benchmarks/blocks_study.py --models ffn --sizes 64 --dtypes float32 --fns relu elu

For each block (``"transformer"``: pre-LN causal attention then the FFN; ``"ffn"``: the residual FFN
block alone; hidden ``4 * d_model``, :mod:`jrelu._cli.bench.blocks`), d_model, dtype and function (as a
transformer trains it: rrelu with a key, prelu's slope learned), it measures

* the hidden-sized tensors a block keeps beyond the identity block, jrelu and its peer (compile only);
* XLA's bytes accessed and flops of the timed step, jrelu ÷ peer;
* one SGD step of 2 blocks, jrelu and its peer timed interleaved (A B B A ...) in this process: per
  repeat the ratio jrelu ÷ peer of the wall time and of the CPU time (``time.process_time``: both of
  XLA's threads), reported as the median ratio with its quartiles over the repeats, and the peer's
  median step.

Writes ``benchmarks/results/blocks-study-cpu.json`` and rewrites benchmarks/README.md's
``blocks-study`` section (``benchmarks/update_readme.py``). The machine's load average at the start and
the end is recorded: ratios from a busy machine are wider, not biased (the pairs are interleaved).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys

import jax
import numpy as np

from jrelu._cli.bench import blocks as bb
from jrelu._cli.bench import speed as bs
from jrelu._cli.bench.driver import _device_info
from jrelu._cli.bench.models import time_sgd_steps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "blocks-study-cpu.json"
SIZES = {
    64: (8, 128),
    256: (8, 128),
    1024: (2, 128),
}  # d_model: (batch, seq), as the bench's --full


def _ratio(timed: dict[str, dict], key: str, impl: str = "jrelu") -> dict[str, float]:
    """Median and quartiles of the per-repeat ratios impl / peer (the repeats ran side by side)."""
    r = np.asarray(timed[impl][key]) / np.asarray(timed["jax.nn"][key])
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def measure(args: argparse.Namespace) -> dict:
    cases = bb.block_cases(bs.build_cases(args.fns))
    # Every repeat, as many steps as fit in ``target`` seconds, A B B A ...: all ``repeats`` of them
    # (min_repeats = repeats and no budget to cut them short).
    plan = bs.Plan(args.target, args.repeats, args.repeats, budget=1e9)
    rows = []
    for model in args.models:
        for width in args.sizes:
            batch, seq = SIZES[width]
            dims = bb.BlockDims(width, batch, seq, model=model)
            for dtype in args.dtypes:
                for bc in cases:
                    row: dict = {
                        "model": model,
                        "d_model": width,
                        "dtype": dtype,
                        "label": bc.label,
                    }
                    mem = {
                        impl: bb.memory_row(bc, impl, dims, dtype) for impl in ("jrelu", "jax.nn")
                    }
                    row["peer"] = mem["jax.nn"]["peer"]
                    for impl, m in mem.items():
                        row[f"kept {impl}"] = m["extra_tensors_per_layer"]
                    programs = {i: bb.step_program(bc, i, dims, dtype) for i in ("jrelu", "jax.nn")}
                    for p in programs.values():
                        p.compile()
                    timed = time_sgd_steps(programs, plan)
                    for k in ("bytes_accessed", "flops"):
                        row[f"{k} ratio"] = timed["jrelu"][k] / timed["jax.nn"][k]
                    row["wall ratio"] = _ratio(timed, "seconds_repeats")
                    row["cpu ratio"] = _ratio(timed, "cpu_seconds_repeats")
                    row["peer step ms"] = 1e3 * timed["jax.nn"]["seconds"]
                    row["repeats"] = args.repeats
                    rows.append(row)
                    print(_line(row), flush=True)
    return {"rows": rows}


def _line(r: dict) -> str:
    w, c = r["wall ratio"], r["cpu ratio"]
    return (
        f"{r['model']:11s} d={r['d_model']:<5d} {r['dtype']:8s} {r['label']:19s} kept "
        f"{r['kept jrelu']:.2f}/{r['kept jax.nn']:.2f}  bytes {r['bytes_accessed ratio']:.3f}  wall "
        f"{w['median']:.3f} ({w['q1']:.2f}-{w['q3']:.2f})  cpu {c['median']:.3f} "
        f"({c['q1']:.2f}-{c['q3']:.2f})  peer {r['peer step ms']:.1f} ms"
    )


def render(fig: dict) -> str:
    """The benchmarks/README.md section: one table per block, with the run's header."""
    lines = [
        f"Measured by `python benchmarks/blocks_study.py` ({fig['device_detail']}, jax "
        f"{fig['jax_version']}, {fig['date']}, {fig['repeats']} interleaved repeats, load average "
        f"{fig['load'][0]:.1f} at the start and {fig['load'][1]:.1f} at the end; from "
        "`benchmarks/results/blocks-study-cpu.json`). Kept: hidden-sized tensors per block beyond the "
        "identity block (jrelu / peer). Bytes: XLA's bytes accessed by the step, jrelu ÷ peer. Time: "
        "the median over repeats of jrelu's step ÷ its peer's, wall clock and CPU time, with the "
        "quartiles of the per-repeat ratios.",
    ]
    for model in dict.fromkeys(r["model"] for r in fig["rows"]):
        lines += [
            "",
            f"**{'Pre-LN transformer block' if model == 'transformer' else 'Residual FFN block'}**:",
            "",
            "| d_model | dtype | function | kept | bytes ÷ | wall ÷ | CPU ÷ | peer step | peer |",
            "|---:|---|---|---|---:|---|---|---:|---|",
        ]
        for r in fig["rows"]:
            if r["model"] != model:
                continue
            w, c = r["wall ratio"], r["cpu ratio"]
            lines.append(
                f"| {r['d_model']} | {r['dtype']} | `{r['label']}` | {r['kept jrelu']:.2f} / "
                f"{r['kept jax.nn']:.2f} | {r['bytes_accessed ratio']:.3f} | {w['median']:.2f} "
                f"({w['q1']:.2f}–{w['q3']:.2f}) | {c['median']:.2f} ({c['q1']:.2f}–{c['q3']:.2f}) | "
                f"{r['peer step ms']:.1f} ms | {r['peer']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--models", nargs="+", default=["ffn", "transformer"])
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), choices=list(SIZES))
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--fns", nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--target", type=float, default=0.2, help="seconds of steps per repeat")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    fig = {
        **_device_info(),
        "jax_version": jax.__version__,
        "date": datetime.date.today().isoformat(),
        "repeats": args.repeats,
        **measure(args),
    }
    fig["load"] = [load0, os.getloadavg()[0]]
    print(render(fig))
    if not args.no_write:
        OUT.write_text(json.dumps(fig, indent=1) + "\n")
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import update_readme

        update_readme.main(["--only", "blocks-study"])


if __name__ == "__main__":
    main()
