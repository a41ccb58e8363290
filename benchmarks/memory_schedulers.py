"""Backward memory under XLA:CPU's two instruction schedulers: why the CNN figure of `jrelu bench` is 1 on CPU.

    python benchmarks/memory_schedulers.py     # about 2 minutes on two CPU cores (compile only): prints,
                                               # writes benchmarks/results/memory-schedulers-cpu.json, and
                                               # rewrites benchmarks/README.md's memory-schedulers section

CPU only: the flag is XLA:CPU's, so the script forces ``JAX_PLATFORMS=cpu`` in its subprocesses (on a
machine with a GPU it still measures the CPU); the accelerator's own figure is ``jrelu bench``'s memory
section run there.

XLA:CPU orders a compiled program's operations with a concurrency-optimised scheduler by default (flag
``--xla_cpu_enable_concurrency_optimized_scheduler``). In the CNN it computes each conv weight gradient's
transposed copy of the layer input during the *forward* pass, so the identity network keeps that copy
(1 tensor per layer) and any activation whose backward reads its output or input keeps a second one. With
the flag off, XLA's memory-minimising scheduler is used instead. This script measures the figures of
``jrelu bench``'s memory section as *absolute* activation-sized tensors per layer (extra + the identity
floor) under both, each setting in a fresh process (XLA reads its flags once).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "memory-schedulers-cpu.json"
FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
SCHEDULERS = {"concurrency (default)": f"{FLAG}=true", "memory-minimising": f"{FLAG}=false"}


def measure() -> dict:
    """In this process (XLA_FLAGS already set): absolute tensors per layer for every case."""
    import jax

    from jrelu._cli.bench import models as bm
    from jrelu._cli.bench import speed as bs

    rows = []
    floors = {}
    for model in bm.MODELS:
        floor = bm.floor_tensors_per_layer(model)
        floors[model] = floor
        for case in bs.build_cases():
            for impl in ("jrelu", "jax.nn"):
                extra = bm.extra_tensors(case, impl, model)["extra_tensors_per_layer"]
                rows.append(
                    {"model": model, "label": case.label, "impl": impl, "tensors": extra + floor}
                )
    return {"backend": jax.default_backend(), "floor": floors, "rows": rows}


def render(data: dict) -> str:
    names = list(data["schedulers"])
    by = {
        (s, r["model"], r["label"], r["impl"]): r["tensors"]
        for s, d in data["schedulers"].items()
        for r in d["rows"]
    }
    labels = list(dict.fromkeys(r["label"] for r in data["schedulers"][names[0]]["rows"]))

    def num(v: float) -> str:
        return f"{v:.3f}".rstrip("0").rstrip(".")

    head = ["function"] + [
        f"{m.upper()}, {s} scheduler: jrelu / jax.nn" for m in ("cnn", "mlp") for s in names
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        cells = [f"`{label}`"]
        for m in ("cnn", "mlp"):
            for s in names:
                cells.append(
                    f"{num(by[(s, m, label, 'jrelu')])} / {num(by[(s, m, label, 'jax.nn')])}"
                )
        lines.append("| " + " | ".join(cells) + " |")
    floor = ["*identity network*"] + [
        num(data["schedulers"][s]["floor"][m]) for m in ("cnn", "mlp") for s in names
    ]
    lines.append("| " + " | ".join(floor) + " |")
    return (
        f"Measured by `benchmarks/memory_schedulers.py` ({data['backend']}, jax {data['jax_version']}, "
        f"{data['date'][:10]}; from `benchmarks/results/{OUT.name}`): float32 activation-sized tensors per "
        "layer that a compiled training step keeps, in total (not over the identity network), under each "
        "XLA:CPU scheduler.\n\n" + "\n".join(lines)
    )


def main() -> None:
    if os.environ.get("JRELU_SCHEDULER_CHILD"):
        print(json.dumps(measure()))
        return
    import jax

    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "jax_version": jax.__version__,
        "flag": FLAG,
        "schedulers": {},
    }
    for name, flag in SCHEDULERS.items():
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()}
        env["JRELU_SCHEDULER_CHILD"] = "1"
        env["JAX_PLATFORMS"] = "cpu"  # the flag and the figures are XLA:CPU's
        print(f"measuring with {flag} ...", flush=True)
        done = subprocess.run(
            [sys.executable, __file__], env=env, check=True, capture_output=True, text=True
        )
        out["schedulers"][name] = json.loads(done.stdout.strip().splitlines()[-1])
    out["backend"] = out["schedulers"][next(iter(SCHEDULERS))]["backend"]
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    text = render(out)
    print(text)
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import update_readme  # the one splicer: renders the section from OUT

    update_readme.main(["--only", "memory-schedulers"])
    print(f"wrote {OUT.relative_to(ROOT)} and benchmarks/README.md")


if __name__ == "__main__":
    main()
