"""``jrelu compare``: runs of ``jrelu bench --json`` side by side -- one table per section, one column
per run, and a figure of throughput against size with one line per run.

Nothing here knows a section's layout. A section is any list of rows that have an ``impl``; a row's
identity is its descriptive fields (:func:`jrelu._cli.bench.verdicts.identity`: the function, dtype,
pass, model, size, ...), and the rows of one identity measured as jrelu and as its peer make a pair.
What a table shows is read off the fields the pairs have (:data:`METRICS`): ``seconds`` gives the time
ratio to the peer, ``extra_..._tensors_...`` the tensors each keeps, ``..._bytes_accessed`` and
``..._flops`` their ratio, ``fraction_of_copy`` jrelu's share of the copy ceiling. Sizes are folded
into one figure per run (the median ratio over the run's sizes; the share of copy at its largest
size), as ``jrelu bench`` folds them. A section, a field or a function that a run's file lacks (an
older bench, other ``--sections`` or ``--fns``) shows as ``–`` in that run's column.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jrelu._cli.bench.report import (
    IN_CACHE,
    OVER_COPY_NOTE,
    backend_text,
    copy_cell,
    device_text,
    finish_panels,
    fmt_bytes,
    fmt_ratio,
    fmt_tensors,
    peer_names,
    run_mode,
)
from jrelu._cli.bench.speed import size_text
from jrelu._cli.bench.verdicts import OURS, PEER, busy, label_of, pairs

TITLES = {
    "speed": "Speed: jrelu's time ÷ its peer's (median over the run's sizes), and jrelu's share of "
    "the copy ceiling at the run's largest size",
    "memory": "Backward memory: extra activation-sized tensors per layer kept by a compiled training "
    "step, jrelu / peer",
    "train_step": "Training step: jrelu's step time ÷ its peer's",
    "ffn": "Transformer FFN: hidden-sized tensors per layer kept (jrelu / peer) and the step time ÷ "
    "the peer's",
    "dispatch": "Eager call: jrelu's time ÷ its peer's, one call on a small input",
}
NOT_SECTIONS = ("copy", "skipped", "errors")
# Identity fields that are folded (size: into one figure per run) or merged (kind: an FFN's memory
# and time rows are one function at one dtype), and those a table does not show as columns.
FOLDED = ("size", "kind")
HIDDEN = ("label", "fn", "key")  # the function is one column, named by label_of
MISSING = "–"


@dataclasses.dataclass
class Run:
    """One ``jrelu bench --json`` file: its number in the tables (``[1]``), path and contents."""

    name: str
    path: str
    results: dict[str, Any]


def _is_run(data: Any) -> bool:
    """Whether ``data`` is a bench run: the device or backend it ran on, and the run's ``config`` or
    a section of rows (an older bench, a hand-trimmed file). The other JSON files of
    benchmarks/results (the core figures, the throughput study, ...) name a device and a backend too,
    but have neither."""
    if not isinstance(data, dict) or not ({"device", "backend"} & set(data)):
        return False
    return isinstance(data.get("config"), dict) or any(
        isinstance(v, list) and any(isinstance(r, dict) and "impl" in r for r in v)
        for v in data.values()
    )


def load(paths: Sequence[str]) -> list[Run]:
    """The runs, in the order given; ValueError naming a file that is not a bench JSON."""
    runs = []
    for i, path in enumerate(paths, 1):
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON ({e.msg} at line {e.lineno}).") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: cannot be read ({e}).") from None
        if not _is_run(data):
            raise ValueError(
                f"{path}: not a file of `jrelu bench --json` (no 'device' or 'backend' field, or "
                "neither the run's 'config' nor a section of rows with an 'impl'). Give the files "
                "that `jrelu bench --json PATH` writes, e.g. benchmarks/results/bench-*.json."
            )
        runs.append(Run(f"[{i}]", str(path), data))
    return runs


# --------------------------------------------------------------------------------------------------
# The header: what each run is
# --------------------------------------------------------------------------------------------------


def _sizes_text(results: dict[str, Any]) -> str:
    rows = results.get("speed") or []
    sizes = sorted(
        {r["size"] for r in rows if isinstance(r, dict) and isinstance(r.get("size"), int)}
    )
    if not sizes:
        return "no speed section"
    return (
        f"sizes {size_text(sizes[0])}–{size_text(sizes[-1])}"
        if len(sizes) > 1
        else size_text(sizes[0])
    )


def _machine_text(results: dict[str, Any]) -> str:
    m = results.get("machine")
    state = busy(results)
    if state is None:
        return MISSING
    start = (m or {}).get("start") or {}
    load = start.get("load")
    share = start.get("cpu_share")
    detail = ", ".join(
        t
        for t in (
            f"load {load[0]:.1f}" if load else "",
            f"CPU ÷ wall {share:.2f}" if share is not None else "",
        )
        if t
    )
    return ("busy" if state else "quiet") + (f" ({detail} at the start)" if detail else "")


def _get(results: dict[str, Any], key: str) -> str:
    v = results.get(key)
    return MISSING if v in (None, "") else str(v)


HEADER: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("device", lambda r: device_text(r) if r.get("device") else MISSING),
    ("backend", lambda r: backend_text(r) if r.get("backend") else MISSING),
    ("jax / jaxlib", lambda r: f"{_get(r, 'jax_version')} / {_get(r, 'jaxlib_version')}"),
    ("jrelu", lambda r: _get(r, "jrelu_version")),
    ("date", lambda r: _get(r, "date")[:10]),
    (
        "run",
        lambda r: (
            f"{run_mode(r)}, {_sizes_text(r)}"
            + (
                f", {r['wall_seconds']:.0f} s"
                if isinstance(r.get("wall_seconds"), int | float)
                else ""
            )
        ),
    ),
    ("machine", _machine_text),
)


def header_rows(runs: Sequence[Run]) -> list[list[str]]:
    """``[what, run 1, run 2, ...]`` rows: the file, device, backend, versions, date, mode, machine."""
    rows = [["file", *(Path(r.path).name for r in runs)]]
    rows += [[what, *(f(r.results) for r in runs)] for what, f in HEADER]
    return rows


# --------------------------------------------------------------------------------------------------
# A section's table
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Metric:
    """What a table shows of a field of the pairs: its column title and a cell per run."""

    field: str
    title: str
    cell: Callable[[list[tuple[dict[str, Any], dict[str, Any]]], dict[str, Any]], str]


def _ratio(ps: list[tuple[dict[str, Any], dict[str, Any]]], field: str) -> str:
    vals = [a[field] / b[field] for a, b in ps if b[field]]
    return fmt_ratio(float(np.median(vals))) if vals else MISSING


def _kept(ps: list[tuple[dict[str, Any], dict[str, Any]]], field: str) -> str:
    return " / ".join(fmt_tensors(float(np.median([p[i][field] for p in ps]))) for i in (0, 1))


def _copy_share(ps: list[tuple[dict[str, Any], dict[str, Any]]], results: dict[str, Any]) -> str:
    top = max(ps, key=lambda p: p[0].get("size") or 0)[0]
    return copy_cell(top, results)


def metric(field: str) -> Metric | None:
    """How a table shows ``field``, or None for a field it does not show (:data:`METRICS`)."""
    if field == "seconds":
        return Metric(field, "time ÷ peer", lambda ps, _: _ratio(ps, "seconds"))
    if field.startswith("extra_") and "tensors" in field:
        return Metric(field, "kept: jrelu / peer", lambda ps, _: _kept(ps, field))
    if field.endswith(("bytes_accessed", "flops")):
        what = field.replace("_", " ")
        return Metric(field, f"{what} ÷ peer", lambda ps, _: _ratio(ps, field))
    if field == "fraction_of_copy":
        return Metric(field, "share of copy", _copy_share)
    return None


METRICS = (
    "seconds: jrelu's median time ÷ the peer's; extra_..._tensors_...: the tensors each keeps; "
    "..._bytes_accessed, ..._flops: jrelu's ÷ the peer's; fraction_of_copy: jrelu's share of the copy "
    "ceiling"
)
_ORDER = {"seconds": 0, "fraction_of_copy": 2}


def sections(runs: Sequence[Run]) -> list[str]:
    """The sections any run has rows for: the known ones in :data:`TITLES`' order, then the others."""
    found: list[str] = []
    for run in runs:
        for k, v in run.results.items():
            if (
                k not in NOT_SECTIONS
                and isinstance(v, list)
                and any(isinstance(r, dict) and "impl" in r for r in v)
                and k not in found
            ):
                found.append(k)
    return [k for k in TITLES if k in found] + [k for k in found if k not in TITLES]


