"""``jrelu plot``: every activation and its derivative in one figure, kinks marked.

The functions, their default parameters and their kinks come from :data:`jrelu.FUNCTIONS`; the curves are
jrelu's own values and ``jax.grad`` derivatives (not the NumPy references), so the figure shows what the
library computes. At each kink the derivative jrelu takes is a filled dot, the one-sided limits open circles.
matplotlib, an optional extra (``jrelu[plot]``), is imported where a figure is drawn, so that the parser
and :func:`kink_points` work without it and a missing one gets a message, not a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import textwrap
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu import _registry
from jrelu._cli import add_fns_argument, fn_names

HELP = "draw every activation and its derivative, kinks marked, to one PNG or SVG figure"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="jrelu_functions.png",
        metavar="PATH",
        help="output file; the format follows the extension (.png, .svg, .pdf; default %(default)s)",
    )
    add_fns_argument(parser, "activations to draw")
    parser.add_argument(
        "--dpi", type=int, default=100, help="resolution of a PNG (default %(default)s)"
    )


def _xrange(kinks: Sequence[float]) -> tuple[float, float]:
    lo = min(-4.0, min(kinks, default=0.0) - 2.0)
    hi = max(3.0, max(kinks, default=0.0) + 2.0)
    return lo, hi


def shown(spec: Any) -> Any:
    """``spec`` as its panel draws it: with ``Spec.shown``'s hyperparameters (celu: alpha = 2, which
    alpha = 1 would make elu), and a fixed key bound where one is needed (alpha_dropout)."""
    if spec.shown:
        spec = dataclasses.replace(spec, params={**spec.params, **spec.shown})
    return spec.with_key(jax.random.key(0)) if spec.needs_key else spec


def curve(spec: Any) -> Any:
    """The function the panel draws: ``spec`` itself; for a gated Spec (reglu), the output for the
    value half ``a = 1`` as a function of the gate ``b`` (so its derivative is d/db at a = 1)."""
    if not spec.gated:
        return spec
    return lambda b: spec(jnp.stack([jnp.ones_like(b), b], axis=-1))[..., 0]


def kink_points(spec: Any) -> list[dict[str, float]]:
    """What the figure marks at each kink of ``spec``: the point, jrelu's derivative there (``jax.grad``
    of the public function), and the one-sided limits (the derivative just left and right of it)."""
    lo, hi = _xrange(spec.kinks)
    eps = 1e-3 * (hi - lo)
    f = curve(spec)
    df = jax.grad(lambda x: f(x))
    out = []
    for k in sorted(spec.kinks):
        out.append(
            {
                "x": float(k),
                "value": float(f(np.float32(k))),
                "derivative": float(df(np.float32(k))),
                "left": float(df(np.float32(k - eps))),
                "right": float(df(np.float32(k + eps))),
            }
        )
    return out


def _panel(ax: Any, spec: Any) -> None:
    spec = shown(spec)
    c = curve(spec)

    def f(x: Any) -> Any:
        return c(x)

    # the derivative of each element: of sum(f) over the array (a keyed function's mask depends on the
    # element's position, which a vmap over scalars would make 0 for every element)
    df = jax.jit(jax.grad(lambda v: jnp.sum(f(v))))
    kinks = sorted(spec.kinks)
    lo, hi = _xrange(kinks)
    eps = 1e-3 * (hi - lo)
    xs = np.linspace(lo, hi, 601, dtype=np.float32)
    ax.axhline(0.0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0.0, color="0.8", lw=0.8, zorder=0)
    if spec.random and {"lower", "upper"} <= set(spec.params):
        neg = xs[xs <= 0]
        ax.fill_between(
            neg,
            spec.params["lower"] * neg,
            spec.params["upper"] * neg,
            color="C0",
            alpha=0.15,
            lw=0,
            label="training: slope ~ U(lower, upper)",
        )
    if spec.needs_key:  # random in x: each point is kept (a x + b) or dropped (a alpha' + b)
        ax.plot(xs, np.asarray(f(xs)), ".", color="C0", ms=2, label="f(x), one key")
        ax.plot(xs, np.asarray(df(xs)), ".", color="C3", ms=2, label="f'(x), one key")
        _finish(ax, spec, lo, hi)
        return
    ax.plot(xs, np.asarray(f(xs)), color="C0", lw=2, label="f(x)")
    # The derivative piece by piece, so the jumps are not drawn as steep lines.
    edges = [lo, *kinks, hi]
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        seg = np.linspace(a + eps, b - eps, 200, dtype=np.float32)
        ax.plot(
            seg, np.asarray(df(seg)), color="C3", lw=1.6, ls="--", label="f'(x)" if i == 0 else None
        )
    for j, p in enumerate(kink_points(spec)):
        k, d = p["x"], p["derivative"]
        ax.axvline(k, color="0.5", lw=0.8, ls=":")
        ax.plot([k], [p["value"]], "o", ms=4, color="C0")
        ax.plot(
            [k - eps, k + eps],
            [p["left"], p["right"]],
            "o",
            mfc="white",
            mec="C3",
            ms=6,
            label="one-sided limits" if j == 0 else None,
        )
        ax.plot([k], [d], "o", color="C3", ms=6, label="jrelu's f'(kink)" if j == 0 else None)
        right = k > (lo + hi) / 2  # label on the side with room
        ax.annotate(
            f"f'({k:g}) = {d:.4g}",
            (k, d),
            xytext=(-6 if right else 6, 6),
            textcoords="offset points",
            ha="right" if right else "left",
            fontsize=8,
            color="C3",
        )
    _finish(ax, spec, lo, hi)


def _finish(ax: Any, spec: Any, lo: float, hi: float) -> None:
    """The panel's title (the function and the hyperparameters drawn), its kink rule and limits."""
    params = ", ".join(f"{k}={v:.4g}" for k, v in spec.params.items())
    title = f"{spec.name}({params})" if params else spec.name
    ax.set_title(title + ("([a = 1, b] against b)" if spec.gated else ""), fontsize=10)
    ax.set_xlabel(textwrap.fill(spec.kink_rule, 52), fontsize=7.5)
    ax.set_xlim(lo, hi)
    ax.grid(alpha=0.25)


