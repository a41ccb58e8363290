"""`jrelu compare`: the committed CPU runs and JSON shaped like a GPU run side by side. Every cell is
checked against the figure computed here from the files' raw rows; what a file lacks (an older run's
sections, a field, a function) shows as missing; bad files get a message, not a traceback."""

from __future__ import annotations

import copy
import itertools
import json
import pathlib

import numpy as np
import pytest

from jrelu._cli import main
from jrelu._cli.bench import report as _report

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "benchmarks" / "results").glob("bench-*.json"))
MISSING = "–"


def tables(md: str) -> dict[str, list[dict[str, str]]]:
    """The Markdown tables of ``md`` by their bold title line, as lists of {column: cell}. A section's
    table has a row per quantity under each function (its cells left blank): they are joined here
    into one dict per function, a quantity's cell of run i under "<quantity> [i]"."""
    out: dict[str, list[dict[str, str]]] = {}
    blocks = md.split("\n\n")
    for title, body in itertools.pairwise(blocks):
        if not (title.startswith("**") and body.startswith("|")):
            continue
        lines = body.splitlines()
        head = [c.strip() for c in lines[0].strip("|").split(" | ")]
        rows = [
            dict(zip(head, (c.strip() for c in line.strip("|").split(" | ")), strict=True))
            for line in lines[2:]
        ]
        if "quantity" in head:  # its first column: "function dtype pass", `relu` float32 fwd
            keys = head[0].split()
            joined: list[dict[str, str]] = []
            for row in rows:
                if row[head[0]]:
                    joined.append(dict(zip(keys, row[head[0]].split(), strict=True)))
                    joined[-1]["peer"] = row["peer"]
                runs = [k for k in row if k.startswith("[")]
                joined[-1].update({f"{row['quantity']} {k}": row[k] for k in runs})
            rows = joined
        out[title.strip("*")] = rows
    return out


def section(tabs: dict, start: str) -> list[dict[str, str]]:
    (rows,) = [v for k, v in tabs.items() if k.startswith(start)]
    return rows


def compare(tmp_path, *files) -> dict:
    md = tmp_path / "compare.md"
    assert main(["compare", *map(str, files), "--markdown", str(md)]) == 0
    return tables(md.read_text())


def speed_ratio(results: dict, label: str, dtype: str, pass_: str) -> float:
    """The median over the run's sizes of jrelu's time ÷ the peer's, from the raw rows."""
    by = {
        (r["size"], r["impl"]): r["seconds"]
        for r in results["speed"]
        if r["label"] == label and r["dtype"] == dtype and r["pass"] == pass_
    }
    sizes = sorted({s for s, _ in by})
    return float(np.median([by[(s, "jrelu")] / by[(s, "jax.nn")] for s in sizes]))


