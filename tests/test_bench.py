"""`jrelu bench`: the JSON it writes (every section, the schema, counted bytes), the plot, the README
table rendered from the JSON, the timing harness and the option checks. Speed is not judged here."""

from __future__ import annotations

import importlib.util
import json
import math
import pathlib
import time

import pytest

import jrelu
from jrelu import _bench, _bench_report, _bench_speed
from jrelu._cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
IMPLS = {"jrelu", "jax.nn", "torch", "identity"}
DTYPES = ("float32", "bfloat16")
ITEMSIZE = {"float32": 4, "bfloat16": 2}
SIZE = 2**10


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def test_quick_bench_writes_every_section_the_plot_and_the_readme_table(tmp_path):
    """One quick run on a tiny size (one test, so that pytest-xdist runs it once): relu has a jax.nn
    peer, prelu the jnp.where formulation and a slope learned per channel in the models."""
    path, png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "--quick", "--no-torch", "--fns", "relu", "prelu", "--sizes", "10"]
    assert main([*argv, "--repeats", "3", "--json", str(path), "--plot", str(png)]) == 0
    results = json.loads(path.read_text())
    labels = ["relu", "prelu"]

    for key in ("device", "backend", "jax_version", "date", "device_detail", "jrelu_version"):
        assert isinstance(results[key], str) and results[key]
    assert results["jrelu_version"] == jrelu.__version__
    for section in ("copy", "speed", "memory", "train_step", "dispatch"):
        assert results[section], f"section {section!r} is empty"
    assert results["quick"] is True and results["config"]["sizes"] == [SIZE]

    _check_speed(results, labels, {"relu": "jax.nn.relu", "prelu": "jnp.where"})
    _check_memory(results, labels)
    _check_train_and_dispatch(results, labels)
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
        assert r["bytes"] == {"fwd": 2, "fwd+bwd": 4}[r["pass"]] * r["size"] * ITEMSIZE[r["dtype"]]
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


def test_rrelu_runs_without_a_key_and_with_one(tmp_path):
    """rrelu gives two cases: eval (no key) and train (a key; peers draw slopes with
    jax.random.uniform), through the speed section, the memory figure and a training step."""
    from jrelu import _bench_models as bm

    path = tmp_path / "r.json"
    argv = ["bench", "--sections", "speed", "--fns", "rrelu", "--sizes", "10", "--no-torch"]
    assert main([*argv, "--dtypes", "float32", "--repeats", "1", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["speed"]
    got = {(r["label"], r["key"], r["pass"], r["impl"], r.get("peer")) for r in rows}
    assert got == {
        (label, key, p, impl, "jnp.where" if impl == "jax.nn" else None)
        for label, key in [("rrelu[eval]", False), ("rrelu[train]", True)]
        for p in ("fwd", "fwd+bwd")
        for impl in ("jrelu", "jax.nn")
    }
    (train,) = [c for c in _bench_speed.build_cases(["rrelu"]) if c.key]
    plan = _bench_speed.Plan(target=0.0, repeats=1, min_repeats=1, budget=0.0, warmup=1)
    dims = bm.ModelDims(batch=8, width=32, depth=2)
    programs = {i: bm.train_program(train, i, "mlp", dims).compile() for i in ("jrelu", "jax.nn")}
    for r in bm.train_step_rows(train, "mlp", dims, programs, plan):
        assert r["label"] == "rrelu[train]" and r["loss_finite"] and r["seconds"] > 0


def test_a_failing_section_is_recorded_and_the_json_kept_after_each_section(tmp_path, monkeypatch):
    """A section that raises is recorded in the JSON's "errors" and the run goes on (exit status 1);
    the JSON is written after every section, so what came before a failure (or a timeout) is kept."""
    path = tmp_path / "b.json"
    written = []
    real_write = _bench._write_json

    def spy(p, results):
        real_write(p, results)
        written.append(json.loads(pathlib.Path(p).read_text()))

    def broken(*args, **kwargs):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(_bench, "_write_json", spy)
    monkeypatch.setattr(_bench_speed, "measure_dispatch", broken)
    argv = ["bench", "--sections", "speed", "dispatch", "--fns", "relu", "--sizes", "10"]
    argv += ["--no-torch", "--dtypes", "float32", "--repeats", "1", "--json", str(path)]
    assert main(argv) == 1
    final = json.loads(path.read_text())
    assert [e["section"] for e in final["errors"]] == ["dispatch"]
    assert "RuntimeError: no such kernel" in final["errors"][0]["error"]
    # after the speed section (its rows there, no error yet), after dispatch, and at the end
    assert len(written) == 3 and written[0]["speed"] and not written[0]["errors"]
    assert {r["impl"] for r in final["speed"]} == {"jrelu", "jax.nn"}


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
    assert _bench_speed.parse_size(text) == n


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
    """README.md's bench table is what update_readme.py renders from the newest committed full run."""
    assert _load_script("update_readme").main(["--check"]) == 0, (
        "README.md is stale: run benchmarks/update_readme.py"
    )


def test_committed_scheduler_figures_and_readme_agree():
    """README.md's memory-schedulers section is rendered from benchmarks/results (not typed), and the
    figures it quotes hold there: jrelu keeps no more than jax.nn in the CNN under either scheduler."""
    mod = _load_script("memory_schedulers")
    data = json.loads(mod.OUT.read_text())
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- BEGIN memory-schedulers -->\n", "\n<!-- END memory-schedulers -->"
    assert readme.split(begin, 1)[1].split(end, 1)[0] == mod.render(data), (
        "README.md is stale: run benchmarks/memory_schedulers.py"
    )
    for sched in data["schedulers"].values():
        rows = {(r["model"], r["label"], r["impl"]): r["tensors"] for r in sched["rows"]}
        for (model, label, impl), v in rows.items():
            if model == "cnn" and impl == "jrelu" and label != "prelu":
                assert v <= rows[(model, label, "jax.nn")] + 1e-9, (label, v)


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
