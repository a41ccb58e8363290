"""The README is the front door: short, its commands the ones CI runs, no private names, and its code
blocks are files (examples/snippets) that run; the Flax, Equinox, toolkit and sharding examples are run
by their own test files, and benchmarks/update_readme.py --check (tests/test_bench.py) holds every
spliced block equal to its file."""

from __future__ import annotations

import pathlib
import re
import runpy

import jax
import jax.numpy as jnp
import numpy as np

import jrelu

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SNIPPETS = ROOT / "examples" / "snippets"


def test_readme_is_short_and_names_no_private_module():
    assert len(README.splitlines()) <= 300
    assert not re.search(r"jrelu\._\w", README), re.findall(r"jrelu\._\w+", README)
    # .ci/run runs these two lines as written: the install-and-test and the docs build.
    assert re.search(r'^pip install -e "\.\[dev\]" && pytest$', README, re.M)
    assert re.search(r'^pip install -e "\.\[docs\]" && sphinx-build -W .*docs', README, re.M)


def test_readme_code_blocks_are_spliced_files():
    """Every Python block of the README sits between the markers of the file it is copied from."""
    blocks = re.findall(r"```python\n", README)
    files = re.findall(r"<!-- BEGIN code (\S+) -->\n```python\n", README)
    assert len(files) == len(blocks) >= 4
    assert all((ROOT / f).is_file() and f.startswith("examples/snippets/") for f in files)


def test_readme_functions_example_runs():
    ns = runpy.run_path(str(SNIPPETS / "functions.py"))
    np.testing.assert_array_equal(ns["kink"], jnp.full(3, 0.01, jnp.float32))  # PyTorch's kink
    spec = jrelu.FUNCTIONS["leaky_relu"]
    np.testing.assert_allclose(ns["y"], spec.value(np.asarray(ns["x"]), negative_slope=0.01))
    assert bool(jnp.all(ns["r"][ns["x"] > 0] == ns["x"][ns["x"] > 0]))
    np.testing.assert_array_equal(ns["act"](ns["x"]), jrelu.celu(ns["x"], alpha=0.5))
    np.testing.assert_allclose(ns["e"], jrelu.elu(ns["x"]))  # precise chooses the backward only


def test_readme_why_table_figures_are_the_committed_core_figures():
    """The "Why" table's numbers are written from benchmarks/results/core_figures.json (made by
    benchmarks/core_figures.py): a re-measurement that changes them fails here until the table does."""
    import json

    fig = json.loads((ROOT / "benchmarks" / "results" / "core_figures.json").read_text())
    by = {k: {r["fn"]: r for r in fig[k]} for k in ("memory", "ulp", "half")}
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in README.split("## Why", 1)[1].split("\n\n")[2].splitlines()[2:]
    }
    blocks = [r for r in fig["blocks"] if not r["fn"].startswith(("reglu", "prelu"))]
    kept = {round(r["jrelu"], 3) for r in blocks}
    ratios = [r["bytes_ratio"] for r in blocks]
    assert (
        rows["in a transformer block ⁶"][0]
        == (f"**{kept.pop():.0f}**; bytes {min(ratios):.2f}–{max(ratios):.2f}×")
        and not kept
    )
    peers = {r["fn"]: r["peer"] for r in blocks}
    assert rows["in a transformer block ⁶"][1] == (
        f"{peers['relu']:.0f} relu family, {peers['elu']:.0f} elu/selu, {peers['celu']:.0f} celu"
    )
    assert {peers[n] for n in ("relu", "relu6", "leaky_relu", "squared_relu")} == {peers["relu"]}
    assert peers["selu"] == peers["elu"]
    learned = by["memory"]["prelu (slope learned, per channel)"]
    assert rows["learned PReLU slope ¹"][0].startswith(f"{learned['jrelu']:.2f}")
    assert rows["learned PReLU slope ¹"][3] == f"{learned['peer']:.0f}"
    elu, selu = by["ulp"]["elu(alpha=1)"], by["ulp"]["selu"]
    ulps = rows["float32 error, ulp (elu / selu) ³"]
    assert ulps[:2] == [
        f"{elu['jrelu']:.2f} / {selu['jrelu']:.2f}",
        f"{elu['peer']:.2f} / {selu['peer']:.2f}",
    ]
    half = by["half"]["selu"]
    assert rows["bfloat16 selu correctly rounded ⁴"][:2] == [
        f"{half['jrelu:bfloat16']:.2%}",
        f"{half['jax.nn:bfloat16']:.2%}",
    ]
    # the footnote says what the share counts, and gives it without the subnormal inputs
    note = " ".join(README.split("⁴ Share", 1)[1].split("⁵", 1)[0].split())
    assert "subnormal inputs included" in note
    assert (
        f"jrelu rounds {half['jrelu:bfloat16:normal']:.2%} correctly "
        f"(jax.nn {half['jax.nn:bfloat16:normal']:.2%})" in note
    )


# --------------------------------------------------------------------------------------------------
# The docs' Getting started page: its code is examples/snippets/getting_started_*.py (spliced), and
# its shell lines are commands this jrelu parses
# --------------------------------------------------------------------------------------------------

GETTING_STARTED = ROOT / "docs" / "guides" / "getting_started.md"


def test_getting_started_first_function_runs():
    ns = runpy.run_path(str(SNIPPETS / "getting_started_function.py"))
    spec = jrelu.FUNCTIONS["leaky_relu"]
    x = np.asarray(ns["x"], np.float64)
    np.testing.assert_allclose(ns["y"], spec.value(x, negative_slope=0.01), rtol=1e-6)
    np.testing.assert_array_equal(ns["dy"], np.float32([0.01, 0.01, 1.0]))  # the comment's values
    np.testing.assert_allclose(ns["y2"], jax.nn.elu(ns["x"]), rtol=1e-6)


def test_getting_started_first_model_trains_as_the_jnp_where_prelu_does():
    """The page's model, trained 100 steps, and the same model with Flax's PReLU formulation
    (jnp.where, one slope per channel from 0.25): the same losses, step by step."""
    import optax
    from flax import nnx

    # user code runs under JAX's default promotion (optax's Adam is not dtype-strict)
    with jax.numpy_dtype_promotion("standard"):
        ns = runpy.run_path(str(SNIPPETS / "getting_started_model.py"))

    class WherePReLU(nnx.Module):
        def __init__(self, n: int):
            self.negative_slope = nnx.Param(jnp.full((n,), 0.25))

        def __call__(self, x):
            return jnp.where(x > 0, x, self.negative_slope[...][None, :] * x)

    model = ns["MLP"](nnx.Rngs(0))
    model.act = WherePReLU(64)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    with jax.numpy_dtype_promotion("standard"):
        peer = [float(ns["step"](model, optimizer, ns["x"], ns["y"])) for _ in range(100)]
    np.testing.assert_allclose(ns["losses"], peer, rtol=1e-5)
    assert ns["losses"][-1] < 0.5 * ns["losses"][0]


def test_getting_started_commands_parse():
    """Every `jrelu ...` line of the page's shell blocks is a command line this jrelu accepts, and
    the files it names are in the repository."""
    import shlex

    from jrelu._cli import build_parser

    text = GETTING_STARTED.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    commands = [ln for ln in lines if ln.startswith("jrelu ")]
    assert {c.split()[1] for c in commands} == {"bench", "compare", "check"}
    for line in commands:
        args = build_parser().parse_args(shlex.split(line)[1:])
        for path in getattr(args, "runs", []):
            if path != "mine.json":  # the run the page makes the line before
                assert sorted(ROOT.glob(path)), path
