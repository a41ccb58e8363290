"""``jrelu bench``'s sparse section: ``jrelu.sparse`` against the dense ``jnp`` computation.

What is timed, at each point of a grid (activation, part, d_model, tokens, sparsity), as two compiled
programs run interleaved on the same input:

* ``down``: ``act(h) @ w_down`` -- ``jrelu.sparse.down_projection`` (impl ``"jrelu"``) against
  ``jnp.matmul(act(h), w_down)`` (impl ``"jax.nn"``, the peer, as in the other sections);
* ``ffn``: ``act(x @ w_up) @ w_down`` -- ``jrelu.sparse.ffn`` against the dense composition;

with ``hidden = 4 * d_model`` (reglu: an up projection of twice that, value then gate). The inputs
are synthetic with a controlled sparsity ``s``: a random ``(1 - s)`` share of the hidden units is on
(a positive pre-activation) for *every* token and the rest off for every token, so the union of a
batch equals each token's set -- the best case for a batch; how wide real text's union is, example
09 measures. The capacity is the active count (the sparse path's best case; a capacity ``c`` costs
what ``c`` active units cost). Each row keeps the wall and CPU time (``time.process_time``, all
threads) of every repeat, the bytes of ``w_down`` each program must read (dense: all of it; sparse:
the ``capacity`` gathered rows), and the sparse row the largest difference from the dense result
next to the bound ``2 gamma(m + 1) max sum_k |a_k| |W_kj|`` that ``jrelu.sparse`` promises.

The crossover of a line (activation, part, d_model, tokens) is the lowest tested sparsity from which
the sparse program is faster beyond the run's noise band at every higher one, and the sparsity at
which the median ratio crosses 1 (linear between the tested points).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu import sparse
from jrelu._cli.bench import speed as bs
from jrelu._cli.bench.verdicts import pair_spread
from jrelu._registry import FUNCTIONS

PEER = {"down": "jnp: act(h) @ w_down", "ffn": "jnp: act(x @ w_up) @ w_down"}


@dataclasses.dataclass(frozen=True)
class Grid:
    """The points of the sparse section."""

    fns: tuple[str, ...]
    parts: tuple[str, ...]  # "down", "ffn"
    d_models: tuple[int, ...]
    tokens: tuple[int, ...]
    sparsities: tuple[float, ...]
    mult: int = 4  # hidden = mult * d_model

    def points(self) -> list[tuple[str, str, int, int, float]]:
        return [
            (fn, part, d, t, s)
            for fn in self.fns
            for part in self.parts
            for d in self.d_models
            for t in self.tokens
            for s in self.sparsities
        ]


def grid(mode: str, fns: Sequence[str] | None = None) -> Grid:
    """``--quick``: a smoke test; plain ``jrelu bench``: relu at d_model 1024, 50%, 90% and 99% (about
    half a minute on 2 CPU cores); ``--full`` (``benchmarks/sparse_ffn.py``): the whole grid, relu and reglu. ``fns``
    (``--fns``) replaces the activations by those of them ``jrelu.sparse`` supports (maybe none)."""
    if mode == "quick":
        g = Grid(("relu",), ("down",), (256,), (1, 8), (0.5, 0.9))
    elif mode == "default":
        g = Grid(("relu",), ("down", "ffn"), (1024,), (1, 8, 64), (0.5, 0.9, 0.99))
    else:
        g = Grid(
            ("relu", "reglu"),
            ("down", "ffn"),
            (512, 1024, 2048),
            (1, 8, 64),
            (0.5, 0.7, 0.8, 0.9, 0.95, 0.99),
        )
    if fns is not None:
        g = dataclasses.replace(g, fns=tuple(f for f in sparse.ACTIVATIONS if f in fns))
    return g


def plan(mode: str, repeats: int | None, sync_each: bool) -> bs.Plan:
    """Short repeats (the calls take 10 us to 40 ms): a pair gets about 0.6 s, 1.5 s with --full."""
    quick, full = mode == "quick", mode == "full"
    n = repeats or (5 if quick else 15 if full else 9)
    return bs.Plan(
        target=0.002 if quick else 0.01 if full else 0.005,
        repeats=n,
        min_repeats=min(5, n),
        budget=0.1 if quick else 1.5 if full else 0.6,
        sync_each=sync_each,
    )


def inputs(fn: str, part: str, d: int, hidden: int, tokens: int, s: float, seed: int = 0) -> dict:
    """Synthetic float32 inputs with ``round((1 - s) * hidden)`` units on for every token."""
    rng = np.random.default_rng(seed)
    active = max(1, round((1 - s) * hidden))
    on = np.zeros(hidden, bool)
    on[rng.choice(hidden, active, replace=False)] = True
    sign = np.where(on, 1.0, -1.0)  # on: positive pre-activation for every token
    gated = FUNCTIONS[fn].gated
    out: dict[str, Any] = {"active": active}
    w_down = rng.standard_normal((hidden, d), dtype=np.float32) / math.sqrt(hidden)
    if part == "down":
        gate = sign * np.abs(rng.standard_normal((tokens, hidden)))
        value = [rng.standard_normal((tokens, hidden))] if gated else []
        out["args"] = (np.concatenate([*value, gate], -1).astype(np.float32), w_down)
    else:
        x = np.abs(rng.standard_normal((tokens, d))).astype(np.float32)  # positive: x @ w_up keeps
        gate = sign * np.abs(rng.standard_normal((d, hidden))) / math.sqrt(d)  # the sign of w_up
        value = [rng.standard_normal((d, hidden)) / math.sqrt(d)] if gated else []
        out["args"] = (x, np.concatenate([*value, gate], -1).astype(np.float32), w_down)
    out["args"] = tuple(jax.device_put(a) for a in out["args"])
    return out


def programs(fn: str, part: str, capacity: int) -> dict[str, Callable[..., Any]]:
    """The pair: ``"jrelu"`` (jrelu.sparse) and ``"jax.nn"`` (the dense jnp computation)."""
    act = FUNCTIONS[fn].fn
    if part == "down":
        return {
            "jrelu": jax.jit(lambda h, w: sparse.down_projection(h, w, fn, capacity=capacity)),
            "jax.nn": jax.jit(lambda h, w: jnp.matmul(act(h), w)),
        }
    return {
        "jrelu": jax.jit(lambda x, u, w: sparse.ffn(x, u, w, fn, capacity=capacity)),
        "jax.nn": jax.jit(lambda x, u, w: jnp.matmul(act(jnp.matmul(x, u)), w)),
    }


def gamma(n: int, dtype: Any = np.float32) -> float:
    """``n u / (1 - n u)``, ``u`` the unit roundoff of ``dtype``."""
    u = float(np.finfo(dtype).eps) / 2
    return n * u / (1 - n * u)


@jax.jit
def _abs_products(a: jax.Array, w: jax.Array) -> jax.Array:
    return jnp.max(jnp.matmul(jnp.abs(a), jnp.abs(w)))


def measure(
    point: tuple[str, str, int, int, float], grid_: Grid, plan_: bs.Plan, workers: int = 1
) -> list[dict[str, Any]]:
    """The two rows (``"jrelu"`` and ``"jax.nn"``) of one point, timed interleaved."""
    fn, part, d, tokens, s = point
    hidden = grid_.mult * d
    data = inputs(fn, part, d, hidden, tokens, s)
    args, active = data["args"], data["active"]
    progs = {impl: bs.Program.lower(f, *args) for impl, f in programs(fn, part, active).items()}
    for err in bs.compile_each(list(progs.values()), workers):
        if err is not None:
            raise err
    ys = {impl: p.fn(*args) for impl, p in progs.items()}
    h = args[0] if part == "down" else jnp.matmul(args[0], args[1])
    act = FUNCTIONS[fn].fn
    bound = 2 * gamma(active + 1) * float(_abs_products(act(h), args[-1]))
    timings = bs.time_interleaved([progs["jrelu"], progs["jax.nn"]], bs.sync_jax, plan_)
    itemsize = 4
    rows = []
    for impl, t in zip(("jrelu", "jax.nn"), timings, strict=True):
        row = {
            "section": "sparse",
            "fn": fn,
            "label": f"{fn} {part}",
            "part": part,
            "impl": impl,
            "dtype": "float32",
            "d_model": d,
            "hidden": hidden,
            "tokens": tokens,
            "sparsity": s,
            "active": active,
            "capacity": active if impl == "jrelu" else hidden,
            # w_down's bytes the program must read (the sparse one gathers `capacity` rows)
            "weight_bytes": (active if impl == "jrelu" else hidden) * d * itemsize,
            **t.as_dict(),
            "compile_seconds": progs[impl].compile_seconds,
        }
        if impl == "jax.nn":
            row["peer"] = PEER[part]
        rows.append(row)
    sp, dn = rows
    sp["ratio"] = sp["seconds"] / dn["seconds"]
    sp["cpu_ratio"] = sp["cpu_seconds"] / dn["cpu_seconds"]
    sp["max_abs_diff"] = float(jnp.max(jnp.abs(ys["jrelu"] - ys["jax.nn"])))
    sp["bound"] = bound
    return rows


def run_section(
    results: dict[str, Any],
    mode: str,
    fns: Sequence[str] | None,
    repeats: int | None,
    backend: str,
    workers: int,
    step: Callable[[str], None],
    done: Callable[[], None],
    row_error: Callable[..., None],
) -> None:
    """Measure every point of ``grid(mode)`` into ``results["sparse"]`` (a point that fails is
    recorded in ``errors`` and the section goes on)."""
    g = grid(mode, fns)
    p = plan(mode, repeats, sync_each=backend == "cpu")
    results["config"]["sparse"] = {**dataclasses.asdict(g), "timing": dataclasses.asdict(p)}
    for point in g.points():
        fn, part, d, tokens, s = point
        step(f"sparse {fn} {part} d={d} tokens={tokens} sparsity={s:.0%}")
        try:
            results["sparse"].extend(measure(point, g, p, workers))
        except Exception as e:
            row_error("sparse", e, fn=fn, part=part, d_model=d, tokens=tokens, sparsity=s)
        done()


def count(mode: str, fns: Sequence[str] | None) -> int:
    """Progress steps of the section."""
    return len(grid(mode, fns).points())


# --------------------------------------------------------------------------------------------------
# Crossovers, verdicts, the table and the figure
# --------------------------------------------------------------------------------------------------


def pairs(results: dict[str, Any]) -> dict[tuple, dict[float, dict[str, dict[str, Any]]]]:
    """``(fn, part, d_model, tokens) -> {sparsity: {"jrelu": row, "jax.nn": row}}``."""
    by: dict[tuple, dict[float, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for r in results.get("sparse", []):
        by[(r["fn"], r["part"], r["d_model"], r["tokens"])][r["sparsity"]][r["impl"]] = r
    return {
        k: {s: v for s, v in sorted(by_s.items()) if len(v) == 2}
        for k, by_s in by.items()
        if any(len(v) == 2 for v in by_s.values())
    }


def crossover(line: dict[float, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The lowest tested sparsity from which the sparse program is faster beyond the noise band (half
    the interquartile range of the interleaved repeats' ratios) at every higher one (None if never),
    and where the median ratio crosses 1 (linear between tested points; None if it does not)."""
    ss = list(line)
    ratios = [line[s]["jrelu"]["seconds"] / line[s]["jax.nn"]["seconds"] for s in ss]
    bands = [pair_spread(line[s]["jrelu"], line[s]["jax.nn"]) or 0.0 for s in ss]
    faster = [r < 1 - b for r, b in zip(ratios, bands, strict=True)]
    pays = None
    for i in range(len(ss) - 1, -1, -1):
        if not faster[i]:
            break
        pays = ss[i]
    at_one = None
    for i in range(len(ss) - 1):
        if ratios[i] >= 1 > ratios[i + 1]:
            t = (ratios[i] - 1) / (ratios[i] - ratios[i + 1])
            at_one = ss[i] + t * (ss[i + 1] - ss[i])
    return {
        "pays_from": pays,
        "ratio_one_at": at_one,
        # the median ratio is below 1 from the first tested sparsity: the crossover lies below it
        "below_first": bool(ratios) and at_one is None and ratios[0] < 1,
        "ratios": dict(zip(ss, ratios, strict=True)),
    }