def draw(names: Sequence[str] | None = None) -> Any:
    """A matplotlib ``Figure`` with one panel per activation (all of :data:`jrelu.FUNCTIONS` by default)."""
    from matplotlib.figure import Figure

    specs = [_registry.spec(n) for n in names] if names else list(_registry.FUNCTIONS.values())
    ncols = min(4, len(specs))
    nrows = math.ceil(len(specs) / ncols)
    fig = Figure(figsize=(3.7 * ncols, 3.1 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, s in zip(axes.flat, specs, strict=False):
        _panel(ax, s)
    for ax in list(axes.flat)[len(specs) :]:
        ax.set_visible(False)
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    # A narrow figure (one or two panels) gets a two-row legend and a two-line title, so neither is
    # clipped at the figure's edges.
    fig.legend(
        [handles[lab] for lab in labels],
        labels,
        loc="outside lower center",
        ncols=len(labels) if ncols > 2 else 2,
        fontsize=8,
        frameon=False,
    )
    sep = "; " if ncols > 2 else "\n"
    fig.suptitle(
        f"jrelu: activations (solid) and derivatives (dashed){sep}kinks dotted",
        fontsize=11 if ncols > 2 else 9,
    )
    return fig


def run(args: argparse.Namespace) -> int:
    if args.dpi <= 0:
        print(f"jrelu plot: --dpi must be a positive number of dots per inch, got {args.dpi}.")
        return 2
    try:
        names = fn_names(args.fns, "plot")
    except ValueError as e:
        print(e)
        return 2
    try:
        from matplotlib.figure import Figure
    except Exception as e:  # not installed, or broken (a failing backend, a bad matplotlibrc)
        print(
            f"jrelu plot: needs matplotlib, which could not be imported ({type(e).__name__}: {e}); "
            "install it with pip install 'jrelu[plot]' (or pip install matplotlib)."
        )
        return 2
    ext = os.path.splitext(args.out)[1].lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if ext not in supported:
        print(
            f"jrelu plot: cannot write {args.out!r}: unknown extension {'.' + ext if ext else '(none)'}; "
            "use .png or .svg (or .pdf)."
        )
        return 2
    try:
        fig = draw(names)
        parent = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(parent, exist_ok=True)
        fig.savefig(args.out, dpi=args.dpi)
    except Exception as e:  # matplotlib failing to draw or write: say so, no traceback
        print(f"jrelu plot: could not write {args.out!r}: {type(e).__name__}: {e}")
        return 1
    print(f"wrote {args.out}")
    return 0
