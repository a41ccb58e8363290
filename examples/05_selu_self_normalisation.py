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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="16 layers, a small batch (seconds)")
    p.add_argument(
        "--out", metavar="DIR", help="write self_normalisation.png and results.json here"
    )
    return p.parse_args(argv)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
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
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump(out, fh, indent=1)
        draw(results, cfg).savefig(os.path.join(args.out, "self_normalisation.png"), dpi=90)
        print(f"\nwrote {args.out}/results.json and self_normalisation.png")
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
