"""The examples: each runs with --quick into a temporary folder, in this process (one JAX start-up for
all), and writes a PNG, a JSON that parses and holds sensible numbers, and its summary; the helpers the
examples carry as copies have not drifted apart; examples/README.md's section is what update_readme.py collects
from the committed summaries, and each committed summary is what its example renders from the committed
results.json."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import math
import os
import pathlib
import re
import struct
import sys
import types

import jax
import numpy as np
import pytest

import jrelu


@pytest.fixture(autouse=True)
def _optax_promotes_dtypes():
    # optax's Adam bias correction raises a Python float to an int32 step count, which strict dtype
    # promotion refuses (optax's code, not jrelu's): these tests train with it, so standard dtype
    # promotion here; rank promotion stays "raise".
    with jax.numpy_dtype_promotion("standard"):
        yield


pytest.importorskip(
    "sklearn", reason="the examples use scikit-learn's bundled digits (pip install -e .[dev])"
)
pytest.importorskip(
    "matplotlib", reason="the examples draw with matplotlib (pip install -e .[dev])"
)

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("[0-9][0-9]_*.py"))
ALLOWED_IMPORTS = {
    "__future__",
    "argparse",
    "collections",
    "json",
    "math",
    "os",
    "pydoc_data",  # 08's text: the help topics that ship with Python
    "time",
    "typing",  # standard library
    "jax",
    "flax",
    "optax",
    "numpy",
    "matplotlib",
    "sklearn",
    "jrelu",
}


def load(path: pathlib.Path) -> types.ModuleType:
    name = f"jrelu_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (flax modules) look their module up here
    spec.loader.exec_module(module)
    return module


def png_size(path: pathlib.Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def finite_numbers(obj) -> bool:
    """Every float in a JSON tree is finite (NaN or inf would mean a broken run)."""
    if isinstance(obj, dict):
        return all(finite_numbers(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite_numbers(v) for v in obj)
    return not isinstance(obj, float) or math.isfinite(obj)


def links(markdown: str) -> list[str]:
    """The relative link targets of a Markdown text (links and images)."""
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", markdown) if ":" not in t]


def test_nine_numbered_examples():
    assert [p.name[:2] for p in EXAMPLES] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_imports_only_the_allowed_libraries(path):
    """Self-contained and forkable: nothing from the repository but jrelu, no shared helper module."""
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            roots.add(node.module.split(".")[0])
    assert roots <= ALLOWED_IMPORTS, f"{path.name} imports {sorted(roots - ALLOWED_IMPORTS)}"
    assert ast.get_docstring(tree), f"{path.name} has no docstring"
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "main" in names


# Copied on purpose (examples/README.md, "How the examples are written"): every example carries these,
# and the copies must stay identical; sci and pct only where its summary uses them.
SHARED = ("parser", "table", "md_table", "sci", "pct", "save", "summarise")
IN_EVERY = {"parser", "table", "md_table", "save", "summarise", "summary", "main"}


def test_copied_helpers_are_identical_in_every_example():
    copies: dict[str, dict[str, str]] = {name: {} for name in SHARED}
    for path in EXAMPLES:
        src = path.read_text()
        body = ast.parse(src).body
        functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
        assert IN_EVERY <= set(functions), f"{path.name} lacks {sorted(IN_EVERY - set(functions))}"
        # Side by side, from the comment that names them to summarise(), none of the example's own.
        start = src[: src.index("# The helpers every example carries")].count("\n") + 1
        end = functions["summarise"].end_lineno
        block = {getattr(n, "name", "code") for n in body if start < n.lineno <= end}
        assert block <= set(SHARED), f"{path.name}: {sorted(block - set(SHARED))} among the copies"
        for name in SHARED:
            if name in functions:
                copies[name][path.stem] = ast.get_source_segment(src, functions[name])
    for name, by_example in copies.items():
        assert len(by_example) >= 2, f"{name} is no longer shared: drop it from SHARED"
        first, *_ = by_example.values()
        drifted = sorted(ex for ex, text in by_example.items() if text != first)
        assert not drifted, f"{name}() differs in {drifted} from {next(iter(by_example))}"


# Per example: an independent expectation the quick run must meet.
def check_01(r):
    for name, f in r["functions"].items():
        spec = jrelu.FUNCTIONS[name]
        for k in f["kinks"]:  # jrelu's derivative at each kink is the registry's float64 convention
            want = float(spec.derivative(np.array(k["x"]), **spec.params))
            assert k["jrelu"] == pytest.approx(want, rel=1e-6), name
        assert f["max_rel_err_value"] < 1e-6, name
    assert r["functions"]["leaky_relu"]["kinks"][0]["peer"] == 1.0  # jax.nn's convention


def check_02(r):
    std = r["results"]["standard"]
    # Sigmoid's first layer gets far less gradient than its last; ReLU at He init does not shrink so.
    assert std["sigmoid"]["first_over_last"] < 1e-2
    assert std["relu"]["first_over_last"] > 0.1
    assert len(std["relu"]["grad_norm_per_layer"]) == r["config"]["depth"]


def check_03(r):
    relu = r["results"]["relu"]["history"][0]["layers"]
    # At He init with zero biases a ReLU unit is off for about half of the inputs.
    assert all(0.3 < s["sparsity"] < 0.7 for s in relu.values())
    elu = r["results"]["elu"]["history"][-1]["layers"]
    assert all(s["sparsity"] == 0.0 and s["negative_fraction"] > 0.2 for s in elu.values())


def check_04(r):
    broken = r["results"]["negative bias init"]["relu (broken)"]
    # Biases of -0.5 under LeCun-normal weights switch off whole deep layers from the start.
    assert broken["dead_at_init"] > 0.2 and max(broken["dead_per_layer"][0]) > 0.5
    assert 0.0 <= broken["test_accuracy_mean"] <= 1.0


def check_05(r):
    selu, relu = r["results"]["selu"], r["results"]["relu"]
    assert 0.8 < selu["variance"][0] < 1.25 and abs(selu["mean"][0]) < 0.2
    assert relu["final_variance"] < 0.5 * selu["final_variance"]  # ReLU at LeCun init shrinks
    alpha = r["results"]["selu + AlphaDropout(0.1)"]
    assert 0.7 < alpha["final_variance"] < 1.4


def check_06(r):
    for name, res in r["results"].items():
        assert len(res["test_accuracy"]) == r["config"]["seeds"], name
        assert all(0.0 <= a <= 1.0 for a in res["test_accuracy"])
    assert set(r["results"]["prelu"]["prelu_slopes_mean"]) == {"PReLU_0", "PReLU_1", "PReLU_2"}


def check_07(r):
    res = r["results"]["prelu, no decay on slopes"]
    assert [s["channels"] for s in res["slope_summary"].values()] == [8, 16, 32]
    assert res["slope_curve"][0]["PReLU_0"] == [pytest.approx(0.25)]  # the initial slope


def check_08(r):
    vocab = r["data"]["vocab"]
    for name, res in r["results"].items():
        # At init the logits are about N(0, 1) (a LeCun-normal head on layer-normed features), so the
        # cross-entropy starts near E[logsumexp] - E[logit] = ln(vocabulary) + 1/2.
        start = np.mean(res["history"][0]["held_out_loss"])
        assert abs(start - (math.log(vocab) + 0.5)) < 0.3, name
        assert len(res["zeros_final"]) == r["config"]["layers"], name
    # Bias-free FFN at init: a ReLU (or ReGLU gate) pre-activation is symmetric about 0, so about
    # half of the hidden values are exactly 0.
    for name in ("relu", "reglu"):
        assert all(0.3 < z < 0.7 for z in r["results"][name]["zeros_init"]), name
    # Parameter matching: the gated FFN's three matrices hold about the plain FFN's two.
    plain, gated = (r["results"][n]["ffn_params_per_layer"] for n in ("relu", "reglu"))
    assert abs(gated - plain) / plain < 0.05
    costs = r["step_costs"]
    assert {c["formulation"] for c in costs.values()} == {"jrelu", "jax.nn"}
    for c in costs.values():  # XLA's figures: a step needs scratch memory, more with more blocks
        assert 0 < c["temp_bytes"] < c["temp_bytes_2x_layers"] and c["step_ms_median"] > 0


def check_09(r):
    vocab, cfg = r["data"]["vocab"], r["config"]
    for name, res in r["results"].items():
        start = np.mean(res["history"][0]["held_out_loss"])  # 08's model: see check_08
        assert abs(start - (math.log(vocab) + 0.5)) < 0.3, name
        # A unit 0 for all B tokens is 0 for each: the skippable share never exceeds the zeros per
        # token, and the largest union count is at least the mean one.
        for z, shares, most in zip(
            res["zeros_final"], res["union_active"], res["union_max_count"], strict=True
        ):
            for share, m in zip(shares, most, strict=True):
                assert 1 - share <= z + 1e-6 and share * res["hidden"] <= m <= res["hidden"], name
    assert all(0.3 < z < 0.7 for z in r["results"]["relu"]["zeros_init"])  # as check_08
    for rows in r["real_ffn"].values():
        for row in rows:
            # the timed input is one of the held-out groups whose largest union is the capacity
            assert 1 <= row["active"] <= row["capacity"] <= cfg["ffn_mult"] * cfg["d_model"]
            if row["op"] == "down":
                assert row["max_abs_diff"] <= row["bound"]  # jrelu.sparse's summation-order bound
    for rows in r["scaled"].values():
        for row in rows:
            assert row["max_abs_diff"] <= row["bound"]
            assert row["share"] == row["active"] / row["hidden"]
    for rows in r["decode"].values():
        for row in rows:
            per_call = row["tokens"] * cfg["context"]
            assert row["sparse"]["tokens_per_s"] == pytest.approx(
                1e3 * per_call / row["sparse"]["ms"]
            )
        # the key-value cache reproduces the parallel forward pass (float32 rounding only)
        assert rows[-1]["cache_vs_parallel"] < 1e-4


CHECKS = {f"{i:02d}": globals()[f"check_{i:02d}"] for i in range(1, 10)}
# 08 trains a transformer: its --quick (minutes) is too slow for the suite, --smoke runs a tiny one.
MODE = {"08": "--smoke"}


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_quick_run_writes_png_json_and_summary(path, tmp_path):
    module = load(path)
    out = tmp_path / path.stem
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        returned = module.main([MODE.get(path.name[:2], "--quick"), "--out", str(out)])
    printed = buf.getvalue()
    assert "---" in printed, "no table printed"  # the findings table
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [module.FIGURE]
    for png in pngs:
        width, height = png_size(png)
        assert width > 200 and height > 150
    data = json.loads((out / "results.json").read_text())
    assert data["example"] == path.stem and data["quick"] is True
    assert finite_numbers(data)
    assert json.loads(json.dumps(returned)) == data  # main() returns what it wrote
    CHECKS[path.name[:2]](data)
    # summary.md is the example's summary() of the json alone, and --summarise writes it again.
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert summary == module.summary(data, os.path.relpath(path, out).replace(os.sep, "/"))
    (out / "summary.md").unlink()
    with contextlib.redirect_stdout(io.StringIO()):
        assert module.main(["--summarise", str(out)]) == data
    assert (out / "summary.md").read_text(encoding="utf-8") == summary
    for link in links(summary):  # relative to the summary's folder: the script and the figure
        assert (out / link).is_file(), link
    # The collector accepts a (partial, quick) result set, and rebases the links onto its target.
    update_readme = load(EXAMPLES_DIR / "update_readme.py")
    text = update_readme.render(str(tmp_path), str(tmp_path))
    assert "quick mode: not for publication" in text
    assert f"]({path.stem}/{module.FIGURE})" in text
    _, _, sections = text.partition("\n**")
    assert "| the article says |" not in sections  # the claim rows went into the table at the top
    for link in links(text):
        assert (tmp_path / link).exists(), link


def test_readme_update_touches_only_the_marked_section():
    """The one splicer (benchmarks/update_readme.py) replaces only the marked section, and rebases the
    renderer's root-relative links to the file that holds them."""
    splicer = load(EXAMPLES_DIR.parent / "benchmarks" / "update_readme.py")
    readme = "# t\n\nbefore\n<!-- BEGIN measurements -->\nold\n<!-- END measurements -->\nafter\n"
    new = splicer.splice(readme, "measurements", "new body\n")
    assert (
        new
        == "# t\n\nbefore\n<!-- BEGIN measurements -->\nnew body\n<!-- END measurements -->\nafter\n"
    )
    assert splicer.splice(new, "measurements", "new body\n") == new  # idempotent
    with pytest.raises(ValueError, match="<!-- BEGIN measurements -->"):
        splicer.splice("# no markers\n", "measurements", "x")
    body = "[`01_gallery.py`](examples/01_gallery.py) ![a](examples/results/a.png) [w](https://x.org/y)"
    assert splicer.rebase(body, EXAMPLES_DIR / "README.md") == (
        "[`01_gallery.py`](01_gallery.py) ![a](results/a.png) [w](https://x.org/y)"
    )


