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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="two activations, one epoch (seconds)")
    p.add_argument("--out", metavar="DIR", help="write sparsity.png and results.json here")
    return p.parse_args(argv)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
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
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump(out, fh, indent=1)
        draw(results).savefig(os.path.join(args.out, "sparsity.png"), dpi=90)
        print(f"\nwrote {args.out}/results.json and sparsity.png")
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
