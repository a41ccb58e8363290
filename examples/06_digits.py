"""06 - Real data: a Flax + optax classifier on scikit-learn's digits, once per activation, over several seeds.

The article calls ReLU the default hidden-layer activation and its variants improvements. This trains the
same MLP (64 -> 128 -> 128 -> 128 -> 10; Adam 1e-3, batch 64) on the 8x8 digits that ship inside
scikit-learn (1797 images, no download; a fixed stratified 75/25 split) with each activation, each at its
standard initialisation (Glorot uniform for sigmoid and tanh, He normal for the ReLU family, LeCun normal
for SELU), and reports the held-out accuracy as mean ± std over seeds (seeds change the initial weights
and the batch order), with training curves.

The jrelu activations are the ``jrelu.linen`` modules: PReLU learns one slope per unit, RReLU draws random
slopes in training (``deterministic=False``, rng collection ``"dropout"``) and uses the mean slope in
evaluation.

Run:  python examples/06_digits.py [--quick] [--out DIR]
      python examples/06_digits.py --summarise DIR   (summary.md again from DIR/results.json)
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

from jrelu import linen as jnn

NAME = "06_digits"
FIGURE = "digits.png"  # what --out writes besides results.json and summary.md
QUICK = "two activations, two seeds, two epochs (seconds)"  # what --quick does

# name -> (a factory for the activation module or function, the kernel initialiser)
ACTIVATIONS: dict[str, tuple[Callable[[], Any], Callable[..., Any]]] = {
    "sigmoid": (lambda: nn.sigmoid, nn.initializers.glorot_uniform()),
    "tanh": (lambda: nn.tanh, nn.initializers.glorot_uniform()),
    "relu": (jnn.ReLU, nn.initializers.he_normal()),
    "relu6": (jnn.ReLU6, nn.initializers.he_normal()),
    "leaky_relu": (jnn.LeakyReLU, nn.initializers.he_normal()),
    "prelu": (jnn.PReLU, nn.initializers.he_normal()),
    "rrelu": (jnn.RReLU, nn.initializers.he_normal()),
    "elu": (jnn.ELU, nn.initializers.he_normal()),
    "celu": (jnn.CELU, nn.initializers.he_normal()),
    "selu": (jnn.SELU, nn.initializers.lecun_normal()),
}


class MLP(nn.Module):
    act: str
    widths: tuple[int, ...] = (128, 128, 128)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        make_act, kernel_init = ACTIVATIONS[self.act]
        for w in self.widths:
            x = nn.Dense(w, kernel_init=kernel_init)(x)
            act = make_act()
            x = act(x, deterministic=not train) if isinstance(act, jnn.RReLU) else act(x)
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


def train(act: str, cfg: dict[str, Any], data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Train ``cfg["seeds"]`` models side by side (jax.vmap over seeds)."""
    x_train, x_test, y_train, y_test = data
    model = MLP(act)
    opt = optax.adam(cfg["lr"])
    seeds = cfg["seeds"]
    keys = jax.random.split(jax.random.key(cfg["seed"]), seeds)
    params = jax.vmap(lambda k: model.init(k, x_train[:1])["params"])(keys)
    opt_state = jax.vmap(opt.init)(params)

    @jax.jit
    @jax.vmap
    def epoch(
        params: Any, opt_state: Any, xb: jax.Array, yb: jax.Array, key: jax.Array
    ) -> tuple[Any, ...]:
        def step(carry: Any, batch: tuple[jax.Array, ...]) -> tuple[Any, jax.Array]:
            params, opt_state = carry
            x, y, k = batch

            def loss(p: Any) -> jax.Array:
                logits = model.apply({"params": p}, x, train=True, rngs={"dropout": k})
                return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

            value, grads = jax.value_and_grad(loss)(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        keys = jax.random.split(key, xb.shape[0])
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (xb, yb, keys))
        return params, opt_state, losses.mean()

    @jax.jit
    @jax.vmap
    def accuracy(params: Any) -> jax.Array:
        logits = model.apply({"params": params}, x_test)
        return jnp.mean(jnp.argmax(logits, -1) == y_test)

    rng = np.random.default_rng(cfg["seed"])
    steps = len(x_train) // cfg["batch"]
    acc_curve, loss_curve = [], []
    for e in range(cfg["epochs"]):
        order = np.stack(
            [rng.permutation(len(x_train))[: steps * cfg["batch"]] for _ in range(seeds)]
        )
        order = order.reshape(seeds, steps, cfg["batch"])
        epoch_keys = jax.random.split(jax.random.fold_in(jax.random.key(cfg["seed"]), e), seeds)
        params, opt_state, loss = epoch(
            params, opt_state, x_train[order], y_train[order], epoch_keys
        )
        loss_curve.append(np.asarray(loss).tolist())
        acc_curve.append(np.asarray(accuracy(params)).tolist())
    acc = np.asarray(acc_curve)  # (epochs, seeds)
    reached = [
        next((e + 1 for e in range(len(acc)) if acc[e, s] >= 0.95), None) for s in range(seeds)
    ]
    out = {
        "test_accuracy": acc[-1].tolist(),
        "test_accuracy_mean": float(acc[-1].mean()),
        "test_accuracy_std": float(acc[-1].std()),
        "train_loss_final": float(np.mean(loss_curve[-1])),
        "epochs_to_95": reached,
        "accuracy_curve": acc.tolist(),
        "loss_curve": loss_curve,
    }
    if act == "prelu":  # the learned slopes, per layer: mean over units and seeds
        out["prelu_slopes_mean"] = {
            name: float(np.mean(p["negative_slope"]))
            for name, p in params.items()
            if "PReLU" in name
        }
    return out


