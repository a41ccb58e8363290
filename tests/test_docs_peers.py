"""docs/peers.py, the "How jax.nn, PyTorch, Flax and Equinox differ" section of every function page:
one entry per function of ``jrelu.FUNCTIONS``, and the peers' facts it states that can be re-measured
here (the installed jax.nn, Flax and Equinox) still hold. PyTorch's are held by the golden data.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import jrelu

_spec = importlib.util.spec_from_file_location(
    "docs_peers", Path(__file__).resolve().parents[1] / "docs" / "peers.py"
)
assert _spec is not None and _spec.loader is not None
peers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = peers  # dataclasses look their module up there
_spec.loader.exec_module(peers)


def _d(f, x: float = 0.0) -> float:
    return float(jax.grad(f)(x))


def test_every_function_has_one_entry_per_peer():
    assert peers.missing(list(jrelu.FUNCTIONS)) == []
    for name, entry in peers.PEERS.items():
        assert list(entry) == list(peers.ORDER), name
        assert all(p.counterpart.strip() for p in entry.values()), name


def test_missing_names_what_is_wrong():
    assert peers.missing([*jrelu.FUNCTIONS, "gelu"]) == ["gelu: no entry in docs/peers.py PEERS"]
    assert peers.missing([n for n in jrelu.FUNCTIONS if n != "elu"]) == [
        "elu: in docs/peers.py PEERS but not in jrelu.FUNCTIONS"
    ]


@pytest.mark.parametrize("name", list(jrelu.FUNCTIONS))
def test_the_named_jax_nn_functions_exist_or_do_not(name):
    """A jax.nn counterpart is spelled with its signature; "None" means jax.nn has no such function."""
    jax_nn = peers.PEERS[name]["jax.nn"].counterpart
    if jax_nn.startswith("None"):
        assert not hasattr(jax.nn, name)
    else:
        assert re.match(rf"`jax\.nn\.{name}\(", jax_nn)
        assert hasattr(jax.nn, name)


def test_flax_re_exports_are_jax_nn():
    flax_linen = pytest.importorskip("flax.linen")
    from flax import nnx

    for name, entry in peers.PEERS.items():
        if "itself (the same object)" in entry["Flax"].counterpart:
            assert getattr(flax_linen, name) is getattr(jax.nn, name), name
            assert getattr(nnx, name) is getattr(jax.nn, name), name
    assert flax_linen.glu is jax.nn.glu and nnx.glu is jax.nn.glu  # reglu's Flax entry


def test_kink_facts_stated_for_jax_nn():
    assert _d(jax.nn.leaky_relu) == 1.0 and _d(jrelu.leaky_relu) == pytest.approx(0.01)
    assert _d(lambda x: jnp.where(x >= 0, x, 0.25 * x)) == 1.0  # prelu's usual code

    def second(f, alpha: float) -> float:
        return float(jax.grad(jax.grad(f), argnums=0)(0.0, alpha))

    for alpha in (1.0, 2.0, 0.5):  # celu'' at 0: 1/(4 alpha) in jax.nn, 1/alpha in jrelu
        assert second(jax.nn.celu, alpha) == 1 / (4 * alpha)
        assert second(jrelu.celu, alpha) == 1 / alpha
        assert second(jax.nn.elu, alpha) == alpha
    assert bool(jnp.isnan(jax.nn.celu(jnp.float32(1.0), 0.0)))  # alpha=0 gives NaN for x >= 0
    assert _d(lambda x: jax.nn.relu(x), jnp.nan) == 0.0  # the gradient at a NaN input


def test_integer_and_complex_facts_stated_for_jax_nn():
    ints = jnp.arange(-2, 3, dtype=jnp.int32)
    assert jax.nn.relu(ints).dtype == jnp.int32
    with jax.numpy_dtype_promotion("standard"):  # what users get (the suite runs strict)
        for f in (jax.nn.relu6, jax.nn.leaky_relu, jax.nn.elu, jax.nn.celu, jax.nn.selu):
            assert f(ints).dtype == jnp.float32
            assert f(jnp.array([1 + 1j], jnp.complex64)).dtype == jnp.complex64
    for name in ("leaky_relu", "elu", "celu", "selu"):
        with pytest.raises(TypeError):
            getattr(jrelu, name)(ints)
        with pytest.raises(TypeError):
            getattr(jrelu, name)(jnp.array([1 + 1j], jnp.complex64))


def test_module_facts_stated_for_flax_and_equinox():
    flax_linen = pytest.importorskip("flax.linen")
    eqx = pytest.importorskip("equinox")
    m = flax_linen.PReLU()
    p = m.init(jax.random.key(0), jnp.ones(3))
    assert float(p["params"]["negative_slope"]) == pytest.approx(0.01)
    assert _d(lambda x: m.apply(p, x)) == 1.0
    assert _d(eqx.nn.PReLU()) == 1.0
    xb = jnp.ones((3, 2, 2), jnp.bfloat16)
    assert eqx.nn.PReLU(jnp.full((3, 1, 1), 0.25, jnp.float32))(xb).dtype == jnp.float32
    for missing in ("AlphaDropout", "RReLU"):
        assert not hasattr(eqx.nn, missing) and not hasattr(flax_linen, missing)


def test_selu_half_precision_says_what_it_counts_as_the_readme_and_the_findings_do():
    """The selu page's bfloat16 shares are the committed core figures (benchmarks/core_figures.py),
    with subnormal inputs and without: the README's "Why" row counts them, the findings page (the
    examples' summary) leaves them out, and a reader of the page sees both."""
    import json
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    figures = json.loads((root / "benchmarks" / "results" / "core_figures.json").read_text())
    (half,) = [r for r in figures["half"] if r["fn"] == "selu"]
    text = " ".join(peers.PEERS["selu"]["jax.nn"].differences)
    for key in ("jax.nn:bfloat16", "jrelu:bfloat16", "jax.nn:bfloat16:normal"):
        assert f"{half[key]:.2%}" in text, key
    assert f"jrelu {half['jrelu:bfloat16:normal']:.2%}" in text
    assert "subnormal" in text
    gallery = (root / "examples" / "results" / "01_gallery" / "summary.md").read_text()
    assert "subnormal ones left out" in gallery and "| `selu` | 0% |" in gallery