@dataclasses.dataclass
class SectionTable:
    """A section compared: its title, the identity columns, the metric column groups (one column per
    run in each), one row per function (and dtype, pass, model, ...), and notes."""

    section: str
    title: str
    keys: list[str]
    metrics: list[Metric]
    rows: list[list[str]]  # identity cells, the peer, then per metric one cell per run
    notes: list[str]


def _entity(ident: tuple) -> tuple:
    return tuple((k, v) for k, v in ident if k not in FOLDED)


def section_table(runs: Sequence[Run], section: str) -> SectionTable:
    """The table of ``section`` across ``runs`` (module docstring)."""
    # per run: field -> entity -> [(jrelu row, peer row)], over the sizes (and the FFN's kinds)
    found: list[dict[str, dict[tuple, list]]] = []
    fields: list[str] = []
    entities: list[tuple] = []
    for run in runs:
        rows = [r for r in run.results.get(section) or [] if isinstance(r, dict)]
        names = {f for r in rows for f in r if metric(f) is not None}
        by: dict[str, dict[tuple, list]] = {}
        for f in sorted(names, key=lambda f: (_ORDER.get(f, 1), f)):
            by[f] = defaultdict(list)
            for ident, p in pairs(rows, f).items():
                e = _entity(ident)
                by[f][e].append((p[OURS], p[PEER]))
                if e not in entities:
                    entities.append(e)
            if f not in fields:
                fields.append(f)
        found.append(by)
    fields.sort(key=lambda f: (_ORDER.get(f, 1), f))
    metrics = [m for m in map(metric, fields) if m is not None]
    # the function first (in the table's order, then as found), then what else tells rows apart
    order = {label: i for i, label in enumerate(peer_names({}))}
    entities.sort(key=lambda e: order.get(label_of(dict(e)), len(order)))
    keys = ["function"]
    for e in entities:
        for k, _ in e:
            if k not in keys and k not in HIDDEN:
                keys.append(k)
    peers = {}
    for run in reversed(runs):  # the first run that names a peer
        peers.update(peer_names(run.results))
    table_rows = []
    for e in entities:
        d = dict(e)
        label = label_of(d)
        cells = [label, *(str(d[k]) if k in d else "" for k in keys[1:])]
        cells.append(peers.get(label, MISSING))
        for m in metrics:
            for run, by in zip(runs, found, strict=True):
                ps = by.get(m.field, {}).get(e)
                cells.append(m.cell(ps, run.results) if ps else MISSING)
        table_rows.append(cells)
    notes = []
    for run in runs:
        if not run.results.get(section):
            notes.append(f"{run.name} has no {section} section.")
    text = " ".join(c for r in table_rows for c in r)
    if IN_CACHE in text:
        caches = ", ".join(
            f"{run.name} {fmt_bytes(run.results['cache_bytes'])}"
            for run in runs
            if run.results.get("cache_bytes")
        )
        notes.append(
            f"{IN_CACHE}: the bytes the pass moves fit in that machine's last-level cache ({caches}),"
            " so its share of copy bandwidth is no bandwidth figure and is not shown."
        )
    if "†" in text:
        notes.append(OVER_COPY_NOTE)
    return SectionTable(
        section, TITLES.get(section, section.replace("_", " ")), keys, metrics, table_rows, notes
    )


