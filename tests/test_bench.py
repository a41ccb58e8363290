"""`jrelu bench`: the JSON it writes (every section, the schema, counted bytes), the plot, the README
table rendered from the JSON, the timing harness and the option checks. Speed is not judged here."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import pathlib
import re
import time

import jax
import numpy as np
import pytest

import jrelu
from jrelu import _core
from jrelu._cli import bench as _bench_cli
from jrelu._cli import main
from jrelu._cli.bench import driver as _bench
from jrelu._cli.bench import report as _bench_report
from jrelu._cli.bench import speed as _bench_speed
from jrelu.testing import extra_tensors_detail

ROOT = pathlib.Path(__file__).resolve().parent.parent
IMPLS = {"jrelu", "jax.nn", "torch", "identity"}
DTYPES = ("float32", "bfloat16")
ITEMSIZE = {"float32": 4, "bfloat16": 2}
SIZE = 2**10


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@pytest.mark.slow
def test_quick_bench_writes_every_section_the_plot_and_the_readme_table(
    tmp_path, capsys, monkeypatch
):
    """One quick run on a tiny size (one test, so that pytest-xdist runs it once): relu has a jax.nn
    peer, prelu the jnp.where formulation and a slope learned per channel in the models. The
    training step of relu's MLP is made to be measured again (as one carrying a verdict alone is)."""
    from jrelu._cli.bench import verdicts as _verdicts

    again = {"label": "relu", "model": "mlp"}
    monkeypatch.setattr(_verdicts, "remeasure", lambda results, section: [again])
    path, png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "--quick", "--no-torch", "--fns", "relu", "prelu", "--sizes", "10"]
    assert main([*argv, "--repeats", "3", "--json", str(path), "--plot", str(png)]) == 0
    results = json.loads(path.read_text())
    labels = ["relu", "prelu"]
    captured = capsys.readouterr()
    _check_progress(captured.err, results)
    # the quick block is below SMALL_ON_CPU: the report says why relu keeps jax.nn's tensor there
    note = "relu, relu6 and squared_relu keep x, as jax.nn does"
    assert (note in " ".join(captured.out.split())) == (results["backend"] == "cpu")

    for key in ("device", "backend", "jax_version", "date", "device_detail", "jrelu_version"):
        assert isinstance(results[key], str) and results[key]
    assert results["jrelu_version"] == jrelu.__version__
    for section in ("copy", "speed", "memory", "train_step", "dispatch", "sparse"):
        assert results[section], f"section {section!r} is empty"
    assert results["quick"] is True and results["config"]["sizes"] == [SIZE]

    _check_speed(results, labels, {"relu": "jax.nn.relu", "prelu": "jnp.where"})
    _check_memory(results, labels)
    _check_train_and_dispatch(results, labels)
    _check_blocks(results)
    _check_remeasured(results, again)
    _check_verdicts(results)
    _check_sparse(results)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    _check_readme(results, labels, tmp_path)


def _check_speed(results: dict, labels: list[str], peers: dict[str, str]) -> None:
    copy = {(r["dtype"], r["size"]): r for r in results["copy"]}
    assert set(copy) == {(dt, SIZE) for dt in DTYPES}
    for r in results["copy"]:
        assert r["bytes"] == 2 * r["size"] * ITEMSIZE[r["dtype"]]
        assert set(r["kernels"]) == {"copy", "negate"}
        assert r["gbps"] == max(k["gbps"] for k in r["kernels"].values())
    seen = set()
    for r in results["speed"]:
        assert {
            "fn",
            "impl",
            "dtype",
            "size",
            "pass",
            "seconds",
            "gbps",
            "fraction_of_copy",
        } <= set(r)
        assert r["fn"] in jrelu.FUNCTIONS and r["impl"] in IMPLS and r["pass"] in ("fwd", "fwd+bwd")
        assert all(_is_number(r[k]) and r[k] > 0 for k in ("seconds", "gbps", "fraction_of_copy"))
        assert r["seconds_q1"] <= r["seconds"] <= r["seconds_q3"]
        # the raw repeats are kept, and the median is theirs
        assert len(r["seconds_repeats"]) == r["repeats"]
        assert r["seconds"] == pytest.approx(float(np.median(r["seconds_repeats"])))
        # read x, write y (a gated y has half of x's elements); fwd+bwd also reads g, writes dx
        n_y = r["size"] // 2 if jrelu.FUNCTIONS[r["fn"]].gated else r["size"]
        passes = {"fwd": 1, "fwd+bwd": 2}[r["pass"]]
        assert r["bytes"] == passes * (r["size"] + n_y) * ITEMSIZE[r["dtype"]]
        assert r["gbps"] == pytest.approx(r["bytes"] / r["seconds"] / 1e9)
        ceiling = copy[(r["dtype"], r["size"])]
        assert r["fraction_of_copy"] == pytest.approx(r["gbps"] / ceiling["gbps"])
        assert r["compile_seconds"] > 0
        seen.add((r["label"], r["dtype"], r["pass"], r["impl"]))
    assert seen == {
        (label, dt, p, impl)
        for label in labels
        for dt in DTYPES
        for p in ("fwd", "fwd+bwd")
        for impl in ("jrelu", "jax.nn")
    }
    # The peers are named: jax.nn's own function where it has one, the jnp.where formulation elsewhere.
    assert {r["label"]: r["peer"] for r in results["speed"] if r["impl"] == "jax.nn"} == peers


