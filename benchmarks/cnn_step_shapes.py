"""CNN training-step time, jrelu vs jax.nn, over several model shapes: is the bench's CNN ratio the rule?

    python benchmarks/cnn_step_shapes.py     # about 4 minutes on two CPU cores: prints, writes
                                             # benchmarks/results/cnn-step-shapes-<backend>.json
    python benchmarks/cnn_step_shapes.py --fns leaky_relu    # prints only

`jrelu bench` times one small CNN. On XLA:CPU that CNN's step was often slower in wall time with jrelu
than with its peer at the same CPU time, while every rule kept y. A profile of leaky_relu at that shape
showed why: the convolutions took the same time, but two of the backward pass overlapped under
jax.nn.leaky_relu and ran one after the other under jrelu. XLA:CPU's executor runs independent kernels side by side unless they
share a buffer (write after read): its execution graph (``TF_CPP_VMODULE=thunk_executor=6``) gives
jrelu's program an edge between two backward convolutions' kernels that the peer's lacks, where the rule
keeps y. Keeping x, as the peer does, removes it, and on XLA:CPU every rule but reglu now keeps x for a
map of 4 or more axes (jrelu/README.md, "Feature maps on XLA:CPU"); jax.nn.relu's own program has the
edge, which is why relu reads below 1 here. Whether two kernels
overlap also varies from run to run: jax.nn's ELU step at the bench shape measured 44 ms in one run and
54 ms in another. This script times the same Flax + optax step (3x3 convolutions, Adam) at a few
batch/width/depth/side shapes, to show whether a ratio belongs to the activation or to one shape, with
the ratio of CPU time beside the wall-clock one: equal CPU time at a higher wall time is lost overlap.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib

import jax
import numpy as np

import jrelu
from jrelu._cli.bench import models as bm
from jrelu._cli.bench import speed as bs

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ("relu", "elu", "leaky_relu", "squared_relu", "reglu")
# (batch, width, depth, side): the bench's full-run shape and its default shape first.
SHAPES = (
    (32, 32, 3, 32),
    (16, 32, 3, 32),
    (32, 32, 4, 32),
    (16, 64, 3, 32),
    (32, 16, 3, 32),
    (64, 32, 3, 16),
)


# The bench's own training-step timer: about 0.15 s of steps per repeat, 10 repeats, interleaved.
PLAN = bs.Plan(target=0.15, repeats=10, min_repeats=10, budget=120.0, warmup=2)


def time_pair(case: bs.Case, dims: bm.ModelDims) -> dict:
    progs = {
        impl: bm.train_program(case, impl, "cnn", dims).compile() for impl in ("jrelu", "jax.nn")
    }
    rows = {r["impl"]: r for r in bm.train_step_rows(case, "cnn", dims, progs, PLAN)}
    a, b = rows["jrelu"]["seconds"], rows["jax.nn"]["seconds"]
    # CPU time: the median of the per-repeat ratios (the repeats ran side by side).
    cpu = np.asarray(rows["jrelu"]["cpu_seconds_repeats"]) / np.asarray(
        rows["jax.nn"]["cpu_seconds_repeats"]
    )
    return {"jrelu": a, "jax.nn": b, "ratio": a / b, "cpu_ratio": float(np.median(cpu))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fns", nargs="+", default=list(FUNCTIONS), choices=list(jrelu.FUNCTIONS))
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    cases = {c.label: c for c in bs.build_cases(args.fns)}
    rows = []
    for batch, width, depth, side in SHAPES:
        dims = bm.ModelDims(batch=batch, width=width, depth=depth, side=side)
        for label, case in cases.items():
            r = time_pair(case, dims)
            row = {"batch": batch, "width": width, "depth": depth, "side": side, "fn": label, **r}
            rows.append(row)
            print(
                f"batch {batch:3d} width {width:3d} depth {depth} side {side:3d}  {label:12s}  "
                f"jrelu {r['jrelu'] * 1e3:7.2f} ms  jax.nn {r['jax.nn'] * 1e3:7.2f} ms  "
                f"ratio {r['ratio']:.3f}  CPU {r['cpu_ratio']:.3f}",
                flush=True,
            )
    backend = jax.default_backend()
    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": backend,
        "device": str(jax.devices()[0].device_kind),
        "jax_version": jax.__version__,
        "rows": rows,
    }
    ratios = [r["ratio"] for r in rows]
    cpu = [r["cpu_ratio"] for r in rows]
    print(
        f"wall ratios {min(ratios):.2f}-{max(ratios):.2f}, median {np.median(ratios):.3f}; "
        f"CPU {min(cpu):.2f}-{max(cpu):.2f}, median {np.median(cpu):.3f}"
    )
    # the committed file holds the whole grid: a run of some functions only prints
    if not args.no_write and sorted(args.fns) == sorted(FUNCTIONS):
        path = ROOT / "benchmarks" / "results" / f"cnn-step-shapes-{backend}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
