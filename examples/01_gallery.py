"""01 - Gallery: every jrelu activation and its derivative, the kink conventions, and where jax.nn differs.

The source article's section 2 describes ReLU's graph; this draws all eight functions with their
derivatives and measures, for each one:

* the derivative (and second derivative) each library takes at the kinks, where the math leaves a choice:
  jrelu (PyTorch's convention) against the peer (``jax.nn``'s function, or the obvious ``jnp.where`` code
  where ``jax.nn`` has none -- the same code Flax's and Equinox's PReLU use);
* the largest error against a float64 NumPy reference away from the kinks (float32);
* the share of the bfloat16 / float16 inputs in [-8, 8] (subnormal ones left out) whose output is
  not correctly rounded.

Run:  python examples/01_gallery.py [--quick] [--out DIR]
      python examples/01_gallery.py --summarise DIR   (summary.md again from DIR/results.json)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure

import jrelu

NAME = "01_gallery"
FIGURE = "gallery.png"  # what --out writes besides results.json and summary.md
QUICK = "a smaller grid (seconds)"  # what --quick does


# The helpers every example carries, from parser() to summarise(): identical copies, so that one
# file is one experiment (examples/README.md says why; tests/test_examples.py checks they agree).


def parser() -> argparse.ArgumentParser:
    """The command line every example shares: --quick, --out DIR, --summarise DIR."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=QUICK)
    p.add_argument("--out", metavar="DIR", help=f"write {FIGURE}, results.json and summary.md here")
    p.add_argument(
        "--summarise",
        metavar="DIR",
        help="run nothing: rewrite DIR/summary.md from the DIR/results.json of an earlier run",
    )
    return p


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain-text table with aligned columns, for the terminal."""
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, for summary.md."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def pct(v: float) -> str:
    """A share in percent: 37%, 0.4%, <0.1%."""
    if v == 0 or v >= 0.01:
        return f"{100 * v:.0f}%"
    return f"{100 * v:.1f}%" if v >= 0.001 else "<0.1%"


def save(directory: str, out: dict[str, Any], figure: Figure, dpi: int = 90) -> None:
    """Write results.json and the figure into ``directory``, then summary.md from that results.json."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "results.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    figure.savefig(os.path.join(directory, FIGURE), dpi=dpi)
    print(f"\nwrote {directory}/results.json and {FIGURE}")
    summarise(directory)


