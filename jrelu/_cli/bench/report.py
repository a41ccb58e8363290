"""``jrelu bench``: turning a results dict into tables (terminal, Markdown), verdicts, a goal check and
a plot.

The verdicts are what a user acts on: for each timed section, the functions where jrelu is faster than
jax.nn, at parity, or slower *beyond this run's own noise*, and the memory it saves. The noise band of a
section is the median, over its measured pairs, of half the interquartile range of the per-repeat time
ratios jrelu ÷ jax.nn (the two are timed interleaved, repeat by repeat, so each ratio compares calls
made next to each other). A function's ratio is the median of its pairs' median-time ratios; below
``1 - band`` is faster, above ``1 + band`` slower, in between parity. The project's internal goals
(:func:`goal_lines`) are printed only for ``--full``, the kept run.

Everything here reads only the JSON-shaped results dict, so the README table
(``benchmarks/update_readme.py``) and the terminal tables are rendered from the same figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from jrelu._cli.bench import sparse
from jrelu._cli.bench.speed import (
    PASSES,
    TRAFFIC_GATED,
    TRAFFIC_TEXT,
    median,
    ratios,
    size_text,
)

# reglu's y and g have half of x's elements
GATED_BYTES = f"gated: {TRAFFIC_GATED['fwd']:g}·n·b and {TRAFFIC_GATED['fwd+bwd']:g}·n·b"
MEMORY_GOAL = 1 / 32  # extra tensors per layer, every function but prelu
RATIO_GOAL = 1.0
GPU_COPY_GOAL = 0.9

# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def fmt_time(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None or not math.isfinite(r) else f"{r:.2f}"


def fmt_pct(f: float | None) -> str:
    return "–" if f is None or not math.isfinite(f) else f"{100 * f:.0f}%"


def fmt_bytes(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    for unit, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= k:
            return f"{v / k:.3g} {unit}"
    return f"{v:.0f} B"


def fmt_tensors(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    v = 0.0 if abs(v) < 5e-4 else v
    return f"{v:.3f}" if v % 1 else f"{v:.0f}"


def _labels(results: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for section in ("speed", "memory", "train_step", "dispatch"):
        for r in results.get(section, []):
            if r.get("impl") not in ("identity", "copy"):
                seen.setdefault(r["label"], None)
    return list(seen)


def _dtypes(results: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["dtype"] for r in results.get("speed", [])))


def _sizes(results: dict[str, Any]) -> list[int]:
    return sorted({r["size"] for r in results.get("speed", [])})


def _speed(results: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {
        (r["label"], r["dtype"], r["pass"], r["size"], r["impl"]): r
        for r in results.get("speed", [])
    }


def _copy(results: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {(r["dtype"], r["size"]): r for r in results.get("copy", [])}


def _memory(results: dict[str, Any]) -> dict[tuple, float]:
    return {
        (r["label"], r["model"], r["impl"]): r["extra_tensors_per_layer"]
        for r in results.get("memory", [])
    }


def _train(results: dict[str, Any]) -> dict[tuple, float]:
    return {
        (r["label"], r["model"], r["impl"]): r["seconds"] for r in results.get("train_step", [])
    }


def header_lines(results: dict[str, Any]) -> list[str]:
    r = results
    torch = r.get("torch_version") or "not importable"
    return [
        f"device: {r['device']} ({r.get('device_detail', '')}), backend {r['backend']}"
        + (f", {r['platform_version']}" if r.get("platform_version") else ""),
        f"jax {r['jax_version']}, jaxlib {r.get('jaxlib_version', '?')}, jrelu {r.get('jrelu_version', '?')}, "
        f"flax {r.get('flax_version', '?')}, optax {r.get('optax_version', '?')}, torch {torch}",
        f"date {r.get('date', '?')}, {'quick' if r.get('quick') else 'full'} run, "
        f"{r.get('wall_seconds', math.nan):.0f} s",
    ]


# --------------------------------------------------------------------------------------------------
# The summary (one row per function): the README table and the last terminal table
# --------------------------------------------------------------------------------------------------


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per function: median-over-sizes time ratios to jax.nn, share of copy bandwidth at the largest
    size, backward memory (jrelu, jax.nn) and training-step ratios."""
    speed = results.get("speed", [])
    rat = ratios(speed)
    sizes = _sizes(results)
    top = sizes[-1] if sizes else None
    sp, mem, train = _speed(results), _memory(results), _train(results)
    rows = []
    for label in _labels(results):
        row: dict[str, Any] = {"label": label}
        for pass_ in PASSES:
            for dt in _dtypes(results):
                vals = [
                    v for (lb, d, p, _), v in rat.items() if lb == label and d == dt and p == pass_
                ]
                row[f"ratio {pass_} {dt}"] = median(vals) if vals else None
                row[f"worst {pass_} {dt}"] = max(vals) if vals else None
                r = sp.get((label, dt, pass_, top, "jrelu"))
                row[f"copy {pass_} {dt}"] = r.get("fraction_of_copy") if r else None
        for model in ("mlp", "cnn"):
            for impl in ("jrelu", "jax.nn"):
                row[f"mem {model} {impl}"] = mem.get((label, model, impl))
            a, b = train.get((label, model, "jrelu")), train.get((label, model, "jax.nn"))
            row[f"train {model}"] = a / b if a and b else None
        rows.append(row)
    return rows


