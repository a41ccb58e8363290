"""03 - Sparsity: the fraction of zero activations per layer while a ReLU network trains.

The article's claim: ReLU sets every negative input to 0, so only part of the units are active (non-zero)
for a given input, and "most" output 0 -- a sparse representation that acts as a regulariser. This trains a
4-hidden-layer MLP (128 units each, He initialisation, Adam) on scikit-learn's digits and, after every
epoch, measures on the held-out images, per layer:

* sparsity: the fraction of activations that are exactly 0 (``jrelu.diagnostics.sparsity``);
* dead units: units that are 0 for every held-out image (``jrelu.diagnostics.dead_fraction``);

for relu and relu6, which produce exact zeros, and -- for contrast -- leaky_relu and elu, which do not: for
those it reports the fraction of activations on the negative side instead.

The activations are recorded with Flax's ``sow`` and read back with ``jrelu.diagnostics.collect``.

Run:  python examples/03_sparsity.py [--quick] [--out DIR]
      python examples/03_sparsity.py --summarise DIR   (summary.md again from DIR/results.json)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import jrelu
from jrelu import diagnostics

NAME = "03_sparsity"
FIGURE = "sparsity.png"  # what --out writes besides results.json and summary.md
QUICK = "two activations, one epoch (seconds)"  # what --quick does
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jrelu.relu,
    "relu6": jrelu.relu6,
    "leaky_relu": jrelu.leaky_relu,
    "elu": jrelu.elu,
}


class MLP(nn.Module):
    act: Callable[[jax.Array], jax.Array]
    widths: tuple[int, ...] = (128, 128, 128, 128)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, w in enumerate(self.widths):
            x = self.act(nn.Dense(w, kernel_init=nn.initializers.he_normal())(x))
            self.sow("intermediates", f"layer{i + 1}", x)  # what diagnostics.collect reads
        return nn.Dense(10)(x)


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


def digits() -> tuple[np.ndarray, ...]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixels in [0, 1]
    return tuple(
        train_test_split(x, y.astype(np.int32), test_size=0.25, random_state=0, stratify=y)
    )


def run(act_name: str, cfg: dict[str, Any], data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = data
    model = MLP(ACTIVATIONS[act_name])
    params = model.init(jax.random.key(cfg["seed"]), x_train[:1])["params"]
    opt = optax.adam(cfg["lr"])
    opt_state = opt.init(params)
    steps = len(x_train) // cfg["batch"]

    @jax.jit
    def epoch(
        params: Any, opt_state: Any, xb: jax.Array, yb: jax.Array
    ) -> tuple[Any, Any, jax.Array]:
        def step(carry: Any, batch: tuple[jax.Array, jax.Array]) -> tuple[Any, jax.Array]:
            params, opt_state = carry

            def loss(p: Any) -> jax.Array:
                logits = model.apply({"params": p}, batch[0])
                return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

            value, grads = jax.value_and_grad(loss)(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (xb, yb))
        return params, opt_state, losses.mean()

    @jax.jit
    def evaluate(params: Any) -> tuple[jax.Array, dict[str, dict[str, jax.Array]]]:
        logits, stats = diagnostics.collect(model, {"params": params}, x_test)
        return jnp.mean(jnp.argmax(logits, -1) == y_test), stats

    rng = np.random.default_rng(cfg["seed"])
    history: list[dict[str, Any]] = []
    for e in range(cfg["epochs"] + 1):
        acc, stats = evaluate(params)
        history.append(
            {
                "epoch": e,
                "test_accuracy": float(acc),
                "layers": {name: {k: float(v) for k, v in s.items()} for name, s in stats.items()},
            }
        )
        if e == cfg["epochs"]:
            break
        order = rng.permutation(len(x_train))[: steps * cfg["batch"]].reshape(steps, cfg["batch"])
        params, opt_state, _ = epoch(params, opt_state, x_train[order], y_train[order])
    return {"history": history}


def off(s: dict[str, float]) -> float:
    """Share of activations on the flat/negative side: exact zeros plus negative values."""
    return s["sparsity"] + s["negative_fraction"]


def draw(results: dict[str, Any]) -> Figure:
    names = list(results)
    fig = Figure(figsize=(4.0 * len(names), 3.6), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        hist = results[name]["history"]
        epochs = [h["epoch"] for h in hist]
        for i, layer in enumerate(hist[0]["layers"]):
            zero = [h["layers"][layer]["sparsity"] for h in hist]
            ax.plot(epochs, zero, color=f"C{i}", lw=2, label=f"{layer}: zeros")
            if name not in ("relu", "relu6"):
                ax.plot(
                    epochs,
                    [off(h["layers"][layer]) for h in hist],
                    color=f"C{i}",
                    ls="--",
                    label=f"{layer}: negative",
                )
            dead = [h["layers"][layer]["dead_fraction"] for h in hist]
            if max(dead) > 0:
                ax.plot(epochs, dead, color=f"C{i}", ls=":", label=f"{layer}: dead units")
        ax.set_ylim(-0.02, 1.0)
        ax.set_xlabel("epoch")
        ax.set_title(f"{name} (test acc {hist[-1]['test_accuracy']:.3f})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    axes[0].set_ylabel("fraction of held-out activations")
    fig.suptitle(
        "Sparsity per layer during training (digits, 4 x 128 MLP, He init, Adam)", fontsize=11
    )
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    res, cfg = d["results"], d["config"]
    rows = []
    for name, r in res.items():
        h0, h1 = r["history"][0], r["history"][-1]
        layers = list(h0["layers"])
        z0 = [h0["layers"][k]["sparsity"] for k in layers]
        z1 = [h1["layers"][k]["sparsity"] for k in layers]
        n1 = [h1["layers"][k]["sparsity"] + h1["layers"][k]["negative_fraction"] for k in layers]
        dead = [h1["layers"][k]["dead_fraction"] for k in layers]
        rows.append(
            [
                f"`{name}`",
                " / ".join(pct(v) for v in z0),
                " / ".join(pct(v) for v in z1),
                " / ".join(pct(v) for v in n1),
                " / ".join(pct(v) for v in dead),
                f"{h1['test_accuracy']:.3f}",
            ]
        )
    claims: list[tuple[str, str, str]] = []
    if "relu" in res:
        h0, h1 = res["relu"]["history"][0], res["relu"]["history"][-1]
        z0 = sum(v["sparsity"] for v in h0["layers"].values()) / len(h0["layers"])
        z1 = sum(v["sparsity"] for v in h1["layers"].values()) / len(h1["layers"])
        dead = max(v["dead_fraction"] for v in h1["layers"].values())
        claims.append(
            (
                "ReLU makes activations sparse: most units output 0",
                f"ReLU zeros: {pct(z0)} at init, {pct(z1)} after {cfg['epochs']} epochs (mean over layers); "
                f"up to {pct(dead)} of a layer's units are zero for every held-out image",
                "partly: sparse, but a minority of zeros, and training lowers it"
                if z1 < 0.5
                else "agrees",
            )
        )
    text = [
        f"**Sparsity** ([`03_sparsity.py`]({script})): exact zeros per layer (layers 1 / 2 / "
        f"3 / 4) of a 4 × 128 MLP on held-out digits, at init and after {cfg['epochs']} epochs of Adam; "
        "leaky_relu and elu never give exact zeros, so the negative side is shown too:",
        "",
        md_table(
            [
                "activation",
                "zeros @init",
                "zeros @end",
                "zero or negative @end",
                "dead units @end",
                "test acc",
            ],
            rows,
        ),
        "",
        f"![sparsity during training]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    cfg = {"epochs": 40, "batch": 64, "lr": 1e-3, "seed": 0}
    names = list(ACTIVATIONS)
    if args.quick:
        cfg["epochs"] = 1
        names = ["relu", "elu"]
    data = digits()
    results = {name: run(name, cfg, data) for name in names}

    rows = []
    for name, r in results.items():
        first, last = r["history"][0], r["history"][-1]
        for layer in first["layers"]:
            s0, s1 = first["layers"][layer], last["layers"][layer]
            rows.append(
                [
                    name,
                    layer,
                    f"{s0['sparsity']:.3f}",
                    f"{s1['sparsity']:.3f}",
                    f"{off(s0):.3f}",
                    f"{off(s1):.3f}",
                    f"{s1['dead_fraction']:.3f}",
                    f"{last['test_accuracy']:.3f}",
                ]
            )
    print(f"Held-out activations, at init and after {cfg['epochs']} epochs:")
    print(
        table(
            rows,
            [
                "activation",
                "layer",
                "zeros @0",
                "zeros @end",
                "zero|neg @0",
                "zero|neg @end",
                "dead @end",
                "test acc",
            ],
        )
    )

    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "config": cfg,
        "results": results,
    }
    if args.out:
        save(args.out, out, draw(results))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
