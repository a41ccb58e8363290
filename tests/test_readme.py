"""The README is the front door: short, its commands the ones CI runs, no private names, and its code
blocks are files (examples/snippets) that run; the Flax, Equinox, toolkit and sharding examples are run
by their own test files, and benchmarks/update_readme.py --check (tests/test_bench.py) holds every
spliced block equal to its file."""

from __future__ import annotations

import pathlib
import re
import runpy

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