def test_the_committed_runs_side_by_side(tmp_path):
    """The three committed CPU runs: the header names each file's device, backend, jax and date; the
    speed, memory and training-step cells are the files' own figures; the oldest run (no ffn
    section, no alpha_dropout, squared_relu or reglu) shows those as missing."""
    runs = [json.loads(p.read_text()) for p in COMMITTED]
    tabs = compare(tmp_path, *COMMITTED)
    head = {row[""]: row for row in tabs["Runs compared"]}
    for i, (path, r) in enumerate(zip(COMMITTED, runs, strict=True), 1):
        col = f"[{i}]"
        assert head["**file**"][col] == path.name
        assert head["**device**"][col] == f"{r['device']} ({r['device_detail']})"
        assert head["**backend**"][col] == "cpu"  # not "cpu, cpu"
        assert head["**jax / jaxlib**"][col] == f"{r['jax_version']} / {r['jaxlib_version']}"
        assert head["**date**"][col] == r["date"][:10]
        assert head["**run**"][col].startswith("full, sizes 2^16–2^26")

    speed = section(tabs, "Speed")
    assert len(speed) == len({(r["label"], r["dtype"], r["pass"]) for r in runs[-1]["speed"]})
    for row in speed:
        label = row["function"].strip("`")
        for i, r in enumerate(runs, 1):
            cell = row[f"time ÷ peer [{i}]"]
            if not any(x["label"] == label for x in r["speed"]):
                assert cell == MISSING and row.get(f"share of copy [{i}]", MISSING) == MISSING
                continue
            assert cell == f"{speed_ratio(r, label, row['dtype'], row['pass']):.2f}", (row, i)
        if label in ("prelu", "rrelu[eval]"):
            assert row["peer"] == "`jnp.where`"
        if label.endswith("[train]"):
            assert row["peer"] == "`jax.random + jnp.where`"

    def by_impl(rows: list[dict], field: str, row: dict) -> dict:
        """jrelu's and the peer's ``field`` in the rows of ``row``'s function and model."""
        label = row["function"].strip("`")
        return {
            x["impl"]: x[field] for x in rows if (x["label"], x["model"]) == (label, row["model"])
        }

    for row in section(tabs, "Backward memory"):
        for i, r in enumerate(runs, 1):
            got = by_impl(r["memory"], "extra_tensors_per_layer", row)
            kept = [_report.fmt_tensors(got[k]) for k in ("jrelu", "jax.nn")] if got else []
            want = " / ".join(kept) or MISSING
            assert row.get(f"kept: jrelu / peer [{i}]", MISSING) == want
    for row in section(tabs, "Training step"):
        for i, r in enumerate(runs, 1):
            t = by_impl(r["train_step"], "seconds", row)
            want = f"{t['jrelu'] / t['jax.nn']:.2f}" if t else MISSING
            assert row[f"time ÷ peer [{i}]"] == want

    ffn = section(tabs, "Transformer FFN")
    assert {row.get("time ÷ peer [1]", MISSING) for row in ffn} == {MISSING}  # no ffn section
    for row in ffn:
        for i, r in enumerate(runs[1:], 2):
            kept = {
                x["impl"]: x["extra_hidden_tensors_per_layer"]
                for x in r["ffn"]
                if x["fn"] == row["function"].strip("`")
                and x["dtype"] == row["dtype"]
                and x["kind"] == "memory"
            }
            assert row[f"kept: jrelu / peer [{i}]"] == " / ".join(
                _report.fmt_tensors(kept[k]) for k in ("jrelu", "jax.nn")
            )


def gpu_shaped(cpu: dict) -> dict:
    """A GPU run as `jrelu bench` on a GPU writes it, made from a committed CPU run: the GPU's header
    (backend gpu, a CUDA platform version, no CPU cache size), speed rows looped in one jit
    (passes_per_call) at 2^16-2^26, times a tenth of the CPU's, the fraction_of_copy of a few rows
    missing, no memory section (a backend where memory_analysis() sees nothing), and a section of
    its own that no code in jrelu names, with bytes-accessed and flops fields."""
    r = copy.deepcopy(cpu)
    r.update(
        device="NVIDIA H100 80GB HBM3",
        device_detail="NVIDIA H100 80GB HBM3",
        backend="gpu",
        platform_version="cuda 12080",
        cache_bytes=None,
        jax_version="0.9.9",
        date="2027-01-15T10:00:00+00:00",
        mode="default",
    )
    for row in r["speed"] + r["copy"]:
        row["seconds"] /= 10
        row["gbps"] *= 10
        row["passes_per_call"] = 64
    for row in r["speed"][:8]:
        del row["fraction_of_copy"]
    del r["memory"]
    r["transformer_block"] = [
        {
            "fn": "relu",
            "label": "relu",
            "impl": impl,
            "d_model": d,
            "dtype": "bfloat16",
            "seconds": s,
            "bytes_accessed": b,
            "flops": 2.0e9,
        }
        for d in (256, 1024)
        for impl, s, b in (("jrelu", 0.9e-3, 3.0e8), ("jax.nn", 1.0e-3, 4.0e8))
    ]
    return r