# --------------------------------------------------------------------------------------------------
# Output: terminal, Markdown, figure
# --------------------------------------------------------------------------------------------------

LEGEND = (
    f"{MISSING}: not in that run's file (an older bench, other --sections or --fns). Below 1 is "
    "faster; each function's peer is jax.nn's function, the jnp.where formulation or, with a key, "
    "jax.random draws."
)


def print_comparison(runs: Sequence[Run], console: Any = None) -> None:
    """Every table of the comparison on the terminal (``console``: a rich Console)."""
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log or a pipe: wide enough for the tables
            console = Console(width=170)
    t = Table(title="Runs", title_justify="left")
    t.add_column("")
    for run in runs:
        t.add_column(run.name, overflow="fold")  # a file's name folds: its end tells runs apart
    for row in header_rows(runs):
        t.add_row(*(escape(c) for c in row))
    console.print(t)
    for section in sections(runs):
        st = section_table(runs, section)
        if not st.rows:
            continue
        for title, metrics in _terminal_groups(st, len(runs), console.width):
            t = Table(title=f"\n{title}", title_justify="left")
            # what a row is never shrinks to "leaky_re…" (a group per quantity keeps it narrow)
            for i, k in enumerate(st.keys):
                t.add_column(k, no_wrap=True, min_width=max(len(k), *(len(r[i]) for r in st.rows)))
            t.add_column("peer", overflow="fold")
            for _, m in metrics:
                for run in runs:
                    t.add_column(f"{m.title}\n{run.name}", justify="right")
            n = len(st.keys) + 1
            for row in st.rows:
                cells = [
                    c for i, _ in metrics for c in row[n + i * len(runs) : n + (i + 1) * len(runs)]
                ]
                t.add_row(*(escape(c) for c in [*row[:n], *cells]))
            console.print(t)
        for note in st.notes:
            console.print(note, highlight=False)
    console.print("\n" + LEGEND, highlight=False)


