"""05 - SELU self-normalisation: mean and variance through 64 layers, against ReLU and ELU; with AlphaDropout.

The article's claim: SELU's constants are chosen so that the network keeps its activations' mean and
variance stable (self-normalising, Klambauer et al. 2017). This pushes a batch of standard-normal inputs
through 64 randomly initialised dense layers (256 units, LeCun-normal weights -- SELU's prescribed
initialisation -- and zero biases) and records the mean and variance of every layer's output with
``jrelu.diagnostics.collect``:

* SELU, ELU and ReLU at LeCun normal, and ReLU at He normal (its own standard initialisation);
* SELU with ``jrelu.linen.AlphaDropout(0.1)`` after every activation (training mode), and, for contrast,
  with ordinary ``flax.linen.Dropout(0.1)``;
* SELU started from inputs with variance 0.1 and 10 instead of 1: is (0, 1) an attracting fixed point?

Run:  python examples/05_selu_self_normalisation.py [--quick] [--out DIR]
      python examples/05_selu_self_normalisation.py --summarise DIR   (summary.md again from DIR/results.json)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from jrelu import diagnostics
from jrelu import linen as jnn

NAME = "05_selu_self_normalisation"
FIGURE = "self_normalisation.png"  # what --out writes besides results.json and summary.md
QUICK = "16 layers, a small batch (seconds)"  # what --quick does
ACTS = {"selu": jnn.SELU, "elu": jnn.ELU, "relu": jnn.ReLU}

# name -> (activation, weight init, dropout, input variance)
CASES: dict[str, tuple[str, str, str | None, float]] = {
    "selu": ("selu", "lecun", None, 1.0),
    "selu + AlphaDropout(0.1)": ("selu", "lecun", "alpha", 1.0),
    "selu + Dropout(0.1)": ("selu", "lecun", "standard", 1.0),
    "elu": ("elu", "lecun", None, 1.0),
    "relu": ("relu", "lecun", None, 1.0),
    "relu, He init": ("relu", "he", None, 1.0),
    "selu, input var 0.1": ("selu", "lecun", None, 0.1),
    "selu, input var 10": ("selu", "lecun", None, 10.0),
}


class Deep(nn.Module):
    act: str
    weights: str
    dropout: str | None
    depth: int
    width: int
    rate: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        init = (
            nn.initializers.he_normal() if self.weights == "he" else nn.initializers.lecun_normal()
        )
        for i in range(self.depth):
            x = ACTS[self.act]()(nn.Dense(self.width, kernel_init=init)(x))
            if self.dropout == "alpha":
                x = jnn.AlphaDropout(self.rate, deterministic=False)(x)
            elif self.dropout == "standard":
                x = nn.Dropout(self.rate, deterministic=False)(x)
            self.sow("intermediates", f"layer{i + 1}", x)  # each layer's output, after any dropout
        return x


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


def sci(v: float) -> str:
    """1.2e-05 as 1.2·10⁻⁵ (plain for moderate values)."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.3g}"
    mant, exp = f"{v:.1e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mant}·10{str(int(exp)).translate(sup)}"


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


