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
      python examples/04_dying_relu.py --summarise DIR   (summary.md again from DIR/results.json)
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
FIGURE = "dying_relu.png"  # what --out writes besides results.json and summary.md
QUICK = "one setting, two variants, one epoch (seconds)"  # what --quick does
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


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    res, cfg = d["results"], d["config"]
    rows = []
    for setting, per in res.items():
        for variant, r in per.items():
            rows.append(
                [
                    setting,
                    variant,
                    pct(r["dead_at_init"]),
                    pct(r["dead_peak"]),
                    pct(r["dead_final"]),
                    f"{r['test_accuracy_mean']:.3f} ± {r['test_accuracy_std']:.3f}",
                ]
            )
    claims: list[tuple[str, str, str]] = []
    bias = res.get("negative bias init", {})
    if "relu (broken)" in bias and len(bias) > 2:
        broken = bias["relu (broken)"]
        ok = [v for v, r in bias.items() if v != "relu (broken)" and r["test_accuracy_mean"] > 0.9]
        partial = [
            v
            for v, r in bias.items()
            if v != "relu (broken)" and 0.3 <= r["test_accuracy_mean"] <= 0.9
        ]
        claims.append(
            (
                "ReLU units die when initialisation pushes their input negative; Leaky ReLU, PReLU and better "
                "initialisation fix it",
                f"hidden biases at −0.5: ReLU has {pct(broken['dead_final'])} dead units and "
                f"{broken['test_accuracy_mean']:.2f} accuracy; fixed (> 0.9): {', '.join(ok) or 'none'}"
                + (f"; partly: {', '.join(partial)}" if partial else ""),
                "agrees" + (" (Leaky ReLU 0.01 only partly)" if "leaky_relu" in partial else ""),
            )
        )
    lr = res.get("large learning rate", {})
    if "relu (broken)" in lr and len(lr) > 2:
        broken = lr["relu (broken)"]
        remedies = {
            v: r for v, r in lr.items() if v in ("leaky_relu", "prelu", "elu", "relu + He init")
        }
        best = (
            max(remedies.items(), key=lambda kv: kv[1]["test_accuracy_mean"]) if remedies else None
        )
        fixed = lr.get("relu + lr 1e-3")
        claims.append(
            (
                "(same remedies, when the cause is a too-large learning rate)",
                f"Adam lr 0.03: ReLU {pct(broken['dead_final'])} dead, {broken['test_accuracy_mean']:.2f} "
                f"accuracy; best activation/init remedy {best[0]} {best[1]['test_accuracy_mean']:.2f}"
                + (f"; lr 1e-3: {fixed['test_accuracy_mean']:.2f}" if fixed else ""),
                "**disagrees**: only the learning rate fixes it"
                if best and best[1]["test_accuracy_mean"] < 0.9
                else "agrees",
            )
        )
    text = [
        f"**Dying ReLU** ([`04_dying_relu.py`]({script})): a 6 × 100 MLP on digits, "
        f"{cfg['epochs']} epochs, {cfg['seeds']} seeds; units *off* for every training image (dead for "
        "ReLU; on the negative side, but still learning, for the others), all layers together:",
        "",
        md_table(
            ["setting", "variant", "off @init", "off peak", "off @end", "test accuracy"], rows
        ),
        "",
        f"![dead units during training]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
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
        save(args.out, out, draw(results))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
