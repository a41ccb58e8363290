"""02 - Vanishing gradients: per-layer gradient norms through a 30-layer MLP, sigmoid and tanh vs the ReLU family.

The article's claim: sigmoid and tanh saturate, so in a deep network the gradient reaching the first layers
is almost zero; ReLU's derivative is 1 for x > 0, so the gradient flows. This measures the norm of the loss
gradient with respect to each layer's weights, at initialisation, in a 30-hidden-layer, 64-wide MLP on
scikit-learn's digits (a batch of 512 real images), averaged over seeds
(``jrelu.diagnostics.gradient_norms``):

* at each activation's *standard* initialisation: Glorot (Xavier) uniform for sigmoid and tanh, He normal
  for the ReLU family, LeCun normal for SELU -- the setting the article's claim is about;
* at *one* initialisation for all (LeCun normal, Flax's ``Dense`` default), to separate the activation's
  share from the initialisation's.

Then it trains each network for a few hundred SGD steps to see whether the gradient figures show up in the
loss.

Run:  python examples/02_vanishing_gradients.py [--quick] [--out DIR]
      python examples/02_vanishing_gradients.py --summarise DIR   (summary.md again from DIR/results.json)
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

import jrelu
from jrelu import diagnostics

NAME = "02_vanishing_gradients"
FIGURE = "gradient_norms.png"  # what --out writes besides results.json and summary.md
QUICK = "fewer layers, seeds and steps (seconds)"  # what --quick does

# The three standard initialisation schemes, written out (biases start at 0). NumPy draws them: nothing to
# compile, and a stack of them (schemes x seeds) goes through one compiled function under jax.vmap.
SCHEMES = ("glorot_uniform", "he_normal", "lecun_normal")


def initialise(shapes: Any, scheme: str, seed: int) -> Any:
    """Draw every ``kernel`` (shape ``(..., fan_in, fan_out)``) with ``scheme``; other leaves are 0.

    Glorot uniform U(±sqrt(6 / (fan_in + fan_out))), He normal N(0, 2 / fan_in),
    LeCun normal N(0, 1 / fan_in).
    """
    rng = np.random.default_rng(seed)

    def draw(path: Any, s: jax.ShapeDtypeStruct) -> np.ndarray:
        if getattr(path[-1], "key", None) != "kernel":
            return np.zeros(s.shape, np.float32)
        fan_in, fan_out = s.shape[-2], s.shape[-1]
        if scheme == "glorot_uniform":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, s.shape).astype(np.float32)
        std = np.sqrt((2.0 if scheme == "he_normal" else 1.0) / fan_in)
        return (std * rng.standard_normal(s.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def activations() -> dict[str, tuple[Callable[..., jax.Array], str]]:
    """name -> (function, its standard initialisation). Every jrelu function at its default parameters
    (prelu at the usual initial slope 0.25; rrelu in training mode, a fresh key per layer and step)."""
    acts: dict[str, tuple[Callable[..., jax.Array], str]] = {
        "sigmoid": (jax.nn.sigmoid, "glorot_uniform"),
        "tanh": (jnp.tanh, "glorot_uniform"),
    }
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.needs_key:  # alpha_dropout is a dropout layer, not an activation to compare
            continue
        acts[name] = (
            jrelu.get(name, **spec.params),
            "lecun_normal" if name == "selu" else "he_normal",
        )
    return acts


class Layer(nn.Module):
    """Dense then the activation; the signature ``(x, _) -> (x, None)`` lets ``nn.scan`` stack it."""

    act: Callable[..., jax.Array]
    width: int
    random: bool = False  # rrelu: draws its slopes from a key

    @nn.compact
    def __call__(self, x: jax.Array, _: Any = None) -> tuple[jax.Array, None]:
        x = nn.Dense(self.width)(x)
        x = self.act(x, key=self.make_rng("act")) if self.random else self.act(x)
        return x, None


class MLP(nn.Module):
    """``depth`` hidden layers; layers 2..depth are one ``nn.scan`` (compiles once, whatever the depth)."""

    act: Callable[..., jax.Array]
    depth: int
    width: int
    random: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x, _ = Layer(self.act, self.width, self.random, name="first")(x)
        stack = nn.scan(
            Layer,
            variable_axes={"params": 0},
            split_rngs={"params": True, "act": True},
            length=self.depth - 1,
        )
        x, _ = stack(self.act, self.width, self.random, name="hidden")(x, None)
        return nn.Dense(10, name="head")(x)


def per_layer(grads: Any) -> list[Any]:
    """The gradient tree as one entry per hidden layer (un-stacking the scanned layers)."""
    hidden = grads["hidden"]
    n = jax.tree.leaves(hidden)[0].shape[0]
    return [grads["first"], *(jax.tree.map(lambda a, i=i: a[i], hidden) for i in range(n))]


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


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)  # standardised pixels
    return x[:n].astype(np.float32), y[:n].astype(np.int32)


def measure(
    name: str,
    act: Callable[..., jax.Array],
    standard: str,
    cfg: dict[str, Any],
    x: jax.Array,
    y: jax.Array,
) -> dict[str, Any]:
    """Gradient norms at init over seeds, and a short SGD run, at the standard init and at LeCun normal."""
    model = MLP(act, cfg["depth"], cfg["width"], random=name == "rrelu")
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x[:1]))["params"]
    # params[i][j]: scheme i (standard, LeCun), seed j, stacked on two leading axes.
    params = jax.tree.map(
        lambda *leaves: np.stack(leaves).reshape(2, cfg["seeds"], *leaves[0].shape),
        *[
            initialise(shapes, sc, seed)
            for sc in (standard, "lecun_normal")
            for seed in range(cfg["seeds"])
        ],
    )

    def loss(params: Any, key: jax.Array) -> jax.Array:
        logits = model.apply({"params": params}, x, rngs={"act": key})
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def layer_norms(params: Any, seed: jax.Array) -> jax.Array:
        # Loss scaling (as in mixed-precision training): sigmoid's first-layer gradients fall below
        # float32's smallest normal number (1e-38), which XLA on CPU flushes to 0. Differentiating
        # 2**64 * loss and dividing the norms by 2**64 measures them instead.
        scale = 2.0**64
        grads = jax.grad(lambda p, k: scale * loss(p, k))(params, jax.random.key(seed))
        norms = diagnostics.gradient_norms(per_layer(grads))  # {"0/Dense_0": ‖∂L/∂(W, b)‖, ...}
        return jnp.stack(list(norms.values()))

    opt = optax.sgd(cfg["lr"])  # plain SGD: the step is the gradient's size

    def train(params: Any) -> jax.Array:
        def step(carry: Any, i: jax.Array) -> tuple[Any, jax.Array]:
            params, state = carry
            value, g = jax.value_and_grad(loss)(params, jax.random.fold_in(jax.random.key(2), i))
            updates, state = opt.update(g, state, params)
            return (optax.apply_updates(params, updates), state), value

        _, losses = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(cfg["steps"]))
        return losses

    @jax.jit
    def run(params: Any) -> tuple[jax.Array, jax.Array]:
        seeds = jnp.arange(cfg["seeds"])
        norms = jax.vmap(jax.vmap(layer_norms, in_axes=(0, 0)), in_axes=(0, None))(params, seeds)
        first_seed = jax.tree.map(lambda a: a[:, 0], params)
        return norms, jax.vmap(train)(first_seed)

    norms, losses = run(params)  # (2, seeds, depth), (2, steps)
    norms, losses = np.asarray(norms), np.asarray(losses)
    out = {}
    for i, (setting, init_name) in enumerate(
        [("standard", standard), ("lecun_all", "lecun_normal")]
    ):
        with np.errstate(divide="ignore"):  # a norm of exactly 0 gives a geometric mean of 0
            geo = np.exp(np.mean(np.log(norms[i].astype(np.float64) / 2.0**64), axis=0))
        out[setting] = {
            "init": init_name,
            "grad_norm_per_layer": geo.tolist(),
            "first": float(geo[0]),
            "last": float(geo[-1]),
            "first_over_last": float(geo[0] / geo[-1]),
            "loss_start": float(losses[i, 0]),
            "loss_end": float(np.mean(losses[i, -10:])),
            "loss_curve": losses[i].tolist(),
        }
    return out


def draw(results: dict[str, Any], cfg: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    styles = {"sigmoid": dict(color="k", ls="-", lw=2.5), "tanh": dict(color="0.5", ls="-", lw=2.5)}
    for ax, setting, title in [
        (axes[0], "standard", "standard initialisations"),
        (axes[1], "lecun_all", "LeCun normal for all"),
    ]:
        for i, (name, r) in enumerate(results[setting].items()):
            layers = np.arange(1, len(r["grad_norm_per_layer"]) + 1)
            st = styles.get(name, dict(color=f"C{i % 10}", lw=1.4))
            ax.semilogy(
                layers, r["grad_norm_per_layer"], label=f"{name} ({r['init'].split('_')[0]})", **st
            )
        ax.set_xlabel("layer (1 = next to the input)")
        ax.set_ylabel("‖∂loss/∂W‖ at init")
        ax.set_title(f"gradient norm per layer, {title}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7, ncols=2)
    for i, (name, r) in enumerate(results["standard"].items()):
        st = styles.get(name, dict(color=f"C{i % 10}", lw=1.2))
        curve = np.asarray(r["loss_curve"])
        w = min(10, len(curve))
        smooth = np.convolve(curve, np.ones(w) / w, mode="valid")  # running mean of 10 steps
        axes[2].semilogy(np.arange(w - 1, len(curve)), smooth, label=name, **st)
    axes[2].set_xlabel("SGD step")
    axes[2].set_ylabel("training loss (running mean of 10 steps)")
    axes[2].set_title(f"training, standard inits (SGD lr={cfg['lr']})", fontsize=10)
    axes[2].grid(alpha=0.3)
    fig.suptitle(f"{cfg['depth']}-layer, {cfg['width']}-wide MLP on digits", fontsize=11)
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    cfg, std, lec = d["config"], d["results"]["standard"], d["results"]["lecun_all"]
    depth = cfg["depth"]
    rows = []
    for name, r in std.items():
        lr = lec.get(name, {})
        rows.append(
            [
                f"`{name}`",
                r["init"].replace("_", " "),
                sci(r["first"]),
                sci(r["last"]),
                sci(r["first"] / r["last"]) if r["last"] else "–",
                f"{r['loss_end']:.3f}",
                sci(lr["first"]) if lr else "–",
            ]
        )
    claims: list[tuple[str, str, str]] = []
    if {"sigmoid", "relu"} <= set(std):
        s, rl = std["sigmoid"], std["relu"]
        s_ratio = s["first"] / s["last"]
        claims.append(
            (
                "Sigmoid saturates: the first layers of a deep net get almost no gradient",
                f"{depth}-layer MLP at Glorot init: layer 1 gets {sci(s_ratio)} of layer {depth}'s gradient",
                "agrees" if s_ratio < 1e-3 else "disagrees",
            )
        )
        if "tanh" in std:
            t_ratio = std["tanh"]["first"] / std["tanh"]["last"]
            claims.append(
                (
                    "Tanh saturates the same way",
                    f"at Glorot init, layer 1 gets {t_ratio:.2f}× layer {depth}'s gradient; after "
                    f"{cfg['steps']} SGD steps tanh reaches loss {std['tanh']['loss_end']:.3f} vs ReLU's "
                    f"{rl['loss_end']:.3f}",
                    "agrees"
                    if t_ratio < 1e-2
                    else "**disagrees** (at its standard init, no vanishing)",
                )
            )
        if "relu" in lec:
            shrink = rl["first"] / lec["relu"]["first"]
            claims.append(
                (
                    "ReLU's derivative of 1 keeps the gradient flowing",
                    f"at He init, layer 1 gets {rl['first'] / rl['last']:.2f}× layer {depth}'s gradient; at "
                    f"LeCun normal (Flax's default) ReLU's layer-1 gradient is {sci(shrink)}× smaller than at He",
                    "agrees only with He initialisation" if shrink > 100 else "agrees",
                )
            )
    text = [
        f"**Vanishing gradients** ([`02_vanishing_gradients.py`]({script})): "
        f"‖∂loss/∂W‖ per layer at initialisation in a {depth}-layer, {cfg['width']}-wide MLP on digits "
        f"(geometric mean of {cfg['seeds']} seeds), and the training loss after {cfg['steps']} plain SGD "
        f"steps (lr {cfg['lr']}, one learning rate for all):",
        "",
        md_table(
            [
                "activation",
                "init",
                "layer 1",
                f"layer {depth}",
                "ratio",
                f"loss @{cfg['steps']}",
                "layer 1 at LeCun init",
            ],
            rows,
        ),
        "",
        f"![gradient norm per layer]({FIGURE})",
    ]
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    cfg = {"depth": 30, "width": 64, "batch": 512, "seeds": 5, "steps": 300, "lr": 0.05}
    if args.quick:
        cfg.update(depth=8, width=32, batch=64, seeds=2, steps=5)
    x, y = data(cfg["batch"])
    results: dict[str, Any] = {"standard": {}, "lecun_all": {}}
    for name, (act, init) in activations().items():
        if args.quick and name not in ("sigmoid", "relu"):
            continue
        for setting, r in measure(name, act, init, cfg, x, y).items():
            results[setting][name] = r

    for setting, title in [
        ("standard", "standard initialisations"),
        ("lecun_all", "LeCun normal for all"),
    ]:
        rows = [
            [
                name,
                r["init"],
                f"{r['first']:.2e}",
                f"{r['last']:.2e}",
                f"{r['first_over_last']:.2e}",
                f"{r['loss_start']:.3f}",
                f"{r['loss_end']:.3f}",
            ]
            for name, r in results[setting].items()
        ]
        print(
            f"\n{cfg['depth']}-layer MLP, {title}: ‖∂loss/∂W‖ (geometric mean of {cfg['seeds']} seeds), "
            f"then {cfg['steps']} SGD steps"
        )
        print(
            table(
                rows,
                [
                    "activation",
                    "init",
                    "layer 1",
                    f"layer {cfg['depth']}",
                    "1 / last",
                    "loss @0",
                    f"loss @{cfg['steps']}",
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
        save(args.out, out, draw(results, cfg))
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