def test_readme_update_rebases_links_and_gathers_claims():
    update_readme = load(EXAMPLES_DIR / "update_readme.py")
    here = os.path.join("repo", "examples", "results", "01_x")
    text = "[`01_x.py`](../../01_x.py) ![f](f.png) [web](https://jax.dev) [top](#a) [d](./)"
    assert update_readme.rebase(text, here, "repo") == (
        "[`01_x.py`](examples/01_x.py) ![f](examples/results/01_x/f.png) "
        "[web](https://jax.dev) [top](#a) [d](examples/results/01_x/)"
    )
    claims = update_readme.CLAIMS
    assert update_readme.split(f"body\n\n{claims}\n| a | b | c |\n| d | e | f |\n") == (
        "body",
        ["| a | b | c |", "| d | e | f |"],
    )
    assert update_readme.split("body with | a | table\n") == ("body with | a | table", [])


def test_committed_results_summaries_and_readme_agree():
    """Each committed summary.md is its example's summary() of the committed results.json (full runs),
    and examples/README.md's section is what update_readme.py collects from them."""
    results = EXAMPLES_DIR / "results"
    if not (results / "run_all.json").is_file():
        pytest.skip("no committed full-run results (python examples/run_all.py)")
    update_readme = load(EXAMPLES_DIR / "update_readme.py")
    loaded = update_readme.load(str(results))
    assert sorted(loaded) == [p.stem for p in EXAMPLES]
    assert not any(r["quick"] for r, _ in loaded.values()), "committed results come from --quick"
    for path in EXAMPLES:
        data, summary = loaded[path.stem]
        module = load(path)
        assert summary == module.summary(data, f"../../{path.name}"), (
            f"{path.stem}/summary.md is stale: python examples/run_all.py --summarise"
        )
        for png in (results / path.stem).glob("*.png"):
            assert png.stat().st_size < 200_000, f"{png} is over 200 kB"
    assert update_readme.main(["--check"]) == 0, (
        "examples/README.md is stale: run examples/update_readme.py"
    )
    readme = pathlib.Path(update_readme.TARGET)
    begin, end = "<!-- BEGIN measurements -->", "<!-- END measurements -->"
    section = readme.read_text(encoding="utf-8").split(begin)[1]
    for link in links(section.split(end)[0]):
        assert (readme.parent / link).exists(), link
    # Pointed at a file in another folder (the repository root, say), the links still resolve.
    for link in links(update_readme.render(str(results), str(EXAMPLES_DIR.parent))):
        assert (EXAMPLES_DIR.parent / link).exists(), link