def draw(results: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    ax_a, ax_l, ax_b = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for i, (name, r) in enumerate(results.items()):
        acc = np.asarray(r["accuracy_curve"])
        loss = np.asarray(r["loss_curve"])
        epochs = np.arange(1, len(acc) + 1)
        style = dict(color=f"C{i}", lw=2.2 if name in ("sigmoid", "tanh") else 1.3)
        ax_a.plot(epochs, acc.mean(1), label=name, **style)
        ax_a.fill_between(epochs, acc.min(1), acc.max(1), color=f"C{i}", alpha=0.12, lw=0)
        ax_l.semilogy(epochs, loss.mean(1), label=name, **style)
    ax_a.set_ylim(0.85, 1.0)
    ax_a.set_title("held-out accuracy (mean; band: min-max over seeds)", fontsize=9.5)
    ax_l.set_title("training loss (mean over seeds)", fontsize=9.5)
    for ax in (ax_a, ax_l):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    ax_l.legend(fontsize=7.5, ncols=2)
    names = list(results)
    means = [results[n]["test_accuracy_mean"] for n in names]
    stds = [results[n]["test_accuracy_std"] for n in names]
    ax_b.barh(names, means, xerr=stds, color=[f"C{i}" for i in range(len(names))], capsize=3)
    lo = min(m - s for m, s in zip(means, stds, strict=True))
    ax_b.set_xlim(max(0.0, lo - 0.01), 1.0)
    ax_b.invert_yaxis()
    ax_b.set_title("final held-out accuracy, mean ± std", fontsize=9.5)
    ax_b.grid(alpha=0.3, axis="x")
    fig.suptitle("digits (sklearn), MLP 3 x 128, Adam", fontsize=11)
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    res, cfg = d["results"], d["config"]
    order = sorted(res, key=lambda n: -res[n]["test_accuracy_mean"])
    rows = [
        [
            f"`{n}`",
            f"{res[n]['test_accuracy_mean']:.4f} ± {res[n]['test_accuracy_std']:.4f}",
            f"{res[n]['train_loss_final']:.4f}",
        ]
        for n in order
    ]
    claims: list[tuple[str, str, str]] = []
    ties = {"relu", "tanh"} <= set(res) and abs(
        res["relu"]["test_accuracy_mean"] - res["tanh"]["test_accuracy_mean"]
    ) <= max(res["relu"]["test_accuracy_std"], res["tanh"]["test_accuracy_std"])
    if "relu" in res:
        r = res["relu"]
        family = [n for n in res if n not in ("sigmoid", "tanh")]
        better = [
            n
            for n in family
            if res[n]["test_accuracy_mean"] - r["test_accuracy_mean"]
            > max(res[n]["test_accuracy_std"], r["test_accuracy_std"])
        ]
        spread = (
            min(res[n]["test_accuracy_mean"] for n in family),
            max(res[n]["test_accuracy_mean"] for n in family),
        )
        measured = (
            f"ReLU family {spread[0]:.3f}–{spread[1]:.3f} (std ≈ "
            f"{max(res[n]['test_accuracy_std'] for n in family):.3f})"
        )
        if "tanh" in res:
            measured += f"; tanh {res['tanh']['test_accuracy_mean']:.3f}"
        if "sigmoid" in res:
            measured += f"; sigmoid {res['sigmoid']['test_accuracy_mean']:.3f}"
        claims.append(
            (
                "ReLU is the default hidden activation; its variants improve on it",
                measured,
                "partly: no variant beats ReLU by more than one std"
                + ("; tanh ties with ReLU" if ties else "")
                if not better
                else f"agrees: {', '.join(better)} beat ReLU by more than one std",
            )
        )
    if {"relu", "tanh", "sigmoid"} <= set(res):
        losses = {n: res[n]["train_loss_final"] for n in ("relu", "tanh", "sigmoid")}
        claims.append(
            (
                "ReLU speeds up training compared with sigmoid and tanh",
                f"training loss after {cfg['epochs']} epochs: ReLU {losses['relu']:.4f}, tanh "
                f"{losses['tanh']:.4f}, sigmoid {losses['sigmoid']:.4f}",
                (
                    "agrees on the training loss; held-out accuracy "
                    + ("ties with tanh" if ties else "differs from tanh's by more than one std")
                )
                if losses["relu"] < min(losses["tanh"], losses["sigmoid"])
                else "disagrees",
            )
        )
    text = [
        f"**Real data** ([`06_digits.py`]({script})): the same MLP (3 × 128, Adam 1e-3, "
        f"{cfg['epochs']} epochs) on scikit-learn's digits ({d['n_train']} training / {d['n_test']} "
        f"held-out images), each activation at its standard initialisation, {cfg['seeds']} seeds:",
        "",
        md_table(["activation", "held-out accuracy", "final training loss"], rows),
        "",
        f"![accuracy per activation]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    cfg = {"epochs": 40, "batch": 64, "lr": 1e-3, "seeds": 5, "seed": 0}
    names = list(ACTIVATIONS)
    if args.quick:
        cfg.update(epochs=2, seeds=2)
        names = ["prelu", "rrelu"]
    data = digits()
    results = {name: train(name, cfg, data) for name in names}

    rows = []
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["test_accuracy_mean"]):
        reached = [e for e in r["epochs_to_95"] if e is not None]
        rows.append(
            [
                name,
                f"{r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f}",
                f"{r['train_loss_final']:.4f}",
                f"{np.mean(reached):.1f}"
                if len(reached) == cfg["seeds"]
                else f"{len(reached)}/{cfg['seeds']} seeds",
            ]
        )
    print(
        f"Held-out accuracy after {cfg['epochs']} epochs, {cfg['seeds']} seeds ({len(data[1])} test images):"
    )
    print(table(rows, ["activation", "test accuracy", "train loss", "epochs to 95%"]))

    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "config": cfg,
        "n_train": len(data[0]),
        "n_test": len(data[1]),
        "results": results,
    }
    if args.out:
        save(args.out, out, draw(results))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