def _terminal_groups(
    st: SectionTable, n_runs: int, width: int
) -> list[tuple[str, list[tuple[int, Metric]]]]:
    """The terminal tables of a section: one with every quantity where it fits ``width`` columns,
    else one per quantity (its title says which), so that many runs in a narrow terminal do not
    squeeze the function and peer names to a few letters."""
    every = list(enumerate(st.metrics))
    ids = [max(len(k), *(len(r[i]) for r in st.rows)) for i, k in enumerate(st.keys)]
    peer = max(len("peer"), *(len(r[len(st.keys)]) for r in st.rows))
    cells = sum(ids) + peer + 8 * n_runs * len(every)  # a figure: up to 6 characters, padded
    if len(every) < 2 or cells + 3 * (len(ids) + 1 + n_runs * len(every)) + 1 <= width:
        return [(st.title, every)]
    return [(f"{st.title} -- {m.title}", [(i, m)]) for i, m in every]


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(runs: Sequence[Run]) -> str:
    """The comparison in Markdown: the runs, then one table per section, a column per run and a row
    per quantity (a quantity no run has for a function is left out)."""
    head = header_rows(runs)
    lines = [
        "**Runs compared**",
        "",
        _md_row(["", *(r.name for r in runs)]),
        "|---|" + "---|" * len(runs),
        *(_md_row([f"**{row[0]}**", *row[1:]]) for row in head),
    ]
    for section in sections(runs):
        st = section_table(runs, section)
        if not st.rows:
            continue
        # a row per quantity, the runs side by side, what the row is in one cell: narrow enough
        # for a page
        cols = [" ".join(st.keys), "peer", "quantity", *(r.name for r in runs)]
        lines += ["", f"**{st.title}**", "", _md_row(cols)]
        lines.append("|---|---|---|" + "---:|" * len(runs))
        n = len(st.keys) + 1  # the identity cells and the peer
        for row in st.rows:
            first = True
            for i, m in enumerate(st.metrics):
                cells = row[n + i * len(runs) : n + (i + 1) * len(runs)]
                if all(c == MISSING for c in cells):
                    continue
                peer = f"`{row[n - 1]}`" if row[n - 1] != MISSING else MISSING
                what = " ".join([f"`{row[0]}`", *(c for c in row[1 : n - 1] if c)])
                lines.append(_md_row([*([what, peer] if first else ["", ""]), m.title, *cells]))
                first = False
        if st.notes:
            lines += ["", " ".join(st.notes)]
    lines += ["", LEGEND]
    return "\n".join(lines) + "\n"