def _at_one(c: dict[str, Any]) -> str:
    if c["ratio_one_at"] is not None:
        return f"{c['ratio_one_at']:.0%}"
    return f"< {min(c['ratios']):.0%}" if c["below_first"] else "–"


def verdict_lines(results: dict[str, Any]) -> list[str]:
    """One line per (activation, part, d_model): the crossover at each token count."""
    by: dict[tuple, list[str]] = defaultdict(list)
    for (fn, part, d, tokens), line in pairs(results).items():
        c = crossover(line)
        best = min(c["ratios"].values())
        text = (
            f"{tokens} tok: pays from {c['pays_from']:.0%}"
            if c["pays_from"] is not None
            else f"{tokens} tok: never faster"
        )
        by[(fn, part, d)].append(text + f" (best {best:.2f}×)")
    lines = []
    for (fn, part, d), texts in by.items():
        lines.append(
            f"sparse {fn} {part} (d_model {d}, hidden {4 * d}; time ÷ dense): " + "; ".join(texts)
        )
    diffs = [r for r in results.get("sparse", []) if r["impl"] == "jrelu"]
    if diffs:
        worst = max(r["max_abs_diff"] / r["bound"] if r["bound"] else 0.0 for r in diffs)
        lines.append(
            "sparse exactness: largest |sparse - dense| is "
            f"{worst:.3f} of the summation-order bound 2γ(m+1)·Σ|a||W| (≤ 1 holds the promise)"
        )
    return lines