def _check_progress(err: str, results: dict) -> None:
    """What the run printed while it ran: first what it is about to do, on what, and how busy the
    machine is (before the first section compiles for a while); then a line per section and speed
    block with its own time; no source locations."""
    lines = err.splitlines()
    assert lines[0].startswith("jrelu bench: quick run on cpu (") and "backend cpu," in lines[0]
    assert lines[2].startswith("machine: ") and "load average" in lines[2]
    m = results["machine"]
    # relu and prelu: no FFN activation, no ffn; both in the transformer blocks; relu in jrelu.sparse
    ran = {"memory", "speed", "train", "dispatch", "blocks", "sparse"}
    assert set(m) == {"cores", "start", "sections", "end"} and set(m["sections"]) == ran
    for name in ran:
        assert any(re.fullmatch(rf"{name}: \d+\.\d s", line) for line in lines), name
    assert not re.search(r"\w+\.py:\d+", err)
    for probe in (m["start"], m["end"], *m["sections"].values()):
        assert 0 < probe["cpu_share"] <= 1.05 and len(probe["load"]) == 3


def _check_remeasured(results: dict, again: dict) -> None:
    """The pair measured again has both sets of repeats, and its figures are those of all of them;
    every timing keeps each repeat's CPU time beside its wall time."""
    for r in results["train_step"]:
        n = len(r["seconds_repeats"])
        assert len(r["cpu_seconds_repeats"]) == n == r["repeats"]
        assert r["seconds"] == pytest.approx(float(np.median(r["seconds_repeats"])))
        if (r["label"], r["model"]) == (again["label"], again["model"]):
            first = r["remeasured"]["first_repeats"]
            assert 0 < first < n
        else:
            assert "remeasured" not in r


def _check_memory(results: dict, labels: list[str]) -> None:
    rows = results["memory"]
    for r in rows:
        assert {"model", "fn", "impl", "extra_tensors_per_layer"} <= set(r)
        assert r["model"] in ("mlp", "cnn") and r["impl"] in IMPLS
        assert _is_number(r["extra_tensors_per_layer"])
    got = {(r["model"], r["label"], r["impl"]): r["extra_tensors_per_layer"] for r in rows}
    assert set(got) == {
        (m, lb, i)
        for m in ("mlp", "cnn")
        for lb, i in [("identity", "identity")]
        + [(lb, i) for lb in labels for i in ("jrelu", "jax.nn")]
    }
    for model in ("mlp", "cnn"):
        assert got[(model, "identity", "identity")] == 0.0
    # the raw bytes beside the figure: the figure is their slope over the identity network's
    for r in (r for r in rows if r["impl"] != "identity"):
        lo, hi = results["config"]["memory_dims"]["depths"]
        t, f = r["temp_bytes"], r["floor_temp_bytes"]
        slope = (t[str(hi)] - t[str(lo)]) - (f[str(hi)] - f[str(lo)])
        assert r["extra_tensors_per_layer"] == pytest.approx(slope / (hi - lo) / r["tensor_bytes"])
        assert r["available"] is True
    status = results["memory_status"]
    assert status["available"] is True and status["probe"]["extra_tensors_per_layer"] == 1.0
    floors = {r["model"]: r["floor_tensors_per_layer"] for r in rows if r["impl"] == "identity"}
    assert set(floors) == {"mlp", "cnn"} and all(v >= 0 for v in floors.values())
    # Wiring, against what XLA compiles: jax.nn.relu keeps its input (a whole tensor) in the MLP,
    # jrelu only the output, which the next matmul keeps anyway; a learned slope needs x.
    assert got[("mlp", "relu", "jrelu")] == 0.0
    assert got[("mlp", "relu", "jax.nn")] == pytest.approx(1.0)
    assert got[("mlp", "prelu", "jrelu")] >= 1.0
    assert [r["learned"] for r in rows if r["label"] == "prelu"] == [["negative_slope"]] * 4


def _check_train_and_dispatch(results: dict, labels: list[str]) -> None:
    rows = results["train_step"]
    assert {(r["model"], r["label"], r["impl"]) for r in rows} == {
        (m, lb, i) for m in ("mlp", "cnn") for lb in labels for i in ("jrelu", "jax.nn")
    }
    for r in rows:
        assert _is_number(r["seconds"]) and r["seconds"] > 0 and r["loss_finite"]
        assert r["compile_seconds"] > 0
    assert {(r["label"], r["impl"]) for r in results["dispatch"]} == {
        (lb, i) for lb in labels for i in ("jrelu", "jax.nn")
    }