def markdown_summary(results: dict[str, Any], source: str = "") -> str:
    """The README's benchmark table, in Markdown."""
    rows = summary_rows(results)
    dts = _dtypes(results)
    sizes = _sizes(results)
    top = size_text(sizes[-1]) if sizes else "?"
    copy = _copy(results)
    ceil = ", ".join(
        f"{dt} {copy[(dt, sizes[-1])]['gbps']:.1f} GB/s"
        for dt in dts
        if sizes and (dt, sizes[-1]) in copy
    )
    dt_names = " / ".join(dts)
    lines = [
        f"Measured by `jrelu bench` on **{results['device']}** ({results.get('device_detail', '')}; "
        f"backend {results['backend']}, jax {results['jax_version']}, {results.get('date', '')[:10]}"
        + (f"; from `{source}`" if source else "")
        + ").",
        "",
        f"| function | fwd time ÷ jax.nn ({dt_names}) | fwd+bwd time ÷ jax.nn ({dt_names}) "
        f"| fwd, share of copy bandwidth at {top} ({dt_names}) "
        f"| extra tensors/layer, MLP: jrelu / jax.nn | CNN: jrelu / jax.nn "
        f"| train step ÷ jax.nn (MLP / CNN) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"`{r['label']}`",
            " / ".join(fmt_ratio(r.get(f"ratio fwd {dt}")) for dt in dts),
            " / ".join(fmt_ratio(r.get(f"ratio fwd+bwd {dt}")) for dt in dts),
            " / ".join(fmt_copy(r.get(f"copy fwd {dt}")) for dt in dts),
            f"{fmt_tensors(r['mem mlp jrelu'])} / {fmt_tensors(r['mem mlp jax.nn'])}",
            f"{fmt_tensors(r['mem cnn jrelu'])} / {fmt_tensors(r['mem cnn jax.nn'])}",
            f"{fmt_ratio(r['train mlp'])} / {fmt_ratio(r['train cnn'])}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    floor = {
        r["model"]: r.get("floor_tensors_per_layer")
        for r in results.get("memory", [])
        if r["impl"] == "identity"
    }
    lines += [
        "",
        "Time ratios are jrelu's median time over jax.nn's (or the `jnp.where` formulation for prelu and "
        "rrelu), the median over sizes "
        + (f"{size_text(sizes[0])}–{size_text(sizes[-1])}" if sizes else "")
        + " elements; below 1 is faster. "
        f"Copy ceiling at {top}: {ceil or '–'}. Bytes counted: fwd {TRAFFIC_TEXT['fwd']}, fwd+bwd "
        f"{TRAFFIC_TEXT['fwd+bwd']} ({GATED_BYTES}). Extra tensors: activation-sized tensors per layer a compiled "
        "training step keeps beyond the identity network"
        + (
            f" (which itself keeps {fmt_tensors(floor.get('mlp'))} (MLP) and "
            f"{fmt_tensors(floor.get('cnn'))} (CNN))"
            if floor
            else ""
        )
        + "; prelu's slope is learned per channel there.",
    ]
    if any("†" in line for line in lines[4:]):
        lines[-1] += " " + OVER_COPY_NOTE
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------------