def print_table(console: Any, results: dict[str, Any]) -> None:
    """The section as a table: time ratio sparse ÷ dense per sparsity, one line per (fn, part, d,
    tokens), with the crossover."""
    from rich.markup import escape
    from rich.table import Table

    from jrelu._cli.bench.report import _colour, _show, fmt_time

    found = pairs(results)
    if not found:
        return
    ss = sorted({s for line in found.values() for s in line})
    t = Table()
    t.title = (
        "Sparse FFN: jrelu.sparse ÷ the dense jnp computation, median time by the share of hidden "
        "units that are 0 for every token (synthetic: the same units for all tokens; capacity = the "
        "active count; below 1: sparse faster)"
    )
    for col in ("function", "part", "d_model", "tokens", "dense"):
        t.add_column(col, justify="left" if col in ("function", "part") else "right")
    for s in ss:
        t.add_column(f"{s:.0%}", justify="right")
    t.add_column("pays from", justify="right")
    t.add_column("= 1 at", justify="right")
    for (fn, part, d, tokens), line in found.items():
        c = crossover(line)
        dense = next(iter(line.values()))["jax.nn"]["seconds"]
        cells = [escape(fn), part, str(d), str(tokens), fmt_time(dense)]
        cells += [_colour(c["ratios"].get(s)) for s in ss]
        cells.append("–" if c["pays_from"] is None else f"{c['pays_from']:.0%}")
        cells.append(_at_one(c))
        t.add_row(*cells)
    _show(console, t)


