"""``jrelu bench``: turning a results dict into tables (terminal, Markdown), verdicts, a goal check and
a plot.

The verdicts are what a user acts on: for each timed section, the functions where jrelu is faster than
its peer, at parity, or slower, made from consistent evidence only, and otherwise inconclusive
(:mod:`jrelu._cli.bench.verdicts` has the rules), and the memory it saves. The project's internal
goals (:func:`goal_lines`) are printed only for ``--full``, the kept run. Every table names each
function's peer (jax.nn's function, the ``jnp.where`` formulation, or with a key ``jax.random``
draws), and shows a share of the copy ceiling only where it is a bandwidth figure (:func:`copy_cell`).

Everything here reads only the JSON-shaped results dict, so the README table
(``benchmarks/update_readme.py``), the terminal tables and ``jrelu compare`` are rendered from the same
figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

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
from jrelu._cli.bench.verdicts import busy, machine_text, verdicts
from jrelu._core import SMALL_ON_CPU, is_small_activation

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


def run_mode(results: dict[str, Any]) -> str:
    """``quick``, ``default`` or ``full``. Runs from before the mode was recorded had two modes,
    ``--quick`` and the kept one, so a file without it is ``quick`` or ``full``."""
    return str(results.get("mode") or ("quick" if results.get("quick") else "full"))


def backend_text(results: dict[str, Any]) -> str:
    """``cpu``, or ``gpu (cuda 12.8)``: the platform's version where it says more than the backend."""
    version = str(results.get("platform_version") or "")
    backend = str(results.get("backend", "?"))
    return backend if version in ("", backend) else f"{backend} ({version})"


def device_text(results: dict[str, Any]) -> str:
    """``cpu (AMD EPYC, 2 cores)``, or ``NVIDIA H100 80GB HBM3``: the detail in brackets only where it
    says more than the device (off the CPU the bench records the device kind as both)."""
    device = str(results.get("device") or "?")
    detail = str(results.get("device_detail") or "")
    return device if detail in ("", device) else f"{device} ({detail})"


def start_lines(results: dict[str, Any]) -> list[str]:
    """What a run is about to do and on what, printed before its first section (which compiles for a
    while): the device, the versions, the plan and how busy the machine is."""
    cfg = results.get("config", {})
    sizes = cfg.get("sizes") or []
    shown = " ".join(size_text(n) for n in sizes)
    m = results.get("machine") or {}
    return [
        f"jrelu bench: {run_mode(results)} run on {device_text(results)}, "
        f"backend {backend_text(results)}, "
        f"jax {results['jax_version']}, jrelu {results.get('jrelu_version', '?')}",
        f"sections {' '.join(cfg.get('sections', []))}; sizes {shown}; "
        f"{len(cfg.get('fns', []))} functions; {cfg.get('repeats', '?')} repeats",
        f"machine: {m.get('cores', '?')} cores, at the start {machine_text(m.get('start'))}",
    ]


def header_lines(results: dict[str, Any]) -> list[str]:
    r = results
    torch = r.get("torch_version") or "not importable"
    lines = [
        f"device: {device_text(r)}, backend {backend_text(r)}",
        f"jax {r['jax_version']}, jaxlib {r.get('jaxlib_version', '?')}, jrelu {r.get('jrelu_version', '?')}, "
        f"flax {r.get('flax_version', '?')}, optax {r.get('optax_version', '?')}, torch {torch}",
        f"date {r.get('date', '?')}, {run_mode(r)} run, {r.get('wall_seconds', math.nan):.0f} s",
    ]
    m = r.get("machine")
    if m:
        state = busy(r)
        lines.append(
            f"machine: {m.get('cores', '?')} cores; at the start {machine_text(m.get('start'))}; "
            f"at the end {machine_text(m.get('end'))}"
            + (
                "; busy: a verdict the repeats do not settle is inconclusive"
                if state
                else "; quiet"
            )
        )
    return lines