def summarise(directory: str) -> dict[str, Any]:
    """Write ``directory/summary.md`` from ``directory/results.json`` alone; return those results.

    Its links are relative to ``directory``; ``examples/update_readme.py`` collects the summaries.
    """
    with open(os.path.join(directory, "results.json")) as fh:
        results = json.load(fh)
    script = os.path.relpath(os.path.abspath(__file__), os.path.abspath(directory))
    with open(os.path.join(directory, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write(summary(results, script.replace(os.sep, "/")))
    print(f"wrote {directory}/summary.md")
    return results


def half_values(dtype: Any) -> np.ndarray:
    """Every normal (and zero) value of a 16-bit float type in [-8, 8], as float64."""
    with np.errstate(invalid="ignore"):  # the NaN bit patterns
        vals = np.arange(2**16, dtype=np.uint16).view(dtype).astype(np.float64)
    tiny = float(jnp.finfo(dtype).tiny)
    keep = np.isfinite(vals) & (np.abs(vals) <= 8) & ((vals == 0) | (np.abs(vals) >= tiny))
    return vals[keep]


def misrounded(f: Any, ref: Any, dtype: Any) -> float:
    """Share of 16-bit inputs where f's output is not the correctly rounded float64 reference.

    Subnormal inputs are left out and subnormal outputs count as 0: XLA on CPU flushes them (a backend
    property, not the activation's).
    """
    x = half_values(dtype)
    tiny = float(jnp.finfo(dtype).tiny)
    got = np.asarray(f(jnp.asarray(x.astype(dtype)))).astype(np.float64)
    want = ref(x).astype(dtype).astype(np.float64)  # one rounding, float64 -> 16 bits
    want = np.where(np.abs(want) < tiny, 0.0, want)
    got = np.where(np.abs(got) < tiny, 0.0, got)
    return float(np.mean(~((got == want) | (np.isnan(got) & np.isnan(want)))))


def measure(spec: Any, n_grid: int) -> dict[str, Any]:
    p = dict(spec.params)

    def f(x: Any) -> Any:
        return spec.fn(x, **p)

    def base(x: Any) -> Any:
        return spec.baseline(x, **p)

    df, db = jax.grad(f), jax.grad(base)
    kinks = []
    for k in spec.kinks:
        kinks.append(
            {
                "x": k,
                "jrelu": float(df(float(k))),
                "peer": float(db(float(k))),
                "reference": float(spec.derivative(np.array(k), **p)),
                "left": float(spec.derivative(np.array(k - 1e-6), **p)),
                "right": float(spec.derivative(np.array(k + 1e-6), **p)),
                "jrelu_2nd": float(jax.grad(df)(float(k))),
                "peer_2nd": float(jax.grad(db)(float(k))),
            }
        )
    xs = np.linspace(-10.0, 10.0, n_grid).astype(np.float32)
    away = np.all([np.abs(xs - k) > 1e-3 for k in spec.kinks], axis=0)
    xs = xs[away]
    ref_v, ref_d = spec.value(xs, **p), spec.derivative(xs, **p)
    v = np.asarray(f(xs), np.float64)
    d = np.asarray(jax.vmap(df)(xs), np.float64)
    bv = np.asarray(base(xs), np.float64)
    bd = np.asarray(jax.vmap(db)(xs), np.float64)
    scale = np.maximum(1.0, np.abs(ref_v))
    return {
        "params": p,
        "kink_rule": spec.kink_rule,
        "peer_name": f"{spec.baseline_name}"
        + ("" if spec.baseline_name != "jax.nn" else f".{spec.name}"),
        "kinks": kinks,
        "max_rel_err_value": float(np.max(np.abs(v - ref_v) / scale)),
        "max_abs_err_derivative": float(np.max(np.abs(d - ref_d))),
        "peer_max_rel_err_value": float(np.max(np.abs(bv - ref_v) / scale)),
        "peer_max_abs_err_derivative": float(np.max(np.abs(bd - ref_d))),
        "misrounded": {
            dt: {
                "jrelu": misrounded(f, lambda x: spec.value(x, **p), getattr(jnp, dt)),
                "peer": misrounded(base, lambda x: spec.value(x, **p), getattr(jnp, dt)),
            }
            for dt in ("bfloat16", "float16")
        },
    }


def draw(results: dict[str, Any]) -> Figure:
    names = list(results)
    ncols = 4
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        spec, r = jrelu.FUNCTIONS[name], results[name]
        p = r["params"]
        lo, hi = min(-4.0, min(spec.kinks) - 2), max(3.0, max(spec.kinks) + 2)
        xs = np.linspace(lo, hi, 400).astype(np.float32)
        ax.plot(xs, np.asarray(spec.fn(xs, **p)), lw=2, label="f(x)")
        ax.plot(
            xs,
            np.asarray(jax.vmap(jax.grad(lambda x, s=spec, p=p: s.fn(x, **p)))(xs)),
            "--",
            lw=1.4,
            label="f'(x)",
        )
        for k in r["kinks"]:
            ax.plot([k["x"]], [k["jrelu"]], "o", color="C3", ms=7, label="jrelu f'(kink)")
            ax.plot([k["x"]], [k["peer"]], "x", color="k", ms=9, mew=2, label="peer f'(kink)")
        ax.set_title(f"{name}   (peer: {r['peer_name']})", fontsize=9)
        ax.set_xlim(lo, hi)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False, fontsize=8)
    fig.suptitle(
        "jrelu activations and derivatives; at each kink jrelu's derivative (dot) and the peer's (x)",
        fontsize=10,
    )
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    fns = d["functions"]
    rows = []
    for name, r in fns.items():
        for k in r["kinks"]:
            if k["jrelu"] != k["peer"] or k["jrelu_2nd"] != k["peer_2nd"]:
                rows.append(
                    [
                        f"`{name}`",
                        f"{k['x']:g}",
                        f"{k['jrelu']:.4g}",
                        f"{k['peer']:.4g}",
                        f"{k['jrelu_2nd']:.4g}",
                        f"{k['peer_2nd']:.4g}",
                        f"`{r['peer_name']}`",
                    ]
                )
    half = [
        [
            f"`{n}`",
            pct(r["misrounded"]["bfloat16"]["jrelu"]),
            pct(r["misrounded"]["bfloat16"]["peer"]),
            pct(r["misrounded"]["float16"]["jrelu"]),
            pct(r["misrounded"]["float16"]["peer"]),
        ]
        for n, r in fns.items()
        if max(
            r["misrounded"]["bfloat16"]["peer"],
            r["misrounded"]["float16"]["peer"],
            r["misrounded"]["bfloat16"]["jrelu"],
            r["misrounded"]["float16"]["jrelu"],
        )
        > 0
    ]
    text = [
        f"**Gallery** ([`01_gallery.py`]({script})): every function and derivative, and where "
        "jrelu and its peer (`jax.nn`, or the `jnp.where` code Flax and Equinox use for PReLU) differ. "
        "At the kinks (first and second derivative):",
        "",
        md_table(["function", "x", "jrelu f′", "peer f′", "jrelu f″", "peer f″", "peer"], rows),
        "",
    ]
    if half:
        text += [
            "Share of the 16-bit inputs in [−8, 8], subnormal ones left out (XLA:CPU flushes them "
            "to zero), whose output is not the correctly rounded value (a subnormal output counts "
            "as 0):",
            "",
            md_table(["function", "jrelu bf16", "peer bf16", "jrelu f16", "peer f16"], half),
            "",
        ]
    text.append(f"![every activation and derivative]({FIGURE})")
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    n_grid = 2001 if args.quick else 200001
    # Elementwise functions only: a gated unit (reglu) maps pairs to one output and has no graph of
    # one variable; `jrelu plot` draws it against its gate, and `jrelu check` checks its kink.
    # (and not alpha_dropout, a dropout layer with no graph without a key: `jrelu plot` draws one)
    elementwise = {
        name: spec
        for name, spec in jrelu.FUNCTIONS.items()
        if not spec.gated and not spec.needs_key
    }
    results = {name: measure(spec, n_grid) for name, spec in elementwise.items()}

    rows = []
    for name, r in results.items():
        for k in r["kinks"]:
            differ = "DIFFERS" if k["jrelu"] != k["peer"] else "same"
            rows.append(
                [
                    name,
                    f"{k['x']:g}",
                    f"{k['jrelu']:.4g}",
                    f"{k['peer']:.4g}",
                    differ,
                    f"{k['jrelu_2nd']:.4g}",
                    f"{k['peer_2nd']:.4g}",
                    r["peer_name"],
                ]
            )
    print("Derivatives at the kinks (f' and f''), jrelu vs the peer:")
    print(
        table(
            rows, ["function", "kink", "jrelu f'", "peer f'", "", "jrelu f''", "peer f''", "peer"]
        )
    )
    rows = []
    for name, r in results.items():
        m = r["misrounded"]
        rows.append(
            [
                name,
                f"{r['max_rel_err_value']:.1e}",
                f"{r['peer_max_rel_err_value']:.1e}",
                f"{r['max_abs_err_derivative']:.1e}",
                f"{r['peer_max_abs_err_derivative']:.1e}",
                f"{m['bfloat16']['jrelu']:.1%}",
                f"{m['bfloat16']['peer']:.1%}",
                f"{m['float16']['jrelu']:.1%}",
                f"{m['float16']['peer']:.1%}",
            ]
        )
    print(
        "\nAccuracy against a float64 reference (f32 on [-10, 10] away from kinks; all 16-bit inputs in [-8, 8]):"
    )
    print(
        table(
            rows,
            [
                "function",
                "f rel err",
                "peer",
                "f' abs err",
                "peer",
                "bf16 misround",
                "peer",
                "f16 misround",
                "peer",
            ],
        )
    )

    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "functions": results,
    }
    if args.out:
        save(args.out, out, draw(results))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