def _check_blocks(results: dict) -> None:
    """The transformer-block section: XLA's own figures for each function and its peer (held against
    the independent measurement of tests/test_blocks.py's sizes there), and timed steps."""
    rows = results["blocks"]
    mem = {(r["label"], r["impl"]): r for r in rows if r["kind"] == "memory"}
    tim = {(r["label"], r["impl"]): r for r in rows if r["kind"] == "time"}
    want = {(lb, i) for lb in ("relu", "prelu[per-channel]") for i in ("jrelu", "jax.nn")}
    assert set(mem) == want and set(tim) == want
    for r in rows:
        assert r["dims"]["model"] == "transformer" and r["d_model"] == r["dims"]["d_model"]
    # the figures are XLA's: the same call of jrelu.testing gives the same numbers
    relu = mem["relu", "jrelu"]
    d = relu["dims"]
    again = extra_tensors_detail(
        jrelu.relu,
        model="transformer",
        batch=d["batch"],
        seq=d["seq"],
        width=d["d_model"],
        depths=tuple(d["depths"]),
    )
    assert relu["extra_tensors_per_layer"] == again["extra_tensors_per_layer"]
    assert relu["bytes_accessed"] == again["bytes_accessed"]
    peer = mem["relu", "jax.nn"]["extra_tensors_per_layer"]
    assert peer == pytest.approx(1.0, abs=0.05)
    # below SMALL_ON_CPU hidden elements (the quick block) relu keeps x on XLA:CPU, as jax.nn does
    small = d["batch"] * d["seq"] * d["hidden"] < _core.SMALL_ON_CPU
    if small and jax.default_backend() == "cpu":
        assert relu["extra_tensors_per_layer"] == pytest.approx(peer, abs=1e-3)
    else:
        assert relu["extra_tensors_per_layer"] <= 1 / 32
    for r in tim.values():
        assert _is_number(r["seconds"]) and r["seconds"] > 0 and r["loss_finite"]
        assert r["bytes_accessed"] > 0 and r["flops"] > 0
    for r in results["train_step"]:  # every training-step row carries XLA's cost figures
        assert r["bytes_accessed"] > 0 and r["flops"] > 0


def _check_verdicts(results: dict) -> None:
    """Each verdict from the raw repeats: the band is the median over the section's pairs of half the
    IQR of the per-repeat ratios jrelu/peer, a function's ratio the median of its pairs' ratios, and
    a call of faster or slower has its ratio beyond the band and its bootstrap interval on that side
    of 1 (jrelu._cli.bench.verdicts; tests/test_verdicts.py holds the rules on known cases)."""
    got = {v["name"]: v for v in _bench_report.verdicts(results)}
    sections = {
        "speed fwd float32": ("speed", lambda r: r["pass"] == "fwd" and r["dtype"] == "float32"),
        "speed fwd+bwd bfloat16": (
            "speed",
            lambda r: r["pass"] == "fwd+bwd" and r["dtype"] == "bfloat16",
        ),
        "training step": ("train_step", lambda r: True),
        "eager call": ("dispatch", lambda r: True),
        "transformer block step": ("blocks", lambda r: r["kind"] == "time"),
    }
    for name, (section, keep) in sections.items():
        v = got[name]
        rows = [r for r in results[section] if keep(r) and r["impl"] in ("jrelu", "jax.nn")]
        pairs: dict = {}
        for r in rows:
            key = (r["label"], r.get("model"), r.get("size"), r.get("d_model"), r.get("dtype"))
            pairs.setdefault(key, {})[r["impl"]] = r
        halves, per = [], {}
        for (label, *_), p in pairs.items():
            a, b = np.array(p["jrelu"]["seconds_repeats"]), np.array(p["jax.nn"]["seconds_repeats"])
            q1, q3 = np.percentile(a / b, [25, 75])
            halves.append((q3 - q1) / 2)
            per.setdefault(label, []).append(p["jrelu"]["seconds"] / p["jax.nn"]["seconds"])
        band = float(np.median(halves))
        assert v["band"] == pytest.approx(band), name
        assert set(v["calls"]) == set(per)
        for label, call in v["calls"].items():
            assert call.ratio == pytest.approx(float(np.median(per[label])))
            if call.kind == "faster":
                assert call.ratio < 1 - band and call.high < 1
            elif call.kind == "slower":
                assert call.ratio > 1 + band and call.low > 1
            elif call.kind == "parity":
                assert abs(call.ratio - 1) <= band
            else:
                assert call.kind == "inconclusive" and call.reason
    # memory: jrelu's relu saves jax.nn.relu's whole tensor in the MLP, in bytes of that tensor
    mem = got["memory"]
    assert mem["available"]
    (mlp,) = [item for item in mem["saves"]["relu"] if item[0] == "mlp"]
    dims = results["config"]["memory_dims"]
    assert mlp[1] == pytest.approx(1.0) and mlp[2] == dims["batch"] * dims["width"] * 4
    # plain runs say verdicts, not the project's internal goals; every table names the peer
    text = _report_text(results)
    assert "Verdicts" in text and "goal" not in text
    assert "÷ jax.nn" not in text and "÷ peer" in text
    assert re.search(r"│ prelu\s+│ jnp\.where\s+│", text)
    assert "quick run" in text.splitlines()[2]


def _report_text(results: dict) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    _bench_report.print_report(console, results)
    return console.export_text()


def _check_readme(results: dict, labels: list[str], tmp_path: pathlib.Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "update_readme", ROOT / "benchmarks" / "update_readme.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- BEGIN bench -->\nold\n<!-- END bench -->\n\ntail\n")
    source = tmp_path / "bench.json"
    assert mod.update(readme, source) is True
    text = readme.read_text()
    assert text.startswith("# x\n") and text.endswith("\n\ntail\n") and "\nold\n" not in text
    for label in labels:
        assert f"| `{label}` |" in text
    assert "![Throughput against size, with the copy ceiling](bench.png)" in text
    assert mod.update(readme, source) is False  # idempotent
    broken = tmp_path / "broken.md"
    broken.write_text("no markers\n")
    with pytest.raises(ValueError, match="BEGIN bench"):
        mod.update(broken, source)