# --------------------------------------------------------------------------------------------------
# The summary (one row per function): the README table and the last terminal table
# --------------------------------------------------------------------------------------------------


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per function: its peer, median-over-sizes time ratios to it, share of copy bandwidth at the
    largest size (as :func:`copy_cell` shows it), backward memory (jrelu, peer) and training-step
    ratios."""
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
                row[f"copy {pass_} {dt}"] = copy_cell(
                    sp.get((label, dt, pass_, top, "jrelu")), results
                )
        row["peer"] = peer_names(results).get(label, "–")
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
        f"Measured by `jrelu bench` on **{results['device']}** ("
        + (f"{results['device_detail']}; " if device_text(results) != results["device"] else "")
        + f"backend {results['backend']}, jax {results['jax_version']}, {results.get('date', '')[:10]}"
        + (f"; from `{source}`" if source else "")
        + ").",
        "",
        f"Two figures in a cell: {dt_names}; kept: jrelu / peer; train step: MLP / CNN.",
        "",
        f"| function | peer | fwd time ÷ peer | fwd+bwd time ÷ peer | fwd, share of copy at {top} "
        "| kept per layer, MLP | kept, CNN | train step ÷ peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"`{r['label']}`",
            f"`{r['peer']}`",
            " / ".join(fmt_ratio(r.get(f"ratio fwd {dt}")) for dt in dts),
            " / ".join(fmt_ratio(r.get(f"ratio fwd+bwd {dt}")) for dt in dts),
            " / ".join(r[f"copy fwd {dt}"] for dt in dts),
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
        "Time ratios are jrelu's median time over its peer's (the column before them: jax.nn's "
        "function, the `jnp.where` formulation, with a key `jax.random` draws), the median over sizes "
        + (f"{size_text(sizes[0])}–{size_text(sizes[-1])}" if sizes else "")
        + " elements; below 1 is faster. "
        f"Copy ceiling at {top}: {ceil or '–'}. Bytes counted: fwd {TRAFFIC_TEXT['fwd']}, fwd+bwd "
        f"{TRAFFIC_TEXT['fwd+bwd']} ({GATED_BYTES}). Kept: activation-sized tensors per layer a compiled "
        "training step keeps beyond the identity network"
        + (
            f" (which itself keeps {fmt_tensors(floor.get('mlp'))} (MLP) and "
            f"{fmt_tensors(floor.get('cnn'))} (CNN))"
            if floor
            else ""
        )
        + "; prelu's slope is learned per channel there.",
    ]
    lines[-1] += "".join(" " + note for note in copy_notes(results, "\n".join(lines[6:])))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Verdicts (the logic: jrelu._cli.bench.verdicts)
# --------------------------------------------------------------------------------------------------


def verdict_lines(results: dict[str, Any]) -> list[str]:
    """The verdicts (:mod:`jrelu._cli.bench.verdicts`) as plain lines: the end of the terminal report."""
    lines = []
    dims = results.get("config", {}).get("memory_dims", {})
    for v in verdicts(results):
        if v["name"] == "memory":
            lines += _memory_lines(v, dims)
            continue
        parts = []
        for kind in ("faster", "parity", "slower", "inconclusive"):
            calls = sorted((v["calls"][lb] for lb, _ in v[kind]), key=lambda c: c.ratio)
            if not calls:
                continue
            if kind == "parity":
                shown = ", ".join(c.label for c in calls)
            elif kind == "inconclusive":
                shown = ", ".join(_inconclusive_text(c) for c in calls)
            else:
                shown = ", ".join(
                    f"{c.label} {c.ratio:.2f}× ({c.low:.2f}–{c.high:.2f})" for c in calls
                )
            head = "inconclusive (machine busy)" if kind == "inconclusive" and v["busy"] else kind
            parts.append(f"{head}: {shown}")
        lines.append(
            f"{v['name']} ({v['scope']}; time ÷ peer, noise band ±{100 * v['band']:.1f}%): "
            + "; ".join(parts)
        )
        if v.get("bytes"):
            shown = ", ".join(f"{lb} {r:.2f}×" for lb, r in sorted(v["bytes"], key=lambda t: t[1]))
            lines.append(f"  {v['name']}, XLA's bytes accessed ÷ the peer's: {shown}")
    return lines + sparse.verdict_lines(results)


def _inconclusive_text(c: Any) -> str:
    """``prelu 1.29× (mlp 1.58, cnn 1.00; one pair carries it)``: the ratio, its pairs, the reason."""
    each = ", ".join(f"{n} {x:.2f}" for n, x in c.pairs) if len(c.pairs) > 1 else ""
    return f"{c.label} {c.ratio:.2f}× ({'; '.join(t for t in (each, c.reason) if t)})"


def _memory_lines(v: dict[str, Any], dims: dict[str, Any]) -> list[str]:
    if not v["available"]:
        return [f"memory: unavailable on this backend ({v['reason']})"]
    saved: list[str] = []
    same: list[str] = []
    more: list[str] = []
    for label, items in v["saves"].items():
        for where, d, nbytes in items:
            if abs(d) <= 1e-3:
                same.append(f"{label} {where}")
                continue
            text = f"{label} {where} {fmt_tensors(abs(d))} ({fmt_bytes(abs(nbytes or 0))})"
            (saved if d > 0 else more).append(text)
    lines = []
    if dims:
        lines.append(
            "memory per layer of a training step, jrelu against its peer, in activation "
            f"tensors (bytes at the measured sizes: MLP {dims.get('batch')}×{dims.get('width')}, "
            f"CNN {dims.get('batch')}×{dims.get('cnn_side')}²×{dims.get('width')} float32, FFN "
            "tokens×hidden; for your model: tensors × batch × features × bytes per element):"
        )
    lines.append("  saves: " + (", ".join(saved) or "nothing"))
    if same:
        lines.append("  the same: " + ", ".join(same))
    if more:
        lines.append("  keeps more: " + ", ".join(more))
    return lines


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
    peers = peer_names(results)

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
        t.add_column("peer")
        t.add_column("dtype")
        for pass_ in PASSES:
            t.add_column(f"{pass_} jrelu", justify="right")
            t.add_column("GB/s", justify="right")
            t.add_column("% copy", justify="right")
            t.add_column("÷ peer", justify="right")
            if has_torch:
                t.add_column("÷ torch", justify="right")
        shares = []
        for label in _labels(results):
            for dt in dts:
                cells = [escape(label), escape(peers.get(label, "–")), dt]
                for pass_ in PASSES:
                    r = sp.get((label, dt, pass_, top, "jrelu"))
                    b = sp.get((label, dt, pass_, top, "jax.nn"))
                    c = sp.get((label, dt, pass_, top, "torch"))
                    if r is None:
                        cells += ["–"] * (5 if has_torch else 4)
                        continue
                    shares.append(copy_cell(r, results))
                    cells += [
                        f"{fmt_time(r['seconds'])} ±{100 * _spread(r):.0f}%",
                        f"{r['gbps']:.1f}",
                        shares[-1],
                        _ratio_cell(r, b),
                    ]
                    if has_torch:
                        cells.append(_ratio_cell(r, c, colour=False))
                t.add_row(*cells)
        _show(console, t)
        for note in copy_notes(results, " ".join(shares)):
            console.print(note, highlight=False)

        rat = ratios(results.get("speed", []))
        t = Table(
            title="Time ratio jrelu ÷ peer by size (below 1: jrelu faster)", title_justify="left"
        )
        for col in ("function", "peer", "dtype", "pass"):
            t.add_column(col)
        for n in sizes:
            t.add_column(size_text(n), justify="right")
        for label in _labels(results):
            for dt in dts:
                for pass_ in PASSES:
                    vals = [rat.get((label, dt, pass_, n)) for n in sizes]
                    if all(v is None for v in vals):
                        continue
                    peer = escape(peers.get(label, "–"))
                    t.add_row(escape(label), peer, dt, pass_, *(_colour(v) for v in vals))
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
        t.add_column("peer")
        for model in ("mlp", "cnn"):
            t.add_column(f"{model} jrelu", justify="right")
            t.add_column(f"{model} peer", justify="right")
        cells = []
        for m in ("mlp", "cnn"):
            keeps = f"0 (keeps {fmt_tensors(floor[m])})" if m in floor else "–"
            cells += [keeps, keeps]
        t.add_row("identity (floor)", "", *cells)
        for label in _labels(results):
            if not any(k[0] == label for k in mem):
                continue
            t.add_row(
                escape(label),
                escape(peers.get(label, "–")),
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
        t.add_column("peer")
        for model in ("mlp", "cnn"):
            t.add_column(f"{model} jrelu", justify="right")
            t.add_column(f"{model} peer", justify="right")
            t.add_column("ratio", justify="right")
        for label in _labels(results):
            cells = [escape(label), escape(peers.get(label, "–"))]
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
        for col in ("function", "peer", "jrelu", "peer time", "ratio"):
            t.add_column(col, justify="left" if col in ("function", "peer") else "right")
        for label in _labels(results):
            a, b = d.get((label, "jrelu")), d.get((label, "jax.nn"))
            if a is None and b is None:
                continue
            peer = escape(peers.get(label, "–"))
            t.add_row(
                escape(label), peer, fmt_time(a), fmt_time(b), _colour(a / b if a and b else None)
            )
        _show(console, t)

    _ffn_table(console, results)
    _blocks_table(console, results)
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

    if run_mode(results) == "full":  # the kept run: the project's own targets
        for met, text in goal_lines(results):
            console.print(
                ("internal goal met: " if met else "internal goal not met: ") + escape(text),
                highlight=False,
            )
    lines = verdict_lines(results)
    if lines:
        console.print(
            "\n[bold]Verdicts[/] (ratios are time ÷ the function's peer, named in the tables above; below 1 "
            "is faster. Faster or slower: beyond this run's noise band, with the 90% bootstrap interval "
            "of the interleaved repeats on that side of 1, CPU time agreeing and no single pair "
            "carrying it; parity: inside the band; otherwise inconclusive)"
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
    "this is not a bandwidth figure, and its value is not shown."
)
IN_CACHE = "in cache"


def in_cache_note(results: dict[str, Any]) -> str:
    return (
        f"{IN_CACHE}: the bytes the pass moves fit in this machine's last-level cache "
        f"({fmt_bytes(results.get('cache_bytes'))}), so its share of copy bandwidth is no bandwidth "
        "figure and is not shown."
    )


def copy_cell(row: dict[str, Any] | None, results: dict[str, Any]) -> str:
    """A pass's share of the copy ceiling as the tables show it: a percentage where it is a bandwidth
    figure; ``in cache`` where the pass's bytes fit in the last-level cache the run recorded
    (``cache_bytes``; a CPU's), ``>100%†`` where the pass beat the copy (:data:`OVER_COPY_NOTE`)."""
    f = None if row is None else row.get("fraction_of_copy")
    if f is None or not math.isfinite(f):
        return "–"
    cache = results.get("cache_bytes")
    if cache and row is not None and row.get("bytes", math.inf) <= cache:
        return IN_CACHE
    return ">100%†" if f > 1 else fmt_pct(f)


def copy_notes(results: dict[str, Any], text: str) -> list[str]:
    """The notes that the marks in ``text`` (table cells made by :func:`copy_cell`) need."""
    return [
        note
        for mark, note in ((IN_CACHE, in_cache_note(results)), ("†", OVER_COPY_NOTE))
        if mark in text
    ]


def peer_names(results: dict[str, Any]) -> dict[str, str]:
    """Each function's peer, by label: what the bench runs for it (:attr:`Case.peer_name`), or for a
    label the table does not know, what its rows name (``peer``)."""
    from jrelu._cli.bench.speed import build_cases

    out = {}
    for section in ("speed", "train_step", "dispatch", "memory"):
        for r in results.get(section) or []:
            if isinstance(r, dict) and r.get("peer") and r.get("label"):
                out[r["label"]] = r["peer"]
    # The table's own naming where it knows the label: older files named rrelu[train]'s and
    # alpha_dropout's peer "jnp.where" alone, though it drew its numbers with jax.random.
    out.update({c.label: c.peer_name for c in build_cases()})
    return out


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


def _blocks_table(console: Any, results: dict[str, Any]) -> None:
    """The blocks section: per function, dtype and d_model, the hidden-sized tensors a transformer
    block keeps beyond the identity block (jrelu, peer), XLA's bytes accessed and flops of the timed
    step (jrelu ÷ peer) and the median step times."""
    rows = results.get("blocks", [])
    if not rows:
        return
    mem = {
        (r["label"], r["dtype"], r["d_model"], r["impl"]): r for r in rows if r["kind"] == "memory"
    }
    tim = {
        (r["label"], r["dtype"], r["d_model"], r["impl"]): r for r in rows if r["kind"] == "time"
    }
    ok = results.get("memory_status", {}).get("available", True)
    d = rows[0].get("dims", {})
    t = Table()
    t.title = (
        f"Pre-LN transformer block (causal attention, FFN hidden 4×d_model, {_tokens_text(rows)}): "
        "hidden-sized tensors a block keeps beyond the identity block (compiled jit(grad), depths "
        f"{'/'.join(map(str, d.get('depths', [])))}), and one SGD step of "
        f"{d.get('depth')} block{'' if d.get('depth') == 1 else 's'}: "
        "XLA's bytes accessed and flops ÷ the peer's, median time"
        + ("" if ok else "; memory unavailable on this backend")
    )
    for col in ("function", "dtype", "d_model", "peer", "kept jrelu", "kept peer"):
        t.add_column(col, justify="left" if col in ("function", "dtype", "peer") else "right")
    for col in ("bytes ÷", "flops ÷", "step jrelu", "step peer", "ratio"):
        t.add_column(col, justify="right")
    for label, dt, width in dict.fromkeys(k[:3] for k in [*mem, *tim]):
        a, b = mem.get((label, dt, width, "jrelu")), mem.get((label, dt, width, "jax.nn"))
        ta, tb = (
            tim.get((label, dt, width, "jrelu")) or {},
            tim.get((label, dt, width, "jax.nn")) or {},
        )
        peer = (b or tb or {}).get("peer", "")
        kept = (
            [fmt_tensors(a["extra_tensors_per_layer"]), fmt_tensors(b["extra_tensors_per_layer"])]
            if a and b and ok
            else ["–", "–"]
        )
        cost = [
            fmt_ratio(ta[k] / tb[k]) if ta.get(k, -1) > 0 and tb.get(k, -1) > 0 else "–"
            for k in ("bytes_accessed", "flops")
        ]
        sa, sb = ta.get("seconds"), tb.get("seconds")
        times = [fmt_time(sa), fmt_time(sb), _colour(sa / sb if sa and sb else None)]
        t.add_row(escape(label), dt, str(width), escape(peer), *kept, *cost, *times)
    _show(console, t)
    small = {
        r["d_model"]
        for r in rows
        if is_small_activation(
            tuple((r.get("dims") or {}).get(k) for k in ("batch", "seq", "hidden"))
        )
    }
    if small and results.get("backend") == "cpu":
        console.print(
            "On XLA:CPU relu, relu6 and squared_relu keep x, as jax.nn does, in 3-D activations of "
            f"fewer than 2^{SMALL_ON_CPU.bit_length() - 1} elements (here at d_model "
            f"{', '.join(map(str, sorted(small)))}), where the floor cost step time; above, they keep "
            "y (jrelu/README.md, design notes).",
            highlight=False,
        )


def _tokens_text(rows: Sequence[dict[str, Any]]) -> str:
    """``batch×seq 8×128``, or with another shape at some d_model (``--full``'s 1024):
    ``batch×seq 8×128; at d_model 1024 2×128``. Read off the rows: what this run measured."""
    shapes: dict[Any, tuple[Any, Any]] = {}
    for r in rows:
        d = r.get("dims") or {}
        shapes.setdefault(r.get("d_model", d.get("d_model")), (d.get("batch"), d.get("seq")))
    common = max(set(shapes.values()), key=list(shapes.values()).count)
    text = f"batch×seq {common[0]}×{common[1]}"
    for width, (b, s) in shapes.items():
        if (b, s) != common:
            text += f"; at d_model {width} {b}×{s}"
    return text


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
    """Throughput (GB/s) against size, one panel per function and dtype, the copy ceiling drawn in.

    Laid out for a page's width: 7.8 inches (780 pixels at 100 dpi, the article column of the docs
    site at a 1400-pixel window), four panels a row (two functions in two dtypes), saved at 150 dpi
    so that it stays sharp when zoomed."""
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
    panels = [(label, dt) for label in labels for dt in dts]
    cols = min(len(panels), 4 if len(dts) == 2 else 3)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(7.8, 1.75 * nrows + 1.2), sharex=True, squeeze=False
    )
    for ax, (label, dt) in zip(axes.flat, panels, strict=False):
        ns = [n for n in sizes if (dt, n) in copy]
        if ns:
            ax.plot(
                ns,
                [copy[(dt, n)]["gbps"] for n in ns],
                color="black",
                ls=":",
                lw=1.2,
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
                        ms=2,
                        lw=1.2,
                        label=f"{'peer' if impl == 'jax.nn' else impl} {pass_}",
                    )
    finish_panels(axes, [f"{label}, {dt}" for label, dt in panels], size=7)
    handles, names = axes[0][0].get_legend_handles_labels()
    height = fig.get_figheight()
    fig.suptitle(
        f"jrelu bench: {device_text(results)}"
        + ("" if backend_text(results) == results["device"] else f", {backend_text(results)}")
        + f", jax {results['jax_version']}, {results.get('date', '')[:10]}\n"
        "throughput = bytes the pass must move / median time; peer: jax.nn's function, the "
        "jnp.where formulation or jax.random draws",
        fontsize=8,
        y=1 - 0.08 / height,
        va="top",
    )
    fig.legend(
        handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=7, frameon=False
    )
    fig.tight_layout(rect=(0, 0.5 / height, 1, 1 - 0.36 / height))
    fig.savefig(path, dpi=150)
    plt.close(fig)


def finish_panels(axes: Any, titles: Sequence[str], size: float = 7, log_y: bool = False) -> None:
    """Throughput panels, once drawn: sizes on a log2 axis, GB/s from 0 (``log_y``: on a log axis),
    the titles (font ``size`` + 1), the axis labels on the outer panels, the panels left over in the
    grid hidden."""
    for ax, title in zip(axes.flat, titles, strict=False):
        ax.set_xscale("log", base=2)
        if log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=size + 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=size - 1)
    for ax in axes.flat[len(titles) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("GB/s", fontsize=size)
    for ax in axes[-1, :]:
        ax.set_xlabel("elements", fontsize=size)