def test_a_gpu_run_beside_the_cpu_runs(tmp_path):
    cpu = json.loads(COMMITTED[-1].read_text())
    gpu = tmp_path / "bench-gpu.json"
    gpu.write_text(json.dumps(gpu_shaped(cpu)))
    md = tmp_path / "compare.md"
    assert main(["compare", str(COMMITTED[-1]), str(gpu), "--markdown", str(md)]) == 0
    tabs = tables(md.read_text())
    head = {row[""]: row for row in tabs["Runs compared"]}
    assert head["**backend**"]["[2]"] == "gpu (cuda 12080)"
    assert head["**run**"]["[2]"].startswith("default, sizes 2^16–2^26")
    # off the CPU the bench records the device kind as the device and its detail: said once
    assert head["**device**"]["[2]"] == "NVIDIA H100 80GB HBM3"
    assert head["**device**"]["[1]"] == f"cpu ({cpu['device_detail']})"

    speed = {(r["function"], r["dtype"], r["pass"]): r for r in section(tabs, "Speed")}
    g = json.loads(gpu.read_text())
    for (label, dt, pass_), row in speed.items():
        # a tenth of each time for both impls: the same ratios as the CPU run
        assert row["time ÷ peer [2]"] == f"{speed_ratio(g, label.strip('`'), dt, pass_):.2f}"
    # the rows whose fraction_of_copy was dropped show it as missing, the others as measured
    for r in g["speed"][:8]:
        if r["impl"] == "jrelu" and r["size"] == 2**26:
            key = (f"`{r['label']}`", r["dtype"], r["pass"])
            assert speed[key].get("share of copy [2]", MISSING) == MISSING
    assert any(row.get("share of copy [2]", "").endswith("%") for row in speed.values())

    memory = section(tabs, "Backward memory")
    assert all(row.get("kept: jrelu / peer [2]", MISSING) == MISSING for row in memory)
    block = section(tabs, "transformer block")
    assert [
        (r["d_model"], r["time ÷ peer [2]"], r["bytes accessed ÷ peer [2]"]) for r in block
    ] == [
        ("256", "0.90", "0.75"),
        ("1024", "0.90", "0.75"),
    ]
    assert {r["flops ÷ peer [2]"] for r in block} == {"1.00"}
    assert {r["time ÷ peer [1]"] for r in block} == {MISSING}


def test_the_plot_has_a_line_per_run(tmp_path, monkeypatch):
    """--plot: a panel per function, and in each a line per run through that run's jrelu GB/s (and
    its copy ceiling, dotted). Three functions of a CPU run and of the GPU-shaped one."""
    import matplotlib.pyplot as plt

    keep = {"relu", "prelu", "rrelu[train]"}
    runs = []
    for i, r in enumerate((json.loads(COMMITTED[-1].read_text()), None)):
        r = r if r is not None else gpu_shaped(runs[0][1])
        r["speed"] = [x for x in r["speed"] if x["label"] in keep]
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps(r))
        runs.append((path, r))
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or real_close(fig))
    png = tmp_path / "compare.png"
    argv = ["compare", *(str(p) for p, _ in runs), "--plot", str(png), "--dtype", "bfloat16"]
    assert main(argv) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["relu", "prelu", "rrelu[train]"]
    for ax in panels:
        solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
        assert len(solid) == len(runs)
        for line, (_, r) in zip(solid, runs, strict=True):
            want = sorted(
                (x["size"], x["gbps"])
                for x in r["speed"]
                if x["label"] == ax.get_title()
                and x["impl"] == "jrelu"
                and x["dtype"] == "bfloat16"
                and x["pass"] == "fwd"
            )
            assert list(zip(line.get_xdata(), line.get_ydata(), strict=True)) == want
        assert len(ax.get_lines()) == 2 * len(runs)  # and each run's copy ceiling
        # the GPU-shaped run is ten times the CPU's throughput: on a linear axis the CPU's line
        # would lie on zero
        assert ax.get_yscale() == "log"
    assert fig._suptitle.get_text().endswith("; log scale")