def markdown(results: dict[str, Any], source: str = "") -> str:
    """The section for benchmarks/README.md: the run, the crossover table, the exactness line."""
    found = pairs(results)
    ss = sorted({s for line in found.values() for s in line})
    cfg = results.get("config", {}).get("sparse", {})
    head = (
        f"Measured by `python benchmarks/sparse_ffn.py` ({results.get('backend')}, "
        f"{results.get('device_detail', results.get('device'))}, jax {results.get('jax_version')}, "
        f"{str(results.get('date', ''))[:10]}; load average {results.get('load_average', ['?'])[0]} "
        f"at the start){f', from `{source}`' if source else ''}. Median of "
        f"{cfg.get('timing', {}).get('repeats', '?')} interleaved repeats; time ÷ dense "
        "(below 1: sparse faster); *pays from*: the lowest sparsity from which it is faster beyond the "
        "noise band at every higher one; *= 1 at*: where the median ratio crosses 1."
    )
    lines = [head, ""]
    cols = ["function", "part", "d_model", "tokens", "dense ms", *(f"{s:.0%}" for s in ss)]
    cols += ["pays from", "= 1 at"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for (fn, part, d, tokens), line in found.items():
        c = crossover(line)
        dense = next(iter(line.values()))["jax.nn"]["seconds"]
        cells = [f"`{fn}`", part, str(d), str(tokens), f"{1e3 * dense:.3f}"]
        cells += [f"{c['ratios'][s]:.2f}" if s in c["ratios"] else "–" for s in ss]
        cells.append("never" if c["pays_from"] is None else f"{c['pays_from']:.0%}")
        cells.append(_at_one(c))
        lines.append("| " + " | ".join(cells) + " |")
    diffs = [r for r in results.get("sparse", []) if r["impl"] == "jrelu"]
    if diffs:
        worst = max(diffs, key=lambda r: r["max_abs_diff"] / r["bound"] if r["bound"] else 0.0)
        cpu = [r["cpu_ratio"] / r["ratio"] for r in diffs]
        lines += [
            "",
            f"Exactness: the largest difference from dense is {worst['max_abs_diff']:.2e} "
            f"({worst['max_abs_diff'] / worst['bound']:.3f} of its bound 2γ(m+1)·max Σ|a||W|, "
            f"{worst['fn']} {worst['part']}, d_model {worst['d_model']}, {worst['tokens']} tokens, "
            f"{worst['sparsity']:.0%}). CPU time ratio ÷ wall time ratio: median "
            f"{float(np.median(cpu)):.2f} (quartiles {np.percentile(cpu, 25):.2f}–"
            f"{np.percentile(cpu, 75):.2f}).",
        ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str) -> None:
    """Time ratio against sparsity, one panel per (activation, part), a line per (d_model, tokens)."""
    from matplotlib.figure import Figure

    found = pairs(results)
    panels = sorted({(fn, part) for fn, part, _, _ in found})
    fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    ds = sorted({d for _, _, d, _ in found})
    ts = sorted({t for _, _, _, t in found})
    styles = ["-", "--", ":", "-."]
    for ax, (fn, part) in zip(axes, panels, strict=True):
        for (f, p, d, t), line in found.items():
            if (f, p) != (fn, part):
                continue
            c = crossover(line)
            ax.plot(
                [100 * s for s in c["ratios"]],
                list(c["ratios"].values()),
                styles[ts.index(t) % len(styles)],
                marker="o",
                ms=3,
                color=f"C{ds.index(d)}",
                label=f"d_model {d}, {t} tok",
            )
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("hidden units 0 for every token (%)")
        ax.set_title(f"{fn}: {'act(h) @ w_down' if part == 'down' else 'whole FFN'}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("time jrelu.sparse ÷ dense (median; below 1: faster)")
    axes[-1].legend(fontsize=7, ncol=1)
    fig.suptitle(
        f"jrelu.sparse against the dense product on {results.get('device_detail', '')}", fontsize=11
    )
    fig.savefig(path, dpi=80)
