"""04 - Dying ReLU: reproduce it, track the dead fraction over training, and test the remedies.

The article's claim: a ReLU unit whose input stays negative outputs 0 with gradient 0 and stops learning
("dies"); bad initialisation or a shifted input distribution causes it; Leaky ReLU / PReLU and better
initialisation fix it. This trains a 6-hidden-layer MLP (100 units each, Flax + jrelu.linen modules) on
scikit-learn's digits in two broken settings:

* **negative bias init**: every hidden bias starts at -0.5 (Flax's default LeCun-normal weights, Adam 1e-3);
* **large learning rate**: biases at 0, Adam with learning rate 0.03 instead of 1e-3;

and, in each, changes one thing at a time: the activation (LeakyReLU 0.01, PReLU (learned, per channel,
from 0.25), ELU), the weight initialisation (He normal), or the setting's own cause (bias 0 / learning
rate 1e-3). After every epoch it counts, on all training images, the units that are *off for every image*
(``jrelu.diagnostics.dead_fraction(..., criterion="nonpositive")``): for ReLU these are dead (output and
gradient 0); for the leaky variants they are on the negative side but still get a gradient, so they can
come back -- the question is whether they do.

Run:  python examples/04_dying_relu.py [--quick] [--out DIR]
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
import optax
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from jrelu import diagnostics
from jrelu import linen as jnn

NAME = "04_dying_relu"
MODULES = {"relu": jnn.ReLU, "leaky_relu": jnn.LeakyReLU, "prelu": jnn.PReLU, "elu": jnn.ELU}

# setting -> its cause; each variant overrides one thing.
SETTINGS = {
    "negative bias init": {"bias": -0.5, "lr": 1e-3, "fix": "bias 0"},
    "large learning rate": {"bias": 0.0, "lr": 3e-2, "fix": "lr 1e-3"},
}
VARIANTS = {
    "relu (broken)": {},
    "leaky_relu": {"act": "leaky_relu"},
    "prelu": {"act": "prelu"},
    "elu": {"act": "elu"},
    "relu + He init": {"init": "he"},
    "relu + cause removed": {"fix": True},  # the setting's "fix": bias 0, or learning rate 1e-3
}


class MLP(nn.Module):
    act: str = "relu"
    weights: str = "lecun"  # or "he"
    bias: float = 0.0
    widths: tuple[int, ...] = (100,) * 6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_init = (
            nn.initializers.he_normal() if self.weights == "he" else nn.initializers.lecun_normal()
        )
        for w in self.widths:
            x = nn.Dense(w, kernel_init=kernel_init, bias_init=nn.initializers.constant(self.bias))(
                x
            )
            x = MODULES[self.act]()(x)  # jrelu modules: diagnostics.capture finds them by itself
        return nn.Dense(10)(x)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="one setting, two variants, one epoch (seconds)"
    )
    p.add_argument("--out", metavar="DIR", help="write dying_relu.png and results.json here")
    return p.parse_args(argv)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def digits() -> tuple[np.ndarray, ...]:
    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)  # standardised pixels
    return tuple(
        train_test_split(
            x.astype(np.float32), y.astype(np.int32), test_size=0.25, random_state=0, stratify=y
        )
    )


def run(
    setting: dict[str, Any],
    variant: dict[str, Any],
    cfg: dict[str, Any],
    data: tuple[np.ndarray, ...],
) -> dict[str, Any]:
    """Train ``cfg["seeds"]`` networks side by side (jax.vmap); dead fractions after every epoch."""
    x_train, x_test, y_train, y_test = data
    fix = variant.get("fix", False)
    bias = 0.0 if fix and setting["bias"] != 0 else setting["bias"]
    lr = 1e-3 if fix and setting["lr"] != 1e-3 else setting["lr"]
    model = MLP(act=variant.get("act", "relu"), weights=variant.get("init", "lecun"), bias=bias)
    opt = optax.adam(lr)
    seeds = cfg["seeds"]
    params = jax.vmap(lambda k: model.init(k, x_train[:1])["params"])(
        jax.random.split(jax.random.key(0), seeds)
    )
    opt_state = jax.vmap(opt.init)(params)

    def loss(params: Any, xb: jax.Array, yb: jax.Array) -> jax.Array:
        logits = model.apply({"params": params}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    @jax.vmap
    def epoch(params: Any, opt_state: Any, xb: jax.Array, yb: jax.Array) -> tuple[Any, Any]:
        def step(carry: Any, batch: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
            params, opt_state = carry
            grads = jax.grad(loss)(params, *batch)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, opt_state), (xb, yb))[0]

    @jax.jit
    @jax.vmap
    def evaluate(params: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
        _, acts = diagnostics.capture(
            model, {"params": params}, x_train
        )  # {"PReLU_0": (n, 100), ...}
        dead = jnp.stack(
            [diagnostics.dead_fraction(a, criterion="nonpositive") for a in acts.values()]
        )
        accuracy = jnp.mean(jnp.argmax(model.apply({"params": params}, x_test), -1) == y_test)
        return dead, accuracy, loss(params, x_train, y_train)

    rng = np.random.default_rng(0)
    steps = len(x_train) // cfg["batch"]
    dead_curve, acc_curve, loss_curve = [], [], []
    for e in range(cfg["epochs"] + 1):
        dead, acc, train_loss = (
            np.asarray(v) for v in evaluate(params)
        )  # (seeds, layers), (seeds,)
        dead_curve.append(dead.mean(0).tolist())  # mean over seeds, per layer
        acc_curve.append(acc.tolist())
        loss_curve.append(train_loss.tolist())
        if e == cfg["epochs"]:
            break
        order = np.stack(
            [rng.permutation(len(x_train))[: steps * cfg["batch"]] for _ in range(seeds)]
        )
        order = order.reshape(seeds, steps, cfg["batch"])
        params, opt_state = epoch(params, opt_state, x_train[order], y_train[order])
    final_dead = np.asarray(dead_curve[-1])
    return {
        "bias": bias,
        "lr": lr,
        "act": variant.get("act", "relu"),
        "init": variant.get("init", "lecun"),
        "dead_per_layer": dead_curve,  # [epoch][layer]
        "dead_at_init": float(np.mean(dead_curve[0])),
        "dead_peak": float(max(np.mean(d) for d in dead_curve)),
        "dead_final": float(final_dead.mean()),
        "dead_final_per_layer": final_dead.tolist(),
        "test_accuracy": acc_curve[-1],
        "test_accuracy_mean": float(np.mean(acc_curve[-1])),
        "test_accuracy_std": float(np.std(acc_curve[-1])),
        "train_loss": loss_curve,
    }


def draw(results: dict[str, Any]) -> Figure:
    settings = list(results)
    fig = Figure(figsize=(5.5 * len(settings), 4.0), layout="constrained")
    axes = fig.subplots(1, len(settings), squeeze=False)[0]
    for ax, setting in zip(axes, settings, strict=True):
        for i, (variant, r) in enumerate(results[setting].items()):
            curve = [float(np.mean(d)) for d in r["dead_per_layer"]]
            ax.plot(
                curve,
                color=f"C{i}",
                lw=2.2 if variant.startswith("relu (") else 1.4,
                label=f"{variant}: acc {r['test_accuracy_mean']:.2f}",
            )
        ax.set_ylim(-0.02, 1.0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("units off for every training image (all layers)")
        ax.set_title(setting, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5)
    fig.suptitle(
        "Dying ReLU: dead (ReLU) or always-negative (variants) units during training, digits, "
        "6 x 100 MLP",
        fontsize=10.5,
    )
    return fig


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg = {"epochs": 20, "batch": 64, "seeds": 3}
    settings, variants = SETTINGS, VARIANTS
    if args.quick:
        cfg.update(epochs=1, seeds=1)
        settings = {"negative bias init": SETTINGS["negative bias init"]}
        variants = {k: VARIANTS[k] for k in ("relu (broken)", "prelu")}
    data = digits()
    results: dict[str, dict[str, Any]] = {}
    for s, sc in settings.items():
        results[s] = {}
        for v, vc in variants.items():
            label = f"relu + {sc['fix']}" if vc.get("fix") else v
            results[s][label] = run(sc, vc, cfg, data)

    rows = []
    for s, per in results.items():
        for v, r in per.items():
            rows.append(
                [
                    s,
                    v,
                    f"{r['dead_at_init']:.3f}",
                    f"{r['dead_peak']:.3f}",
                    f"{r['dead_final']:.3f}",
                    " ".join(f"{d:.2f}" for d in r["dead_final_per_layer"]),
                    f"{r['test_accuracy_mean']:.3f} ± {r['test_accuracy_std']:.3f}",
                ]
            )
    print(
        f"Units off for every training image (mean of {cfg['seeds']} seeds), {cfg['epochs']} epochs:"
    )
    print(
        table(
            rows,
            [
                "setting",
                "variant",
                "off @init",
                "off peak",
                "off @end",
                "per layer @end",
                "test accuracy",
            ],
        )
    )

    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "config": cfg,
        "settings": settings,
        "results": results,
    }
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump(out, fh, indent=1)
        draw(results).savefig(os.path.join(args.out, "dying_relu.png"), dpi=90)
        print(f"\nwrote {args.out}/results.json and dying_relu.png")
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
