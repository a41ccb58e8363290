"""``jrelu plot``: every activation and its derivative in one figure, kinks marked.

The functions, their default parameters and their kinks come from :data:`jrelu.FUNCTIONS`; the curves are
jrelu's own values and ``jax.grad`` derivatives (not the NumPy references), so the figure shows what the
library computes. At each kink the derivative jrelu takes is a filled dot, the one-sided limits open circles.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import textwrap
from collections.abc import Sequence
from typing import Any

HELP = "draw every activation and its derivative, kinks marked, to one PNG or SVG figure"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="jrelu_functions.png",
        metavar="PATH",
        help="output file; the format follows the extension (.png, .svg, .pdf; default %(default)s)",
    )
    parser.add_argument(
        "--fns",
        nargs="+",
        metavar="NAME",
        help="activations to draw (default: all of them, as listed by `jrelu list`)",
    )
    parser.add_argument(
        "--dpi", type=int, default=100, help="resolution of a PNG (default %(default)s)"
    )


def _xrange(kinks: Sequence[float]) -> tuple[float, float]:
    lo = min(-4.0, min(kinks, default=0.0) - 2.0)
    hi = max(3.0, max(kinks, default=0.0) + 2.0)
    return lo, hi


def curve(spec: Any) -> Any:
    """The function the panel draws: ``spec`` itself; for a gated Spec (reglu), the output for the
    value half ``a = 1`` as a function of the gate ``b`` (so its derivative is d/db at a = 1)."""
    import jax.numpy as jnp

    if not spec.gated:
        return spec
    return lambda b: spec(jnp.stack([jnp.ones_like(b), b], axis=-1))[..., 0]


def kink_points(spec: Any) -> list[dict[str, float]]:
    """What the figure marks at each kink of ``spec``: the point, jrelu's derivative there (``jax.grad``
    of the public function), and the one-sided limits (the derivative just left and right of it)."""
    import jax
    import numpy as np

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
    import jax
    import numpy as np

    c = curve(spec)

    def f(x: Any) -> Any:
        return c(x)

    df = jax.jit(jax.vmap(jax.grad(f)))
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
    params = ", ".join(f"{k}={v:.4g}" for k, v in spec.params.items())
    title = f"{spec.name}({params})" if params else spec.name
    ax.set_title(title + ("([a = 1, b] against b)" if spec.gated else ""), fontsize=10)
    ax.set_xlabel(textwrap.fill(spec.kink_rule, 52), fontsize=7.5)
    ax.set_xlim(lo, hi)
    ax.grid(alpha=0.25)


def draw(names: Sequence[str] | None = None) -> Any:
    """A matplotlib ``Figure`` with one panel per activation (all of :data:`jrelu.FUNCTIONS` by default)."""
    from matplotlib.figure import Figure

    from jrelu._registry import FUNCTIONS, spec

    specs = [spec(n) for n in names] if names else list(FUNCTIONS.values())
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
    from matplotlib.figure import Figure

    ext = os.path.splitext(args.out)[1].lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if ext not in supported:
        print(
            f"jrelu plot: cannot write {args.out!r}: unknown extension {'.' + ext if ext else '(none)'}; "
            "use .png or .svg (or .pdf)."
        )
        return 2
    try:
        fig = draw(args.fns)
    except ValueError as e:  # unknown name: the registry's message lists the known ones
        print(f"jrelu plot: {e}")
        return 2
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")
    return 0