def _pairs(rows: Sequence[dict[str, Any]], key: Any) -> dict[tuple, dict[str, dict[str, Any]]]:
    """``key(row) -> {impl: row}`` for the rows measured as both jrelu and jax.nn."""
    by: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if r.get("impl") in ("jrelu", "jax.nn") and "seconds" in r:
            by[key(r)][r["impl"]] = r
    return {k: v for k, v in by.items() if len(v) == 2}


def pair_spread(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Half the interquartile range of the per-repeat ratios ``a_i / b_i`` (None without repeats)."""
    ra, rb = a.get("seconds_repeats") or [], b.get("seconds_repeats") or []
    if not ra or len(ra) != len(rb):
        return None
    q1, q3 = np.percentile(np.asarray(ra) / np.asarray(rb), [25, 75])
    return float(q3 - q1) / 2


def verdict(
    pairs: dict[tuple, dict[str, dict[str, Any]]], label_of: Any = lambda k: k[0]
) -> dict[str, Any]:
    """Classify each function of one section against the section's noise band (module docstring)."""
    spreads = [pair_spread(p["jrelu"], p["jax.nn"]) for p in pairs.values()]
    known = [v for v in spreads if v is not None]
    band = float(np.median(known)) if known else 0.0
    per: dict[str, list[float]] = defaultdict(list)
    for k, p in pairs.items():
        per[label_of(k)].append(p["jrelu"]["seconds"] / p["jax.nn"]["seconds"])
    out: dict[str, Any] = {"band": band, "faster": [], "parity": [], "slower": []}
    for label, vals in per.items():
        r = median(vals)
        kind = "faster" if r < 1 - band else "slower" if r > 1 + band else "parity"
        out[kind].append((label, r))
    return out


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per timed section (``name``, ``scope``, ``band``, ``faster``/``parity``/``slower``
    lists of ``(label, ratio)``), plus the memory verdict (``name == "memory"``)."""
    out = []
    speed = [r for r in results.get("speed", []) if "label" in r]
    sizes = _sizes(results)
    span = size_text(sizes[0]) if len(sizes) == 1 else ""
    if len(sizes) > 1:
        span = f"{size_text(sizes[0])}–{size_text(sizes[-1])}"
    for pass_ in PASSES:
        rows = [r for r in speed if r["pass"] == pass_]
        pairs = _pairs(rows, lambda r: (r["label"], r["dtype"], r["size"]))
        if pairs:
            scope = f"{span} elements, {' / '.join(_dtypes(results))}"
            out.append({"name": f"speed {pass_}", "scope": scope, **verdict(pairs)})
    pairs = _pairs(results.get("train_step", []), lambda r: (r["label"], r["model"]))
    if pairs:
        out.append({"name": "training step", "scope": "MLP and CNN", **verdict(pairs)})
    ffn = [r for r in results.get("ffn", []) if r.get("kind") == "time"]
    pairs = _pairs(ffn, lambda r: (r["fn"], r["dtype"]))
    if pairs:
        out.append({"name": "FFN training step", "scope": "float32 / bfloat16", **verdict(pairs)})
    pairs = _pairs(results.get("dispatch", []), lambda r: (r["label"],))
    if pairs:
        out.append({"name": "eager call", "scope": "1024 float32 elements", **verdict(pairs)})
    mem = memory_verdict(results)
    if mem:
        out.append(mem)
    return out


def memory_verdict(results: dict[str, Any]) -> dict[str, Any] | None:
    """Per function and model: activation tensors per layer jrelu keeps fewer than jax.nn (> 0: saves)
    and those bytes per layer at the measured sizes; or why the figures are unavailable."""
    rows = [r for r in results.get("memory", []) if r.get("impl") in ("jrelu", "jax.nn")]
    status = results.get("memory_status", {"available": True, "reason": ""})
    if not rows and not results.get("ffn"):
        return None
    if not status.get("available", True):
        return {"name": "memory", "available": False, "reason": status.get("reason", "")}
    by = {(r["label"], r["model"], r["impl"]): r for r in rows}
    saves: dict[str, list[tuple[str, float, float | None]]] = defaultdict(list)
    for (label, model, impl), r in by.items():
        b = by.get((label, model, "jax.nn"))
        if impl != "jrelu" or b is None:
            continue
        d = b["extra_tensors_per_layer"] - r["extra_tensors_per_layer"]
        size = r.get("tensor_bytes")
        saves[label].append((model, d, d * size if size else None))
    for r in results.get("ffn", []):
        if r.get("kind") == "memory" and r["impl"] == "jrelu":
            (b,) = [
                x
                for x in results["ffn"]
                if x.get("kind") == "memory"
                and x["impl"] == "jax.nn"
                and (x["fn"], x["dtype"]) == (r["fn"], r["dtype"])
            ] or [None]
            if b is not None:
                d = b["extra_hidden_tensors_per_layer"] - r["extra_hidden_tensors_per_layer"]
                size = r.get("tensor_bytes")
                saves[r["fn"]].append((f"ffn {r['dtype']}", d, d * size if size else None))
    return {"name": "memory", "available": True, "saves": dict(saves)}


def verdict_lines(results: dict[str, Any]) -> list[str]:
    """The verdicts as plain lines (the end of the terminal report)."""
    lines = []
    dims = results.get("config", {}).get("memory_dims", {})
    for v in verdicts(results):
        if v["name"] == "memory":
            if not v["available"]:
                lines.append(f"memory: unavailable on this backend ({v['reason']})")
                continue
            saved: list[str] = []
            same: list[str] = []
            more: list[str] = []
            for label, items in v["saves"].items():
                for model, d, nbytes in items:
                    if abs(d) <= 1e-3:
                        same.append(f"{label} {model}")
                        continue
                    text = f"{label} {model} {fmt_tensors(abs(d))} ({fmt_bytes(abs(nbytes or 0))})"
                    (saved if d > 0 else more).append(text)
            if dims:
                lines.append(
                    "memory per layer of a training step, jrelu against jax.nn, in activation "
                    f"tensors (bytes at the measured sizes: MLP {dims.get('batch')}×{dims.get('width')}, "
                    f"CNN {dims.get('batch')}×{dims.get('cnn_side')}²×{dims.get('width')} float32, FFN "
                    "tokens×hidden; for your model: tensors × batch × features × bytes per element):"
                )
            lines.append("  saves: " + (", ".join(saved) or "nothing"))
            if same:
                lines.append("  the same: " + ", ".join(same))
            if more:
                lines.append("  keeps more: " + ", ".join(more))
            continue
        parts = []
        for kind in ("faster", "parity", "slower"):
            items = sorted(v[kind], key=lambda t: t[1])
            if items:
                shown = ", ".join(lb if kind == "parity" else f"{lb} {r:.2f}×" for lb, r in items)
                parts.append(f"{kind}: {shown}")
        lines.append(
            f"{v['name']} ({v['scope']}; time ÷ jax.nn, noise band ±{100 * v['band']:.1f}%): "
            + "; ".join(parts)
        )
    return lines + sparse.verdict_lines(results)


# --------------------------------------------------------------------------------------------------
# Goals
# --------------------------------------------------------------------------------------------------


def goal_lines(results: dict[str, Any]) -> list[tuple[bool, str]]:
    """(met, text) for each goal of the benchmark issue that these results can judge."""
    out: list[tuple[bool, str]] = []
    mem = [r for r in results.get("memory", []) if r["impl"] == "jrelu" and r["fn"] != "prelu"]
    if mem:
        bad = [
            f"{r['label']} ({r['model']}: {fmt_tensors(r['extra_tensors_per_layer'])})"
            for r in mem
            if r["extra_tensors_per_layer"] > MEMORY_GOAL + 1e-6
        ]
        out.append(
            (
                not bad,
                "backward memory ≤ 1/32 extra tensor per layer (all but prelu)"
                + (": missed by " + ", ".join(bad) if bad else ""),
            )
        )
    rat = ratios(results.get("speed", []))
    for pass_ in PASSES:
        med: dict[tuple, list[float]] = defaultdict(list)
        for (label, dt, p, _), v in rat.items():
            if p == pass_:
                med[(label, dt)].append(v)
        if med:
            bad = [
                f"{lb} {dt} ({median(v):.3f})"
                for (lb, dt), v in med.items()
                if median(v) > RATIO_GOAL
            ]
            out.append(
                (
                    not bad,
                    f"{pass_}: median time ratio to jax.nn ≤ 1.0"
                    + (": missed by " + ", ".join(bad) if bad else ""),
                )
            )
    train = _train(results)
    tr = {
        (lb, m): train[(lb, m, "jrelu")] / train[(lb, m, "jax.nn")]
        for (lb, m, impl) in train
        if impl == "jrelu" and (lb, m, "jax.nn") in train
    }
    if tr:
        bad = [f"{lb} {m} ({v:.3f})" for (lb, m), v in tr.items() if v > RATIO_GOAL]
        out.append(
            (
                not bad,
                "training step time ratio to jax.nn ≤ 1.0"
                + (": missed by " + ", ".join(bad) if bad else ""),
            )
        )
    if results.get("backend") == "gpu":
        sizes = _sizes(results)
        if sizes:
            top = sizes[-1]
            bad = [
                f"{r['label']} {r['dtype']} ({fmt_pct(r['fraction_of_copy'])})"
                for r in results["speed"]
                if r["impl"] == "jrelu"
                and r["pass"] == "fwd"
                and r["size"] == top
                and r["fraction_of_copy"] < GPU_COPY_GOAL
            ]
            out.append(
                (
                    not bad,
                    f"GPU forward ≥ 90% of copy bandwidth at {size_text(top)}"
                    + (": missed by " + ", ".join(bad) if bad else ""),
                )
            )
    return out


# --------------------------------------------------------------------------------------------------
# Terminal tables (rich)
# --------------------------------------------------------------------------------------------------


def print_report(console: Any, results: dict[str, Any]) -> None:
    for line in header_lines(results):
        console.print(line)
    sizes, dts = _sizes(results), _dtypes(results)
    sp, copy = _speed(results), _copy(results)
    has_torch = any(r["impl"] == "torch" for r in results.get("speed", []))

    if copy:
        t = Table(
            title="Copy ceiling, GB/s (read + write): the faster of jit(jnp.copy) and "
            "jit(jnp.negative) (* where the negation was faster)",
            title_justify="left",
        )
        t.add_column("dtype")
        for n in sizes:
            t.add_column(size_text(n), justify="right")
        for dt in dts:
            t.add_row(dt, *(_ceiling_cell(copy.get((dt, n))) for n in sizes))
        _show(console, t)

    if sizes:
        top = sizes[-1]
        t = Table(
            title=f"Speed at {size_text(top)} elements (median; ±: half the interquartile range). "
            f"Bytes: fwd {TRAFFIC_TEXT['fwd']}, fwd+bwd {TRAFFIC_TEXT['fwd+bwd']} ({GATED_BYTES})",
            title_justify="left",
        )
        t.add_column("function")
        t.add_column("dtype")
        for pass_ in PASSES:
            t.add_column(f"{pass_} jrelu", justify="right")
            t.add_column("GB/s", justify="right")
            t.add_column("% copy", justify="right")
            t.add_column("÷ jax.nn", justify="right")
            if has_torch:
                t.add_column("÷ torch", justify="right")
        for label in _labels(results):
            for dt in dts:
                cells = [escape(label), dt]
                for pass_ in PASSES:
                    r = sp.get((label, dt, pass_, top, "jrelu"))
                    b = sp.get((label, dt, pass_, top, "jax.nn"))
                    c = sp.get((label, dt, pass_, top, "torch"))
                    if r is None:
                        cells += ["–"] * (5 if has_torch else 4)
                        continue
                    cells += [
                        f"{fmt_time(r['seconds'])} ±{100 * _spread(r):.0f}%",
                        f"{r['gbps']:.1f}",
                        fmt_copy(r.get("fraction_of_copy")),
                        _ratio_cell(r, b),
                    ]
                    if has_torch:
                        cells.append(_ratio_cell(r, c, colour=False))
                t.add_row(*cells)
        _show(console, t)
        if any(
            (r.get("fraction_of_copy") or 0) > 1
            for r in results.get("speed", [])
            if r["size"] == top
        ):
            console.print(OVER_COPY_NOTE, highlight=False)

        rat = ratios(results.get("speed", []))
        t = Table(
            title="Time ratio jrelu ÷ jax.nn by size (below 1: jrelu faster)", title_justify="left"
        )
        for col in ("function", "dtype", "pass"):
            t.add_column(col)
        for n in sizes:
            t.add_column(size_text(n), justify="right")
        for label in _labels(results):
            for dt in dts:
                for pass_ in PASSES:
                    vals = [rat.get((label, dt, pass_, n)) for n in sizes]
                    if all(v is None for v in vals):
                        continue
                    t.add_row(escape(label), dt, pass_, *(_colour(v) for v in vals))
        _show(console, t)

    mem = _memory(results)
    status = results.get("memory_status", {"available": True})
    if mem and not status.get("available", True):
        console.print(
            f"\n[bold]Backward memory[/]: unavailable on this backend ({escape(status['reason'])}); "
            "the raw bytes are in the JSON."
        )
    elif mem:
        floor = {
            r["model"]: r.get("floor_tensors_per_layer")
            for r in results["memory"]
            if r["impl"] == "identity"
        }
        t = Table(
            title="Backward memory: extra activation-sized tensors per layer kept by a compiled "
            "training step, beyond the identity network (float32)",
            title_justify="left",
        )
        t.add_column("function")
        for model in ("mlp", "cnn"):
            t.add_column(f"{model} jrelu", justify="right")
            t.add_column(f"{model} jax.nn", justify="right")
        cells = []
        for m in ("mlp", "cnn"):
            keeps = f"0 (keeps {fmt_tensors(floor[m])})" if m in floor else "–"
            cells += [keeps, keeps]
        t.add_row("identity (floor)", *cells)
        for label in _labels(results):
            if not any(k[0] == label for k in mem):
                continue
            t.add_row(
                escape(label),
                *(
                    fmt_tensors(mem.get((label, m, i)))
                    for m in ("mlp", "cnn")
                    for i in ("jrelu", "jax.nn")
                ),
            )
        _show(console, t)

    train = _train(results)
    if train:
        dims = {r["model"]: r.get("dims", {}) for r in results["train_step"]}
        desc = "; ".join(f"{m}: {_dims_text(m, d)}" for m, d in dims.items())
        t = Table(
            title=f"Training step (Flax linen + optax.adam, jit; median). {desc}",
            title_justify="left",
        )
        t.add_column("function")
        for model in ("mlp", "cnn"):
            t.add_column(f"{model} jrelu", justify="right")
            t.add_column(f"{model} jax.nn", justify="right")
            t.add_column("ratio", justify="right")
        for label in _labels(results):
            cells = [escape(label)]
            for m in ("mlp", "cnn"):
                ta, tb = train.get((label, m, "jrelu")), train.get((label, m, "jax.nn"))
                cells += [fmt_time(ta), fmt_time(tb), _colour(ta / tb if ta and tb else None)]
            t.add_row(*cells)
        _show(console, t)

    disp = results.get("dispatch", [])
    if disp:
        d = {(r["label"], r["impl"]): r["seconds"] for r in disp}
        n = disp[0]["size"]
        t = Table(
            title=f"Eager call overhead: one call of the public function on {n} float32 "
            "elements, no outer jit",
            title_justify="left",
        )
        for col in ("function", "jrelu", "jax.nn", "ratio"):
            t.add_column(col, justify="left" if col == "function" else "right")
        for label in _labels(results):
            a, b = d.get((label, "jrelu")), d.get((label, "jax.nn"))
            if a is None and b is None:
                continue
            t.add_row(escape(label), fmt_time(a), fmt_time(b), _colour(a / b if a and b else None))
        _show(console, t)

    _ffn_table(console, results)
    sparse.print_table(console, results)

    comp = results.get("compile", {})
    if comp:
        t = Table(title="Compilation (excluded from the timings above)", title_justify="left")
        for col in ("section", "impl", "programs", "total", "median"):
            t.add_column(col, justify="left" if col in ("section", "impl") else "right")
        for section, by_impl in comp.items():
            for impl, v in by_impl.items():
                t.add_row(
                    section, impl, str(v["count"]), f"{v['total']:.1f} s", fmt_time(v["median"])
                )
        _show(console, t)

    if results.get("mode", "full") == "full":  # the kept run: the project's own targets
        for met, text in goal_lines(results):
            console.print(
                ("internal goal met: " if met else "internal goal not met: ") + escape(text),
                highlight=False,
            )
    lines = verdict_lines(results)
    if lines:
        console.print(
            "\n[bold]Verdicts[/] (faster / parity / slower: beyond or inside this run's own noise band, "
            "from the interleaved repeats; ratios are time ÷ jax.nn, below 1 is faster)"
        )
        for line in lines:
            console.print("  " + escape(line), highlight=False)
    if results.get("errors"):
        console.print(f'\n[red]{len(results["errors"])} error(s)[/]: see "errors" in the JSON')
        for e in results["errors"][:10]:
            where = " ".join(
                f"{k}={v}" for k, v in e.items() if k not in ("section", "error", "traceback")
            )
            console.print(f"  {e['section']} {where}: {escape(e['error'][:200])}", highlight=False)


OVER_COPY_NOTE = (
    "† above 100% of copy: the pass beat the copy kernel measured at the same size. Where the data "
    "(partly) sits in cache a single XLA copy is not the fastest way to move it (XLA:CPU runs a bare "
    "copy on one thread), and on a busy machine the two are timed at different moments; either way "
    "this is not a bandwidth figure. Bandwidth-bound sizes are those whose bytes exceed the "
    "last-level cache, on a quiet machine."
)


def fmt_copy(f: float | None) -> str:
    """A share of the copy ceiling; above 100% marked † (see OVER_COPY_NOTE)."""
    text = fmt_pct(f)
    return text + "†" if f is not None and math.isfinite(f) and f > 1 else text


def _ffn_table(console: Any, results: dict[str, Any]) -> None:
    """The FFN section: hidden-sized tensors per layer kept beyond the identity FFN, jrelu against the
    jax.nn formulation, float32 and bfloat16, and the median time of one SGD step."""
    rows = results.get("ffn", [])
    if not rows:
        return
    mem = {(r["fn"], r["dtype"], r["impl"]): r for r in rows if r.get("kind") == "memory"}
    tim = {(r["fn"], r["dtype"], r["impl"]): r for r in rows if r.get("kind") == "time"}
    d = results.get("config", {}).get("ffn_dims") or rows[0].get("dims", {})
    ok = results.get("memory_status", {}).get("available", True)
    t = Table()
    t.title = (
        f"Transformer FFN x + act(x @ W1) @ W2 ({d.get('batch')} tokens, d_model {d.get('d_model')}, "
        f"hidden {d.get('hidden')}): hidden-sized tensors per layer kept beyond the identity FFN "
        f"(compiled jit(grad)), and one SGD step of {d.get('depth')} layers (median)"
        + ("" if ok else "; memory unavailable on this backend")
    )
    for col in ("function", "dtype", "peer", "kept jrelu", "kept jax.nn", "saved / layer"):
        t.add_column(col, justify="left" if col in ("function", "dtype", "peer") else "right")
    for col in ("step jrelu", "step jax.nn", "ratio"):
        t.add_column(col, justify="right")
    keys = list(dict.fromkeys((fn, dt) for fn, dt, _ in [*mem, *tim]))
    for fn, dt in keys:
        a, b = mem.get((fn, dt, "jrelu")), mem.get((fn, dt, "jax.nn"))
        ta, tb = tim.get((fn, dt, "jrelu")), tim.get((fn, dt, "jax.nn"))
        peer = (b or tb or {}).get("peer", "")
        if a and b and ok:
            ka, kb = a["extra_hidden_tensors_per_layer"], b["extra_hidden_tensors_per_layer"]
            saved = fmt_bytes((kb - ka) * a["tensor_bytes"]) if a.get("tensor_bytes") else "–"
            cells = [fmt_tensors(ka), fmt_tensors(kb), saved]
        else:
            cells = ["–", "–", "–"]
        sa, sb = (ta or {}).get("seconds"), (tb or {}).get("seconds")
        cells += [fmt_time(sa), fmt_time(sb), _colour(sa / sb if sa and sb else None)]
        t.add_row(escape(fn), dt, escape(peer), *cells)
    _show(console, t)


def _show(console: Any, table: Any) -> None:
    """The title on a line of its own (a table's title wraps at the table's width), then the table."""
    title, table.title = table.title, None
    console.print(f"\n[bold]{escape(str(title))}[/]")
    console.print(table)


def _ceiling_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "–"
    return f"{r['gbps']:.1f}" + ("*" if r.get("kernel") == "negate" else "")


def _spread(r: dict[str, Any]) -> float:
    s = r["seconds"]
    return (r["seconds_q3"] - r["seconds_q1"]) / 2 / s if s else 0.0


def _ratio_cell(a: dict[str, Any] | None, b: dict[str, Any] | None, colour: bool = True) -> str:
    if not a or not b:
        return "–"
    v = a["seconds"] / b["seconds"]
    return _colour(v) if colour else fmt_ratio(v)


def _colour(v: float | None) -> str:
    if v is None:
        return "–"
    style = "green" if v <= RATIO_GOAL else ("yellow" if v <= 1.1 else "red")
    return f"[{style}]{v:.2f}[/]"


def _dims_text(model: str, d: dict[str, Any]) -> str:
    if model == "mlp":
        return f"{d.get('depth')}×Dense({d.get('width')}), batch {d.get('batch')}"
    return (
        f"{d.get('depth')}×Conv3x3({d.get('width')}), {d.get('side')}×{d.get('side')} images, "
        f"batch {d.get('batch')}"
    )


def compile_summary(sections: dict[str, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, rows in sections.items():
        by: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            if r.get("compile_seconds") is not None:
                by[r["impl"]].append(r["compile_seconds"])
        if by:
            out[section] = {
                impl: {"count": len(v), "total": sum(v), "median": median(v)}
                for impl, v in by.items()
            }
    return out


# --------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------

_STYLE = {"jrelu": "#d62728", "jax.nn": "#1f77b4", "torch": "#7f7f7f"}


def plot(results: dict[str, Any], path: str) -> None:
    """Throughput (GB/s) against size, one panel per function and dtype, the copy ceiling drawn in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, dts, sizes = _labels(results), _dtypes(results), _sizes(results)
    labels = [lb for lb in labels if any(r["label"] == lb for r in results.get("speed", []))]
    if not labels or not dts:
        raise ValueError(
            "jrelu bench --plot: no speed results to plot (was the speed section run?)."
        )
    copy = _copy(results)
    fig, axes = plt.subplots(
        len(labels),
        len(dts),
        figsize=(5.2 * len(dts), 2.4 * len(labels) + 0.8),
        sharex=True,
        squeeze=False,
    )
    for i, label in enumerate(labels):
        for j, dt in enumerate(dts):
            ax = axes[i][j]
            ns = [n for n in sizes if (dt, n) in copy]
            if ns:
                ax.plot(
                    ns,
                    [copy[(dt, n)]["gbps"] for n in ns],
                    color="black",
                    ls=":",
                    lw=1.5,
                    marker="_",
                    ms=10,
                    label="copy ceiling",
                )
            for impl, colour in _STYLE.items():
                for pass_, ls in zip(PASSES, ("-", "--"), strict=True):
                    pts = sorted(
                        (r["size"], r["gbps"])
                        for r in results["speed"]
                        if r["label"] == label
                        and r["dtype"] == dt
                        and r["impl"] == impl
                        and r["pass"] == pass_
                    )
                    if pts:
                        ax.plot(
                            *zip(*pts, strict=True),
                            color=colour,
                            ls=ls,
                            marker="o",
                            ms=3,
                            label=f"{impl} {pass_}",
                        )
            ax.set_xscale("log", base=2)
            ax.set_ylim(bottom=0)
            ax.set_title(f"{label}, {dt}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("GB/s", fontsize=8)
            if i == len(labels) - 1:
                ax.set_xlabel("elements", fontsize=8)
    handles, names = axes[0][0].get_legend_handles_labels()
    height = fig.get_figheight()
    fig.suptitle(
        f"jrelu bench: {results['device']} ({results.get('device_detail', '')}; {results['backend']}), "
        f"jax {results['jax_version']}, {results.get('date', '')[:10]}. "
        "Throughput = bytes the pass must move / median time",
        fontsize=10,
        y=1 - 0.12 / height,
        va="top",
    )
    fig.legend(
        handles, names, loc="lower center", ncol=min(len(names), 7), fontsize=8, frameon=False
    )
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1 - 0.45 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)