@pytest.mark.slow
def test_rrelu_runs_without_a_key_and_with_one(tmp_path):
    """rrelu gives two cases: eval (no key) and train (a key; peers draw slopes with
    jax.random.uniform), through the speed section, the memory figure and a training step."""
    from jrelu._cli.bench import models as bm

    path = tmp_path / "r.json"
    argv = ["bench", "--sections", "speed", "--fns", "rrelu", "--sizes", "10", "--no-torch"]
    assert main([*argv, "--dtypes", "float32", "--repeats", "1", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["speed"]
    got = {(r["label"], r["key"], r["pass"], r["impl"], r.get("peer")) for r in rows}
    assert got == {
        (label, key, p, impl, peer if impl == "jax.nn" else None)
        for label, key, peer in [
            ("rrelu[eval]", False, "jnp.where"),
            ("rrelu[train]", True, "jax.random + jnp.where"),
        ]
        for p in ("fwd", "fwd+bwd")
        for impl in ("jrelu", "jax.nn")
    }
    (train,) = [c for c in _bench_speed.build_cases(["rrelu"]) if c.key]
    plan = _bench_speed.Plan(target=0.0, repeats=1, min_repeats=1, budget=0.0, warmup=1)
    dims = bm.ModelDims(batch=8, width=32, depth=2)
    programs = {i: bm.train_program(train, i, "mlp", dims).compile() for i in ("jrelu", "jax.nn")}
    for r in bm.train_step_rows(train, "mlp", dims, programs, plan):
        assert r["label"] == "rrelu[train]" and r["loss_finite"] and r["seconds"] > 0


def _spy_on_json(monkeypatch) -> list[dict]:
    written = []
    real_write = _bench._write_json

    def spy(p, results):
        real_write(p, results)
        written.append(json.loads(pathlib.Path(p).read_text()))

    monkeypatch.setattr(_bench, "_write_json", spy)
    return written


ARGV = ["bench", "--sections", "speed", "dispatch", "--fns", "relu", "--sizes", "10"]
ARGV += ["--no-torch", "--dtypes", "float32", "--repeats", "1"]


def test_a_failing_row_is_recorded_and_the_json_kept_after_each_section(tmp_path, monkeypatch):
    """A row that raises is recorded in the JSON's "errors" with where it was, and the run goes on
    (exit status 1); the JSON is written after every size and every section, so what came before a
    failure (or a timeout) is kept."""
    path = tmp_path / "b.json"
    written = _spy_on_json(monkeypatch)

    def broken(*args, **kwargs):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(_bench_speed, "measure_dispatch_pair", broken)
    assert main([*ARGV, "--json", str(path)]) == 1
    final = json.loads(path.read_text())
    assert [(e["section"], e.get("label")) for e in final["errors"]] == [("dispatch", "relu")]
    assert "RuntimeError: no such kernel" in final["errors"][0]["error"]
    assert "broken" in final["errors"][0]["traceback"]
    # after the one size, after the speed section (its rows there, no error yet), after dispatch,
    # and at the end
    assert len(written) == 4 and written[0]["speed"] and not written[1]["errors"]
    assert {r["impl"] for r in final["speed"]} == {"jrelu", "jax.nn"}


def test_a_failing_section_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    path = tmp_path / "b.json"
    written = _spy_on_json(monkeypatch)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(_bench, "_speed_block", broken)
    assert main([*ARGV, "--json", str(path)]) == 1
    final = json.loads(path.read_text())
    assert [e["section"] for e in final["errors"]] == ["speed"]
    assert written[0]["errors"] and not written[0]["dispatch"]  # the speed section's own write
    assert {r["impl"] for r in final["dispatch"]} == {"jrelu", "jax.nn"}
    assert "1 error(s)" in _report_text(final)


def test_a_program_that_does_not_compile_costs_its_row_only(tmp_path, monkeypatch):
    """A compile failure of one program (as XLA:TPU's for a missing kernel) is that row's error; the
    other programs of the same size are measured."""
    path = tmp_path / "b.json"
    real = _bench_speed.jax_program

    def program(case, impl, pass_, *args, **kwargs):
        prog = real(case, impl, pass_, *args, **kwargs)
        if impl == "jrelu" and pass_ == "fwd+bwd":

            def fail():
                raise RuntimeError("UNIMPLEMENTED: bitcast-convert")

            prog.compile = fail
        return prog

    monkeypatch.setattr(_bench_speed, "jax_program", program)
    argv = [a for a in ARGV if a != "dispatch"]
    assert main([*argv, "--json", str(path)]) == 1
    final = json.loads(path.read_text())
    assert [(e["section"], e["label"], e["pass"]) for e in final["errors"]] == [
        ("speed", "relu", "fwd+bwd")
    ]
    assert {(r["pass"], r["impl"]) for r in final["speed"]} == {("fwd", "jrelu"), ("fwd", "jax.nn")}


def test_memory_is_flagged_unavailable_where_memory_analysis_sees_nothing(monkeypatch):
    """Where a backend's memory_analysis() reports no temporary bytes (or none), jax.nn.relu measures
    0 instead of 1 and the figures are vacuous: the probe says so, and the report shows no figures."""
    import jax
    import jax.numpy as jnp

    from jrelu._cli.bench import models as bm
    from jrelu._testing import memory as _memory

    probe = (
        bm.relu_probe()
    )  # on this backend: XLA's own figures, checked against a model written here
    b, w = 256, 512

    def temp(depth):
        def loss(ps, x):
            for wt, bias in ps:
                x = jax.nn.relu(x @ wt + bias.reshape(1, -1))
            return jnp.sum(x**2)

        s = jax.ShapeDtypeStruct
        ps = [(s((w, w), jnp.float32), s((w,), jnp.float32)) for _ in range(depth)]
        c = jax.jit(jax.grad(loss)).lower(ps, s((b, w), jnp.float32)).compile()
        return c.memory_analysis().temp_size_in_bytes

    assert probe["temp_bytes"] == {"4": temp(4), "8": temp(8)}
    assert bm.memory_available(probe) == (True, "")

    monkeypatch.setattr(_memory, "temp_size", lambda compiled: 0)
    monkeypatch.setattr(bm, "temp_size", lambda compiled: 0)
    _memory._identity_temp.cache_clear()
    try:
        vacuous = bm.relu_probe()
    finally:
        _memory._identity_temp.cache_clear()
    ok, why = bm.memory_available(vacuous)
    assert not vacuous["available"] and not ok and "memory_analysis()" in why

    results = {
        "device": "x",
        "backend": "tpu",
        "jax_version": "0",
        "mode": "default",
        "memory_status": {"available": False, "reason": why},
        "memory": [
            {
                "model": "mlp",
                "label": "relu",
                "fn": "relu",
                "impl": i,
                "extra_tensors_per_layer": 0.0,
            }
            for i in ("jrelu", "jax.nn")
        ],
    }
    text = _report_text(results)
    assert "unavailable on this backend" in text and "saves" not in text
    (mem,) = [v for v in _bench_report.verdicts(results) if v["name"] == "memory"]
    assert mem == {"name": "memory", "available": False, "reason": why}


def _pair_rows(label: str, a: list[float], b: list[float], **extra) -> list[dict]:
    return [
        {
            "label": label,
            "fn": label,
            "impl": impl,
            "seconds": float(np.median(t)),
            "seconds_repeats": t,
            **extra,
        }
        for impl, t in (("jrelu", a), ("jax.nn", b))
    ]


def test_ffn_table_and_merge(tmp_path):
    """The FFN section's table shows the kept tensors of both impls, the bytes saved and the step
    time; merge joins gpu_run.sh's parts."""
    dims = {"batch": 4, "d_model": 8, "hidden": 16, "depths": [2, 4], "depth": 2}
    mem = [
        {
            "fn": "reglu",
            "impl": i,
            "dtype": "float32",
            "kind": "memory",
            "dims": dims,
            "extra_hidden_tensors_per_layer": v,
            "tensor_bytes": 4 * 16 * 4,
            "available": True,
        }
        for i, v in (("jrelu", 0.25), ("jax.nn", 1.25))
    ]
    tim = [
        {"fn": "reglu", "impl": i, "dtype": "float32", "kind": "time", "seconds": s, "dims": dims}
        for i, s in (("jrelu", 0.002), ("jax.nn", 0.004))
    ]
    part1 = {
        "device": "x",
        "backend": "cpu",
        "jax_version": "0",
        "mode": "default",
        "config": {"sections": ["ffn"], "ffn_dims": dims},
        "ffn": mem + tim,
        "errors": [],
    }
    part2 = {
        "device": "x",
        "backend": "cpu",
        "jax_version": "0",
        "mode": "default",
        "config": {"sections": ["dispatch"]},
        "errors": [{"section": "dispatch", "error": "E"}],
        "dispatch": _pair_rows("relu", [1.0, 1.0], [2.0, 2.0], size=1024),
    }
    probe = [{"load": [0.1, 0.1, 0.1], "cpu_share": v} for v in (1.0, 0.99, 0.5, 0.98)]
    part1["machine"] = {"cores": 2, "start": probe[0], "sections": {"ffn": {}}, "end": probe[1]}
    part2["machine"] = {
        "cores": 2,
        "start": probe[2],
        "sections": {"dispatch": {}},
        "end": probe[3],
    }
    part2["transformer_block"] = [{"fn": "relu", "impl": "jrelu", "seconds": 1.0}]  # any section
    merged = _bench.merge([part1, part2])
    assert merged["config"]["sections"] == ["ffn", "dispatch"] and len(merged["errors"]) == 1
    assert merged["transformer_block"] == part2["transformer_block"]
    assert merged["machine"] == {
        "cores": 2,
        "start": probe[0],
        "sections": {"ffn": {}, "dispatch": {}},
        "end": probe[3],
    }
    assert len(merged["ffn"]) == 4 and len(merged["dispatch"]) == 2
    text = _report_text(merged)
    assert "Transformer FFN" in text
    (row,) = [line for line in text.splitlines() if line.strip().startswith("│ reglu")]
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[3:] == ["0.250", "1.250", "256 B", "2.00 ms", "4.00 ms", "0.50"]


def test_in_jit_loop_runs_the_same_pass():
    """Off the CPU the speed programs loop their pass inside one jit: same result as one pass, a
    while loop in the compiled program, and the iteration count the Plan gives for each size."""
    import jax.numpy as jnp

    (case,) = _bench_speed.build_cases(["elu"])
    x, g, key = _bench_speed.make_inputs(2**12, jnp.float32)
    one = _bench_speed.jax_program(case, "jrelu", "fwd+bwd", x, g, key, 1).compile()
    four = _bench_speed.jax_program(case, "jrelu", "fwd+bwd", x, g, key, 4).compile()
    for a, b in zip(one(), four(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert "while" not in one.compiled.as_text()
    # the pass is inside the loop's body, not hoisted out of it: a kernel there writes x's shape
    for prog, shape in ((four, "f32[4,1024]"), (_looped_ceiling(x), "f32[4,1024]")):
        text = prog.compiled.as_text() if hasattr(prog, "compiled") else prog
        body = re.search(r"body=%([\w.\-]+)", text).group(1)
        start = text.index(f"%{body} (")
        block = text[start : text.index("\n}", start)]
        assert re.search(rf"= {re.escape(shape)}\S* fusion\(", block), block
    plan = _bench_speed.Plan(target=0, repeats=1, min_repeats=1, budget=0, loop_elements=2**22)
    assert [plan.iterations(2**e) for e in (16, 20, 22, 24)] == [64, 4, 1, 1]
    assert _bench.plans("default", None, "gpu")["speed"].loop_elements == 2**22
    assert _bench.plans("default", None, "cpu")["speed"].loop_elements == 0
    # XLA:GPU autotunes while compiling: one compilation at a time off the CPU
    assert _bench_speed.compile_workers("gpu") == 1 and _bench_speed.compile_workers("cpu") >= 1


def _looped_ceiling(x) -> str:
    import jax

    return jax.jit(_bench_speed.ceiling_pass("copy", 4)).lower(x).compile().as_text()


def test_run_py_does_not_need_matplotlib(monkeypatch):
    """benchmarks/run.py runs `jrelu bench --full` and asks for the PNG only where matplotlib is."""
    mod = _load_script("run")
    import jrelu._cli as cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "matplotlib" else real(n, *a)
    )
    monkeypatch.setattr(mod, "RESULTS", pathlib.Path("/nonexistent-unused"))
    monkeypatch.setattr(pathlib.Path, "mkdir", lambda *a, **k: None)
    assert mod.main([]) == 0
    (argv,) = seen
    assert argv[:2] == ["bench", "--full"] and "--json" in argv and "--plot" not in argv


def test_goal_lines_judge_the_figures():
    results = {
        "backend": "gpu",
        "speed": [
            {
                "label": "relu",
                "dtype": "float32",
                "pass": "fwd",
                "size": 8,
                "impl": "jrelu",
                "seconds": 1.0,
                "fraction_of_copy": 0.95,
            },
            {
                "label": "relu",
                "dtype": "float32",
                "pass": "fwd",
                "size": 8,
                "impl": "jax.nn",
                "seconds": 2.0,
                "fraction_of_copy": 0.5,
            },
        ],
        "memory": [
            {
                "model": "mlp",
                "fn": "relu",
                "label": "relu",
                "impl": "jrelu",
                "extra_tensors_per_layer": 0.5,
            },
            {
                "model": "mlp",
                "fn": "prelu",
                "label": "prelu",
                "impl": "jrelu",
                "extra_tensors_per_layer": 1.0,
            },
        ],
    }
    lines = dict((text.split(":")[0], met) for met, text in _bench_report.goal_lines(results))
    assert lines["backward memory ≤ 1/32 extra tensor per layer (all but prelu)"] is False
    assert lines["fwd"] is True
    assert lines["GPU forward ≥ 90% of copy bandwidth at 2^3"] is True


def test_interleaved_timing_measures_each_call():
    plan = _bench_speed.Plan(target=0.0, repeats=5, min_repeats=5, budget=0.0, warmup=1)
    fast, slow = (lambda: time.sleep(0.001)), (lambda: time.sleep(0.004))
    a, b = _bench_speed.time_interleaved([fast, slow], lambda out: out, plan)
    assert a.repeats == b.repeats == 5 and a.inner == b.inner == 1
    assert 0.001 <= a.seconds < b.seconds and 0.004 <= b.seconds
    assert a.q1 <= a.seconds <= a.q3


@pytest.mark.parametrize(
    ("text", "n"),
    [("20", 2**20), ("2^16", 2**16), ("2**10", 2**10), ("1000000", 10**6), ("1e6", 10**6)],
)
def test_sizes_are_exponents_or_counts(text, n):
    assert _bench_cli.parse_size(text) == n


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "big"], "--sizes: expected an exponent of 2"),
        (["--sizes", "0"], "--sizes: sizes must be positive"),
        (["--fns", "swish"], "--fns: unknown function 'swish'. Valid names: relu"),
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--sections", "memory", "--plot", "x.png"], "--plot needs the speed section"),
    ],
)
def test_bad_options_say_what_is_wrong(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_torch_rows_when_torch_is_importable(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "t.json"
    argv = ["bench", "--sections", "speed", "--fns", "relu", "rrelu", "--sizes", "10"]
    assert main([*argv, "--dtypes", "bfloat16", "--repeats", "1", "--json", str(path)]) == 0
    results = json.loads(path.read_text())
    rows = [r for r in results["speed"] if r["impl"] == "torch"]
    assert results["torch_version"] and all(r["fraction_of_copy"] > 0 for r in rows)
    assert {(r["label"], r["pass"]) for r in rows} == {
        (lb, p) for lb in ("relu", "rrelu[eval]", "rrelu[train]") for p in ("fwd", "fwd+bwd")
    }


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_bench_results_and_readme_agree(capsys):
    """Every generated section (benchmarks/README.md's tables, examples/README.md's findings, the check
    guide's output, the README's and the guides' code blocks) is what benchmarks/update_readme.py, the
    one splicer, writes from the committed results and files: running it changes nothing."""
    assert _load_script("update_readme").main(["--check"]) == 0, (
        "a generated section is stale: run benchmarks/update_readme.py\n" + capsys.readouterr().out
    )


def test_committed_scheduler_figures_and_readme_agree():
    """benchmarks/README.md's memory-schedulers section is rendered from benchmarks/results (not typed),
    and the figures it quotes hold there: jrelu keeps no more than jax.nn in the CNN under either
    scheduler."""
    mod = _load_script("memory_schedulers")
    data = json.loads(mod.OUT.read_text())
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    begin, end = "<!-- BEGIN memory-schedulers -->\n", "\n<!-- END memory-schedulers -->"
    assert readme.split(begin, 1)[1].split(end, 1)[0] == mod.render(data), (
        "benchmarks/README.md is stale: run benchmarks/update_readme.py"
    )
    for sched in data["schedulers"].values():
        rows = {(r["model"], r["label"], r["impl"]): r["tensors"] for r in sched["rows"]}
        for (model, label, impl), v in rows.items():
            if model == "cnn" and impl == "jrelu" and label != "prelu":
                assert v <= rows[(model, label, "jax.nn")] + 1e-9, (label, v)


@pytest.mark.slow
def test_quick_bench_ffn_section_memory_is_xla_s_own(tmp_path):
    """The FFN section is in the quick JSON, for both FFN activations, both impls and dtypes, and its
    temporary bytes equal a memory_analysis of the residual FFN step written here independently."""
    import jax
    import jax.numpy as jnp

    path = tmp_path / "ffn.json"
    argv = ["bench", "--quick", "--no-torch", "--sections", "ffn", "--repeats", "3"]
    assert main([*argv, "--json", str(path)]) == 0
    results = json.loads(path.read_text())
    assert not results["errors"]
    rows = results["ffn"]
    want = {(f, i) for f in ("squared_relu", "reglu") for i in ("jrelu", "jax.nn")}
    want = {(*w[:2], dt, k) for w in want for dt in DTYPES for k in ("memory", "time")}
    assert {(r["fn"], r["impl"], r["dtype"], r["kind"]) for r in rows} == want
    dims = results["config"]["ffn_dims"]
    b, d, h = dims["batch"], dims["d_model"], dims["hidden"]

    def act(fn, impl):
        if impl == "jrelu":
            return getattr(jrelu, fn)
        if fn == "reglu":

            def glu_relu(z):
                a, b = jnp.split(z, 2, axis=-1)
                return a * jax.nn.relu(b)

            return glu_relu
        return lambda z: jnp.square(jax.nn.relu(z))

    def temp(fn, impl, depth, dtype):
        f = act(fn, impl) if impl != "identity" else (lambda z: z[..., :h])

        def loss(ws, x):
            for w1, w2 in ws:
                x = x + f(x @ w1) @ w2
            return jnp.sum(x.astype(jnp.float32) ** 2)

        s = jax.ShapeDtypeStruct
        wide = 2 * h if fn == "reglu" else h
        ws = [(s((d, wide), dtype), s((h, d), dtype)) for _ in range(depth)]
        c = jax.jit(jax.grad(loss)).lower(ws, s((b, d), dtype)).compile()
        return c.memory_analysis().temp_size_in_bytes

    for r in (r for r in rows if r["kind"] == "memory" and r["dtype"] == "float32"):
        for depth, got in r["temp_bytes"].items():
            assert got == temp(r["fn"], r["impl"], int(depth), jnp.float32), (r, depth)
        lo, hi = dims["depths"]
        slope = (r["temp_bytes"][str(hi)] - r["temp_bytes"][str(lo)]) - (
            r["floor_temp_bytes"][str(hi)] - r["floor_temp_bytes"][str(lo)]
        )
        assert r["extra_hidden_tensors_per_layer"] == slope / (hi - lo) / (b * h * 4)
        if r["fn"] == "reglu":  # its floor is the value-half network, computed here too
            assert r["floor_temp_bytes"][str(lo)] == temp("reglu", "identity", lo, jnp.float32)
    for r in (r for r in rows if r["kind"] == "time"):
        assert _is_number(r["seconds"]) and r["seconds"] > 0 and r["loss_finite"]


def _check_sparse(results: dict) -> None:
    """Every point of the quick grid as a jrelu.sparse row and a dense row, with its sizes, sparsity,
    tokens, capacity, bytes, wall and CPU time; the active count is the inputs' own (recounted here);
    the sparse result is within its summation-order bound of the dense one."""
    from jrelu._cli.bench import sparse as bsp

    g = bsp.grid("quick", results["config"]["fns"])
    rows = results["sparse"]
    keys = {(r["fn"], r["part"], r["d_model"], r["tokens"], r["sparsity"], r["impl"]) for r in rows}
    assert keys == {(*p, i) for p in g.points() for i in ("jrelu", "jax.nn")} and keys
    for r in rows:
        assert r["hidden"] == g.mult * r["d_model"]
        args = bsp.inputs(
            r["fn"], r["part"], r["d_model"], r["hidden"], r["tokens"], r["sparsity"]
        )["args"]
        h = np.asarray(args[0], np.float64)
        h = h if r["part"] == "down" else h @ np.asarray(args[1], np.float64)
        active = int(np.any(h[:, -r["hidden"] :] > 0, axis=0).sum())  # reglu: the gate half
        assert r["active"] == active == round((1 - r["sparsity"]) * r["hidden"])
        assert r["capacity"] == (active if r["impl"] == "jrelu" else r["hidden"])
        assert r["weight_bytes"] == r["capacity"] * r["d_model"] * 4
        for k in ("seconds", "cpu_seconds"):
            assert r[f"{k}_q1"] <= r[k] <= r[f"{k}_q3"] and r[k] > 0
            assert len(r[f"{k}_repeats"]) == r["repeats"]
        if r["impl"] == "jrelu":
            assert 0 <= r["max_abs_diff"] <= r["bound"]
    text = _report_text(results)
    assert "Sparse FFN: jrelu.sparse ÷ the dense jnp computation" in text
    assert "sparse relu down (d_model 256" in text


def test_sparse_crossover_reads_the_interleaved_ratios():
    """Faster beyond the noise band from 90% on (the ratio band is 0.01 wide), the median ratio 1
    crossed a third of the way from 70% to 90% (1.1 -> 0.8), never faster in a flat line, and a line
    faster from its first point crosses 1 below it."""
    from jrelu._cli.bench import sparse as bsp

    def rows(ratios: dict[float, float]) -> list[dict]:
        out = []
        for s, r in ratios.items():
            for impl, t in (("jrelu", [r * 0.99, r, r * 1.01]), ("jax.nn", [1.0, 1.0, 1.0])):
                out.append(
                    {"fn": "relu", "part": "down", "d_model": 8, "tokens": 1, "sparsity": s}
                    | {"impl": impl, "seconds": float(np.median(t)), "seconds_repeats": t}
                )
        return out

    line = bsp.pairs({"sparse": rows({0.5: 1.5, 0.7: 1.1, 0.9: 0.8, 0.99: 0.5})})[
        ("relu", "down", 8, 1)
    ]
    c = bsp.crossover(line)
    assert c["pays_from"] == 0.9
    assert c["ratio_one_at"] == pytest.approx(0.7 + (0.1 / 0.3) * 0.2)
    flat = bsp.pairs({"sparse": rows({0.5: 1.2, 0.9: 1.0})})[("relu", "down", 8, 1)]
    assert bsp.crossover(flat)["pays_from"] is None
    low = bsp.crossover(bsp.pairs({"sparse": rows({0.5: 0.8, 0.9: 0.5})})[("relu", "down", 8, 1)])
    assert low["pays_from"] == 0.5 and low["ratio_one_at"] is None and low["below_first"]


def _blocks_title(dims_by_width: dict[int, tuple[int, int, int]]) -> str:
    """The blocks table's title for rows at these ``{d_model: (batch, seq, depth)}``."""
    from rich.console import Console

    rows = []
    for width, (batch, seq, depth) in dims_by_width.items():
        dims = {"batch": batch, "seq": seq, "depth": depth, "depths": [2, 4], "d_model": width}
        for impl in ("jrelu", "jax.nn"):
            for kind in ("memory", "time"):
                row = {"label": "relu", "fn": "relu", "impl": impl, "dtype": "float32"}
                row.update(d_model=width, kind=kind, dims=dims, extra_tensors_per_layer=0.0)
                row.update(seconds=1e-3, bytes_accessed=1.0, flops=1.0)
                rows.append(row)
    console = Console(width=400, record=True, file=io.StringIO())
    _bench_report._blocks_table(console, {"blocks": rows})
    return console.export_text().split("\n")[1]


def test_the_blocks_title_gives_the_shapes_the_run_measured():
    """The title names the batch×seq of the rows, and another shape only where a d_model has one
    (--full's 1024): a quick run (one block at d_model 64) is not sent to the JSON for a d_model 1024
    it did not measure, and one block is 'one SGD step of 1 block'."""
    quick = _blocks_title({64: (4, 64, 1)})
    assert "batch×seq 4×64)" in quick and "1024" not in quick
    assert "one SGD step of 1 block:" in quick
    full = _blocks_title({64: (8, 128, 4), 256: (8, 128, 4), 1024: (2, 128, 4)})
    assert "batch×seq 8×128; at d_model 1024 2×128)" in full
    assert "one SGD step of 4 blocks:" in full
