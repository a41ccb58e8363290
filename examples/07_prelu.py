"""07 - PReLU: the slopes a small CNN learns, per channel, with weight decay kept off them.

The article: PReLU is Leaky ReLU with the negative slope learned "per neuron". He et al. (2015) learn one
slope per channel, start them at 0.25 and exclude them from weight decay (decay would pull every slope to
0, i.e. back to ReLU). This trains a three-layer CNN on scikit-learn's 8x8 digits
(conv 3x3 x 8 -> PReLU -> conv 3x3 x 16 -> PReLU -> 2x2 average pool -> conv 3x3 x 32 -> PReLU -> global
average pool -> dense 10) with ``jrelu.linen.PReLU(axis=-1)`` (one slope per channel, NHWC) and
``optax.adamw(..., mask=jrelu.weight_decay_mask)``, over several seeds, and reports the learned slopes
per layer and channel -- against the same CNN with the decay applied to the slopes too, and with ReLU.

Run:  python examples/07_prelu.py [--quick] [--out DIR]
      python examples/07_prelu.py --summarise DIR   (summary.md again from DIR/results.json)
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

import jrelu
from jrelu import linen as jnn

NAME = "07_prelu"
FIGURE = "prelu_slopes.png"  # what --out writes besides results.json and summary.md
QUICK = "one variant, one seed, one epoch (seconds)"  # what --quick does
VARIANTS = {
    "prelu, no decay on slopes": {"act": "prelu", "mask": jrelu.weight_decay_mask},
    "prelu, decay on slopes": {"act": "prelu", "mask": None},
    "relu": {"act": "relu", "mask": None},
}


class CNN(nn.Module):
    act: str = "prelu"
    channels: tuple[int, ...] = (8, 16, 32)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # x: (batch, 8, 8, 1)
        for i, c in enumerate(self.channels):
            x = nn.Conv(c, (3, 3), kernel_init=nn.initializers.he_normal())(x)
            x = (
                jnn.PReLU(axis=-1)(x) if self.act == "prelu" else jnn.ReLU()(x)
            )  # one slope per channel
            if i == 1:
                x = nn.avg_pool(x, (2, 2), (2, 2))
        return nn.Dense(10)(x.mean(axis=(1, 2)))


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
    x = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)  # NHWC images, pixels in [0, 1]
    return tuple(
        train_test_split(x, y.astype(np.int32), test_size=0.25, random_state=0, stratify=y)
    )


def train(
    variant: dict[str, Any], cfg: dict[str, Any], data: tuple[np.ndarray, ...]
) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = data
    model = CNN(variant["act"])
    opt = optax.adamw(cfg["lr"], weight_decay=cfg["weight_decay"], mask=variant["mask"])
    seeds = cfg["seeds"]
    params = jax.vmap(lambda k: model.init(k, x_train[:1])["params"])(
        jax.random.split(jax.random.key(0), seeds)
    )
    opt_state = jax.vmap(opt.init)(params)

    @jax.jit
    @jax.vmap
    def epoch(params: Any, opt_state: Any, xb: jax.Array, yb: jax.Array) -> tuple[Any, Any]:
        def step(carry: Any, batch: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
            params, opt_state = carry

            def loss(p: Any) -> jax.Array:
                logits = model.apply({"params": p}, batch[0])
                return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

            updates, opt_state = opt.update(jax.grad(loss)(params), opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, opt_state), (xb, yb))[0]

    @jax.jit
    @jax.vmap
    def accuracy(params: Any) -> jax.Array:
        return jnp.mean(jnp.argmax(model.apply({"params": params}, x_test), -1) == y_test)

    def slopes(params: Any) -> dict[str, np.ndarray]:  # {"PReLU_0": (seeds, channels), ...}
        return {
            k: np.asarray(v["negative_slope"]) for k, v in params.items() if k.startswith("PReLU")
        }

    rng = np.random.default_rng(0)
    steps = len(x_train) // cfg["batch"]
    slope_curve = [
        {k: v.mean(1).tolist() for k, v in slopes(params).items()}
    ]  # per-layer mean, per seed
    for _ in range(cfg["epochs"]):
        order = np.stack(
            [rng.permutation(len(x_train))[: steps * cfg["batch"]] for _ in range(seeds)]
        )
        order = order.reshape(seeds, steps, cfg["batch"])
        params, opt_state = epoch(params, opt_state, x_train[order], y_train[order])
        slope_curve.append({k: v.mean(1).tolist() for k, v in slopes(params).items()})
    acc = np.asarray(accuracy(params))
    final = slopes(params)
    return {
        "test_accuracy": acc.tolist(),
        "test_accuracy_mean": float(acc.mean()),
        "test_accuracy_std": float(acc.std()),
        "slopes": {k: v.tolist() for k, v in final.items()},  # [seed][channel]
        "slope_summary": {
            k: {
                "mean": float(v.mean()),
                "std": float(v.std()),
                "min": float(v.min()),
                "max": float(v.max()),
                "channels": int(v.shape[1]),
                "seeds": int(v.shape[0]),
                "negative": int((v < 0).sum()),
            }  # slopes < 0, counted over seeds x channels
            for k, v in final.items()
        },
        "slope_curve": slope_curve,
    }


def draw(results: dict[str, Any], cfg: dict[str, Any]) -> Figure:
    main = results["prelu, no decay on slopes"]
    layers = list(main["slopes"])
    fig = Figure(figsize=(4.0 * len(layers) + 4.0, 3.8), layout="constrained")
    axes = fig.subplots(1, len(layers) + 1)
    for ax, layer in zip(axes, layers, strict=False):
        s = np.asarray(main["slopes"][layer])  # (seeds, channels)
        order = np.argsort(s.mean(0))
        for seed in range(s.shape[0]):
            ax.plot(
                np.arange(s.shape[1]), s[seed, order], "o", ms=3.5, alpha=0.7, label=f"seed {seed}"
            )
        if "prelu, decay on slopes" in results:
            d = np.asarray(results["prelu, decay on slopes"]["slopes"][layer])
            ax.plot(
                np.arange(d.shape[1]),
                np.sort(d.mean(0)),
                "k--",
                lw=1,
                label="decay on slopes (mean)",
            )
        ax.axhline(0.25, color="0.5", lw=0.8, ls=":")
        ax.axhline(0.0, color="0.8", lw=0.8)
        ax.set_title(f"{layer}: {s.shape[1]} channels", fontsize=10)
        ax.set_xlabel("channel (sorted by mean slope)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("learned negative slope (init 0.25, dotted)")
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    for i, (name, r) in enumerate(results.items()):
        for j, layer in enumerate(r["slopes"]):
            curve = np.asarray([c[layer] for c in r["slope_curve"]]).mean(1)
            ax.plot(
                curve,
                color=f"C{j}",
                ls="-" if i == 0 else "--",
                label=f"{layer} ({name.split(', ')[1]})",
            )
    ax.set_xlabel("epoch")
    ax.set_title("mean slope per layer during training", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5)
    fig.suptitle(
        f"PReLU slopes per channel after {cfg['epochs']} epochs (digits CNN, AdamW, "
        f"weight decay {cfg['weight_decay']})",
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
    rows = []
    for name, r in res.items():
        for layer, s in r["slope_summary"].items():
            rows.append(
                [
                    name,
                    layer,
                    s["channels"],
                    f"{s['mean']:.3f}",
                    f"{s['min']:.3f} … {s['max']:.3f}",
                    f"{s['negative']} of {s['channels'] * s['seeds']}",
                    f"{r['test_accuracy_mean']:.3f}",
                ]
            )
        if not r["slope_summary"]:
            rows.append([name, "–", "–", "–", "–", "–", f"{r['test_accuracy_mean']:.3f}"])
    claims: list[tuple[str, str, str]] = []
    main = res.get("prelu, no decay on slopes")
    if main and main["slope_summary"]:
        means = [s["mean"] for s in main["slope_summary"].values()]
        neg = sum(s["negative"] for s in main["slope_summary"].values())
        total = sum(s["channels"] * s["seeds"] for s in main["slope_summary"].values())
        measured = (
            f"mean slope per layer {' → '.join(f'{m:.2f}' for m in means)} (from 0.25); "
            f"{neg} of {total} channel slopes negative"
        )
        decayed = res.get("prelu, decay on slopes")
        if decayed and decayed["slope_summary"]:
            dm = [s["mean"] for s in decayed["slope_summary"].values()]
            shrink = 1 - sum(dm) / sum(means)
            measured += f"; weight decay on the slopes shrinks them by {pct(shrink)}"
        if "relu" in res:
            measured += (
                f"; held-out accuracy {main['test_accuracy_mean']:.3f} ± "
                f"{main['test_accuracy_std']:.3f} vs ReLU's {res['relu']['test_accuracy_mean']:.3f} ± "
                f"{res['relu']['test_accuracy_std']:.3f}"
            )
        claims.append(
            (
                "PReLU learns its negative slope per neuron/channel",
                measured,
                "agrees; the slopes differ by layer (larger near the input)"
                if means[0] > means[-1]
                else "agrees",
            )
        )
    text = [
        f"**PReLU** ([`07_prelu.py`]({script})): a 3-layer CNN on the digits images, one "
        f"slope per channel (`jrelu.linen.PReLU(axis=-1)`), AdamW (weight decay {cfg['weight_decay']}) "
        f"with `mask=jrelu.weight_decay_mask`, {cfg['epochs']} epochs, {cfg['seeds']} seeds:",
        "",
        md_table(
            [
                "variant",
                "layer",
                "channels",
                "mean slope",
                "range",
                "slopes < 0 (all seeds)",
                "test acc",
            ],
            rows,
        ),
        "",
        f"![learned PReLU slopes per channel]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    cfg = {"epochs": 20, "batch": 64, "lr": 3e-3, "weight_decay": 0.05, "seeds": 3}
    variants = VARIANTS
    if args.quick:
        cfg.update(epochs=1, seeds=1)
        variants = {k: VARIANTS[k] for k in ("prelu, no decay on slopes",)}
    data = digits()
    results = {name: train(v, cfg, data) for name, v in variants.items()}

    rows = []
    for name, r in results.items():
        for layer, s in r["slope_summary"].items():
            rows.append(
                [
                    name,
                    layer,
                    s["channels"],
                    f"{s['mean']:.3f}",
                    f"{s['std']:.3f}",
                    f"{s['min']:.3f}",
                    f"{s['max']:.3f}",
                    f"{s['negative']}/{s['channels'] * s['seeds']}",
                    f"{r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f}",
                ]
            )
        if not r["slope_summary"]:
            rows.append(
                [
                    name,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f"{r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f}",
                ]
            )
    print(
        f"Learned slopes after {cfg['epochs']} epochs, over {cfg['seeds']} seeds x channels (init 0.25):"
    )
    print(
        table(
            rows,
            ["variant", "layer", "channels", "mean", "std", "min", "max", "< 0", "test accuracy"],
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
        save(args.out, out, draw(results, cfg))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