def test_runs_of_one_order_of_magnitude_share_a_linear_axis(tmp_path, monkeypatch):
    """The committed CPU runs are within 5x of each other: GB/s from 0 on a linear axis."""
    import matplotlib.pyplot as plt

    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or real_close(fig))
    assert main(["compare", *map(str, COMMITTED), "--plot", str(tmp_path / "c.png")]) == 0
    (fig,) = figures
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert panels and {ax.get_yscale() for ax in panels} == {"linear"}
    assert {ax.get_ylim()[0] for ax in panels} == {0.0}


def test_a_run_that_recorded_its_cache_and_its_machine(tmp_path):
    """A run of this version of the bench records the CPU's last-level cache and how busy the machine
    was: a share of copy whose pass fits in the cache shows "in cache", with the note; the header says
    busy or quiet."""
    cpu = json.loads(COMMITTED[-1].read_text())
    cpu["cache_bytes"] = 480 * 2**20  # this 2-core Xeon's: 2^26 bfloat16 fwd (256 MiB) fits
    cpu["machine"] = {"cores": 2, "start": {"load": [8.5, 7, 6], "cpu_share": 0.3}, "sections": {}}
    path = tmp_path / "bench-busy.json"
    path.write_text(json.dumps(cpu))
    md = tmp_path / "c.md"
    assert main(["compare", str(path), "--markdown", str(md)]) == 0
    text = md.read_text()
    head = {row[""]: row for row in tables(text)["Runs compared"]}
    assert head["**machine**"]["[1]"] == "busy (load 8.5, CPU ÷ wall 0.30 at the start)"
    speed = section(tables(text), "Speed")
    for row in speed:
        (r,) = [
            x
            for x in cpu["speed"]
            if f"`{x['label']}`" == row["function"]
            and x["dtype"] == row["dtype"]
            and x["pass"] == row["pass"]
            and x["impl"] == "jrelu"
            and x["size"] == 2**26
        ]
        if r["bytes"] <= cpu["cache_bytes"]:
            assert row["share of copy [1]"] == "in cache"
        else:
            assert row["share of copy [1]"] in (f"{100 * r['fraction_of_copy']:.0f}%", ">100%†")
    assert "in cache" in {row["share of copy [1]"] for row in speed}
    assert "last-level cache ([1] 480 MiB)" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"rows": []}', "not a file of `jrelu bench --json`"),
        # the other JSON files of benchmarks/results name a device and a backend too
        (
            '{"backend": "cpu", "device": "cpu", "memory": [{"fn": "relu", "jrelu": 0.0}]}',
            "not a file of `jrelu bench --json`",
        ),
        ("", "a directory, not a file"),
    ],
)
def test_bad_files_get_a_message(tmp_path, capsys, content, message):
    path = tmp_path / "run.json"
    if content == "":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    assert main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jrelu compare: ") and message in err


def test_the_oldest_format_alone_and_a_plot_without_matplotlib(tmp_path, monkeypatch, capsys):
    """The terminal tables say which run lacks a section; --plot without matplotlib says which extra
    to install."""
    assert main(["compare", str(COMMITTED[0]), str(COMMITTED[-1])]) == 0
    assert "[1] has no ffn section" in capsys.readouterr().out
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "matplotlib" else real(n, *a)
    )
    assert main(["compare", str(COMMITTED[0]), "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'jrelu[plot]'" in capsys.readouterr().err


def test_a_narrow_terminal_keeps_every_name_whole(tmp_path):
    """Four runs in a 120-column terminal: a section whose quantities do not fit side by side gets a
    table per quantity, so no function, peer or file name is cut to "…" (every label of the files'
    rows is printed whole)."""
    import io

    from rich.console import Console

    from jrelu._cli.bench import compare as _compare

    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps(gpu_shaped(json.loads(COMMITTED[-1].read_text()))))
    runs = _compare.load([*map(str, COMMITTED), str(gpu)])
    console = Console(width=120, record=True, file=io.StringIO())
    _compare.print_comparison(runs, console)
    text = console.export_text()
    assert "…" not in text
    labels = {r["label"] for run in runs for r in run.results["speed"] if "label" in r}
    for label in labels:
        assert f"│ {label} " in text, label
    assert all(len(line) <= 120 for line in text.splitlines())
    assert "-- time ÷ peer" in text and "-- share of copy" in text