LOG_SPREAD = 5.0  # runs whose median throughputs differ by this factor are drawn on a log axis
_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def run_title(run: Run) -> str:
    r = run.results
    return f"{run.name} {_get(r, 'device_detail') if r.get('device_detail') else _get(r, 'device')} ({backend_text(r)}), {_get(r, 'date')[:10]}"


def plot(runs: Sequence[Run], path: str, dtype: str = "float32", pass_: str = "fwd") -> None:
    """Throughput (GB/s) of jrelu's ``pass_`` in ``dtype`` against size, one panel per function and
    one line per run, with each run's copy ceiling dotted in its colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = []
    for run in runs:
        for r in run.results.get("speed") or []:
            if r.get("impl") == OURS and r.get("dtype") == dtype and r.get("pass") == pass_:
                if label_of(r) not in labels:
                    labels.append(label_of(r))
    if not labels:
        raise ValueError(
            f"--plot: no {dtype} {pass_} speed rows in these runs (see --dtype, --pass)."
        )
    # Runs an order of magnitude apart (a GPU beside a CPU): on a linear axis the slower runs' lines
    # lie flat on zero, so the throughput axis is logarithmic.
    medians = []
    for run in runs:
        vals = [
            r["gbps"]
            for r in run.results.get("speed") or []
            if r.get("impl") == OURS
            and r.get("dtype") == dtype
            and r.get("pass") == pass_
            and isinstance(r.get("gbps"), int | float)
            and r["gbps"] > 0
        ]
        if vals:
            medians.append(float(np.median(vals)))
    log = len(medians) > 1 and max(medians) >= LOG_SPREAD * min(medians)
    cols = min(3, len(labels))
    nrows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(7.8, 2.0 * nrows + 1.1), sharex=True, squeeze=False
    )
    for ax, label in zip(axes.flat, labels, strict=False):
        for run, colour in zip(runs, _COLOURS * (len(runs) // len(_COLOURS) + 1), strict=False):
            rows = run.results.get("speed") or []
            pts = sorted(
                (r["size"], r["gbps"])
                for r in rows
                if r.get("impl") == OURS
                and label_of(r) == label
                and r.get("dtype") == dtype
                and r.get("pass") == pass_
                and r.get("gbps") is not None
            )
            if pts:
                ax.plot(*zip(*pts, strict=True), color=colour, marker="o", ms=3, lw=1.5)
            ceil = sorted(
                (r["size"], r["gbps"])
                for r in run.results.get("copy") or []
                if r.get("dtype") == dtype and r.get("gbps") is not None
            )
            if ceil:
                ax.plot(*zip(*ceil, strict=True), color=colour, ls=":", lw=1)
    finish_panels(axes, labels, size=8, log_y=log)
    handles = [
        matplotlib.lines.Line2D([], [], color=c, marker="o", ms=3, label=run_title(run))
        for run, c in zip(runs, _COLOURS * (len(runs) // len(_COLOURS) + 1), strict=False)
    ]
    handles.append(
        matplotlib.lines.Line2D([], [], color="grey", ls=":", label="copy ceiling (dotted)")
    )
    height = fig.get_figheight()
    fig.suptitle(
        f"jrelu {pass_}, {dtype}: bytes the pass must move ÷ median time, one line per run"
        + ("; log scale" if log else ""),
        fontsize=10,
        y=1 - 0.1 / height,
        va="top",
    )
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=1 if len(runs) > 2 else 2,
        fontsize=7,
        frameon=False,
    )
    legend_h = 0.2 * (len(runs) + 1 if len(runs) > 2 else 2) + 0.2
    fig.tight_layout(rect=(0, legend_h / height, 1, 1 - 0.28 / height))
    fig.savefig(path, dpi=100)
    plt.close(fig)