def measure(case: tuple[str, str, str | None, float], cfg: dict[str, Any]) -> dict[str, Any]:
    act, weights, dropout, input_var = case
    model = Deep(act, weights, dropout, cfg["depth"], cfg["width"])
    k_x, k_w, k_drop = jax.random.split(jax.random.key(cfg["seed"]), 3)
    x = jnp.sqrt(input_var) * jax.random.normal(k_x, (cfg["batch"], cfg["width"]))
    variables = model.init({"params": k_w, "dropout": k_w}, x[:1])

    @jax.jit
    def stats(variables: Any, x: jax.Array) -> dict[str, dict[str, jax.Array]]:
        return diagnostics.collect(model, variables, x, rngs={"dropout": k_drop})[1]

    all_stats = stats(variables, x)  # jit returns dicts in sorted key order: index by name
    layers = [all_stats[f"layer{i + 1}"] for i in range(cfg["depth"])]
    mean = np.array([float(s["mean"]) for s in layers])
    var = np.array([float(s["std"]) ** 2 for s in layers])
    return {
        "activation": act,
        "weights": weights,
        "dropout": dropout,
        "input_variance": input_var,
        "mean": mean.tolist(),
        "variance": var.tolist(),
        "final_mean": float(mean[-1]),
        "final_variance": float(var[-1]),
        "variance_range_second_half": [
            float(var[len(var) // 2 :].min()),
            float(var[len(var) // 2 :].max()),
        ],
    }


def draw(results: dict[str, Any], cfg: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    ax_m, ax_v, ax_s = fig.subplots(1, 3)
    main_cases = [k for k in results if "input var" not in k]
    for i, name in enumerate(main_cases):
        r = results[name]
        layers = np.arange(1, len(r["mean"]) + 1)
        style = dict(color=f"C{i}", lw=2.2 if name.startswith("selu") else 1.4)
        ax_m.plot(layers, r["mean"], label=name, **style)
        ax_v.semilogy(layers, r["variance"], label=name, **style)
    ax_m.set_title("mean of each layer's output", fontsize=10)
    ax_v.set_title("variance of each layer's output (log scale)", fontsize=10)
    for name in ["selu, input var 0.1", "selu", "selu, input var 10"]:
        if name in results:
            r = results[name]
            ax_s.plot(
                np.arange(1, len(r["variance"]) + 1),
                r["variance"],
                label=f"input variance {r['input_variance']:g}",
            )
    ax_s.axhline(1.0, color="k", lw=0.8, ls=":")
    ax_s.set_title("SELU: variance from different starts", fontsize=10)
    for ax in (ax_m, ax_v, ax_s):
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3, which="both")
    ax_v.legend(fontsize=7.5)
    ax_s.legend(fontsize=7.5)
    fig.suptitle(
        f"{cfg['depth']} dense layers of {cfg['width']}, LeCun-normal weights unless noted, "
        f"N(0, 1) inputs",
        fontsize=11,
    )
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    res, cfg = d["results"], d["config"]
    depth = cfg["depth"]
    rows = [
        [
            name,
            f"{r['mean'][0]:+.3f} / {r['variance'][0]:.3g}",
            f"{r['final_mean']:+.3f} / {sci(r['final_variance'])}",
        ]
        for name, r in res.items()
    ]
    claims: list[tuple[str, str, str]] = []
    if "selu" in res:
        v = res["selu"]["final_variance"]
        extra = ""
        if "selu + AlphaDropout(0.1)" in res:
            extra += f"; with AlphaDropout {res['selu + AlphaDropout(0.1)']['final_variance']:.2f}"
        if "selu + Dropout(0.1)" in res:
            extra += f"; with ordinary dropout {res['selu + Dropout(0.1)']['final_variance']:.2f}"
        starts = [
            res[k]["final_variance"]
            for k in ("selu, input var 0.1", "selu, input var 10")
            if k in res
        ]
        if starts:
            extra += f"; from input variance 0.1 / 10: {' / '.join(f'{s:.2f}' for s in starts)}"
        claims.append(
            (
                "SELU self-normalises: mean and variance stay stable",
                f"{depth} layers at LeCun init: variance {v:.2f}, mean {res['selu']['final_mean']:+.3f} at "
                f"layer {depth}{extra}; ReLU at the same init: {sci(res['relu']['final_variance'])}"
                if "relu" in res
                else f"variance {v:.2f} at layer {depth}{extra}",
                "agrees (with AlphaDropout, not ordinary dropout)"
                if 0.8 <= v <= 1.25
                else "disagrees",
            )
        )
    if {"elu", "relu"} <= set(res):
        claims.append(
            (
                "ELU's mean is closer to zero than ReLU's",
                f"layer-1 output mean: ELU {res['elu']['mean'][0]:+.3f}, ReLU {res['relu']['mean'][0]:+.3f}"
                + (f", SELU {res['selu']['mean'][0]:+.3f}" if "selu" in res else ""),
                "agrees"
                if abs(res["elu"]["mean"][0]) < abs(res["relu"]["mean"][0])
                else "disagrees",
            )
        )
    text = [
        f"**SELU self-normalisation** ([`05_selu_self_normalisation.py`]"
        f"({script})): N(0, 1) inputs through {depth} dense layers of "
        f"{cfg['width']} (LeCun-normal weights unless noted); mean / variance of the output of layer 1 and "
        f"layer {depth}:",
        "",
        md_table(["network", "layer 1", f"layer {depth}"], rows),
        "",
        f"![mean and variance per layer]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    cfg = {"depth": 64, "width": 256, "batch": 1024, "seed": 0, "dropout_rate": 0.1}
    cases = CASES
    if args.quick:
        cfg.update(depth=8, width=32, batch=64)
        cases = {k: CASES[k] for k in ("selu", "selu + AlphaDropout(0.1)", "relu")}
    results = {name: measure(case, cfg) for name, case in cases.items()}

    picks = sorted({1, 2, 4, cfg["depth"] // 4, cfg["depth"] // 2, cfg["depth"]})
    rows = []
    for name, r in results.items():
        rows.append(
            [name] + [f"{r['mean'][i - 1]:+.3f} / {r['variance'][i - 1]:.3g}" for i in picks]
        )
    print(
        f"Mean / variance of the output of layer n ({cfg['depth']} layers, width {cfg['width']}, "
        f"batch {cfg['batch']}):"
    )
    print(table(rows, ["network"] + [f"n={i}" for i in picks]))

    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "config": cfg,
        "results": results,
    }
    if args.out:
        save(args.out, out, draw(results, cfg))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
