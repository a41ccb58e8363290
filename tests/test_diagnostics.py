"""jrelu.diagnostics: each statistic against cases worked out by hand; the Flax integration against the
activations recomputed from the parameters."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu
from jrelu import diagnostics as D

# 3 examples (rows) x 4 units (columns).
A = np.array(
    [
        [0.0, 1.0, 0.0, -1.0],
        [0.0, 2.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, -0.5],
    ],
    np.float32,
)


# --------------------------------------------------------------------------------------------------
# dead units, dead fraction
# --------------------------------------------------------------------------------------------------


def test_dead_units_by_hand():
    # Column 0 and column 2 are zero in all three rows: dead. Column 1 has 1 and 2; column 3 has -1.
    np.testing.assert_array_equal(D.dead_units(A), [True, False, True, False])
    assert float(D.dead_fraction(A)) == 0.5  # 2 of 4
    # "nonpositive": column 3 (-1, 0, -0.5) never exceeds 0 either: 3 of 4.
    np.testing.assert_array_equal(
        D.dead_units(A, criterion="nonpositive"), [True, False, True, True]
    )
    assert float(D.dead_fraction(A, criterion="nonpositive")) == 0.75


def test_dead_fraction_other_axis_and_tolerance():
    # Batch along axis 1: units are the rows. Row 0 (0, 1, 0, -1) and row 1 have nonzeros; so has row 2.
    assert float(D.dead_fraction(A, axis=1)) == 0.0
    # With atol=1, |a| <= 1 everywhere in row 0 and row 2 (max |a| = 1 and 0.5), not in row 1 (2.0).
    np.testing.assert_array_equal(D.dead_units(A, axis=1, atol=1.0), [True, False, True])
    assert float(D.dead_fraction(A, axis=1, atol=1.0)) == pytest.approx(2 / 3)
    # Negative axis means the same as the positive one.
    assert float(D.dead_fraction(A, axis=-2)) == float(D.dead_fraction(A, axis=0))


def test_dead_channels_of_a_convolution():
    # NHWC: 2 images, 2x1 pixels, 3 channels. Channel 0 is zero everywhere; channel 1 fires once (image
    # 1, pixel 1); channel 2 fires at pixel 0 of image 0.
    x = np.zeros((2, 2, 1, 3), np.float32)
    x[1, 1, 0, 1] = 3.0
    x[0, 0, 0, 2] = 0.5
    # Per channel (reduce over batch and space): only channel 0 is dead.
    np.testing.assert_array_equal(D.dead_units(x, axis=(0, 1, 2)), [True, False, False])
    # Per channel-at-a-pixel (reduce over batch only): 6 units; alive: (pixel 1, ch 1), (pixel 0, ch 2).
    assert float(D.dead_fraction(x)) == pytest.approx(4 / 6)


# --------------------------------------------------------------------------------------------------
# sparsity, summary
# --------------------------------------------------------------------------------------------------


def test_sparsity_by_hand():
    # Zeros in A: column 0 (3), column 2 (3), A[2, 1], A[1, 3]: 8 of 12.
    assert float(D.sparsity(A)) == pytest.approx(8 / 12)
    # |a| <= 0.5 adds A[2, 3] = -0.5: 9 of 12.
    assert float(D.sparsity(A, atol=0.5)) == pytest.approx(9 / 12)
    # Only relu/relu6 give exact zeros: elu of the same inputs has none where x != 0.
    x = jnp.array([-1.0, 2.0, -3.0, 0.5])
    assert float(D.sparsity(jrelu.relu(x))) == 0.5
    assert float(D.sparsity(jrelu.elu(x))) == 0.0


def test_summary_by_hand():
    x = np.array([[-1.0, 0.0], [3.0, 0.0]], np.float32)
    s = D.summary(x)
    assert list(s) == list(D.STATS)
    # mean = (-1 + 0 + 3 + 0) / 4 = 0.5; squared deviations 2.25, 0.25, 6.25, 0.25 -> var 2.25, std 1.5.
    assert float(s["mean"]) == pytest.approx(0.5)
    assert float(s["std"]) == pytest.approx(1.5)
    assert float(s["negative_fraction"]) == 0.25  # one of four
    assert float(s["sparsity"]) == 0.5  # two zeros
    assert float(s["dead_fraction"]) == 0.5  # column 1 is zero in both rows


def test_summary_keeps_working_under_jit_and_in_half_precision():
    x = jax.random.normal(jax.random.key(0), (64, 16))
    y = jrelu.relu(x)
    eager = D.summary(y)
    jitted = jax.jit(D.summary)(y)
    for k in D.STATS:
        assert float(jitted[k]) == pytest.approx(float(eager[k]), rel=1e-6)
    half = D.summary(y.astype(jnp.bfloat16))
    assert half["mean"].dtype == jnp.float32  # statistics computed in float32
    assert float(half["sparsity"]) == float(eager["sparsity"])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: D.dead_fraction(A, criterion="negative"), ValueError, "criterion must be one of"),
        (lambda: D.dead_fraction(A, axis=2), ValueError, "axis 2 is out of range"),
        (lambda: D.dead_fraction(A, axis=(0, -2)), ValueError, "repeated axis"),
        (lambda: D.dead_fraction(A, axis=0.5), TypeError, "axis must be an int"),
        (lambda: D.dead_fraction(np.float32(1.0)), ValueError, "batch axis"),
        (lambda: D.sparsity(A, atol=-1.0), ValueError, "atol must be finite and >= 0"),
        (lambda: D.sparsity(A, atol="0"), TypeError, "atol must be a number"),
        (lambda: D.summary(np.array([1j, 2j])), TypeError, "real numbers"),
    ],
)
def test_errors_say_what_is_wrong(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------------------------------
# gradient norms
# --------------------------------------------------------------------------------------------------


def test_gradient_norms_by_layer_and_leaf():
    g = {
        "Dense_0": {"kernel": jnp.array([[3.0], [4.0]]), "bias": jnp.array([12.0])},
        "Dense_1": {"kernel": jnp.array([[1.0, 0.0]]), "bias": jnp.zeros(2)},
    }
    # Dense_0: sqrt(9 + 16 + 144) = 13; Dense_1: 1.
    assert {k: float(v) for k, v in D.gradient_norms(g).items()} == {
        "Dense_0": 13.0,
        "Dense_1": 1.0,
    }
    # By leaf: kernel 5, bias 12.
    leaf = {k: float(v) for k, v in D.gradient_norms(g, by="leaf").items()}
    assert leaf == {
        "Dense_0/bias": 12.0,
        "Dense_0/kernel": 5.0,
        "Dense_1/bias": 0.0,
        "Dense_1/kernel": 1.0,
    }


def test_gradient_norms_order_lists_and_skipped_leaves():
    # jax flattens dict keys as strings ("layer_10" < "layer_2"); the result orders numbers as numbers.
    g = {f"layer_{i}": {"w": jnp.full((1,), float(i))} for i in (10, 2, 1)}
    assert list(D.gradient_norms(g)) == ["layer_1", "layer_2", "layer_10"]
    # A list of layers: names are the indices; an integer leaf (a step counter) is skipped.
    g = [{"w": jnp.array([6.0, 8.0])}, {"w": jnp.array([1.0]), "step": jnp.array(3)}]
    assert {k: float(v) for k, v in D.gradient_norms(g).items()} == {"0": 10.0, "1": 1.0}
    # A bare array is one layer named ".".
    assert {k: float(v) for k, v in D.gradient_norms(jnp.array([5.0, 12.0])).items()} == {".": 13.0}


def test_gradient_norms_neither_underflow_nor_overflow():
    # (3e-30, 4e-30): squares (1e-59) underflow in float32; the norm 5e-30 does not.
    # (3e30, 4e30): squares overflow; the norm 5e30 does not.
    g = {"tiny": {"w": jnp.array([3e-30, 4e-30])}, "huge": {"w": jnp.array([3e30, 4e30])}}
    n = D.gradient_norms(g)
    assert float(n["tiny"]) == pytest.approx(5e-30, rel=1e-6)
    assert float(n["huge"]) == pytest.approx(5e30, rel=1e-6)
    # Non-finite gradients are reported, not hidden.
    n = D.gradient_norms({"a": {"w": jnp.array([jnp.inf, 1.0])}, "b": {"w": jnp.array([jnp.nan])}})
    assert np.isinf(float(n["a"])) and np.isnan(float(n["b"]))


def test_gradient_norms_errors():
    with pytest.raises(ValueError, match="by must be 'layer' or 'leaf'"):
        D.gradient_norms({"w": jnp.ones(2)}, by="module")
    with pytest.raises(ValueError, match="no floating point arrays"):
        D.gradient_norms({"step": jnp.array(1)})


def test_gradient_norms_of_an_nnx_state():
    from flax import nnx

    model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    x = jnp.array([[3.0, 4.0]])
    grads = nnx.grad(lambda m: m(x).sum())(model)
    # d(sum(x W + b))/dW = x^T = (3, 4), d/db = 1. The arrays sit at the top of the State, so each is
    # its own layer; one level down (as in any model with submodules) they group.
    n = {k: float(v) for k, v in D.gradient_norms(grads).items()}
    assert n == pytest.approx({"bias": 1.0, "kernel": 5.0})
    nested = {k: float(v) for k, v in D.gradient_norms({"fc": grads}).items()}
    assert nested == pytest.approx({"fc": np.sqrt(26.0)})


# --------------------------------------------------------------------------------------------------
# Flax integration
# --------------------------------------------------------------------------------------------------


def _linen_model():
    import flax.linen as nn

    from jrelu import linen as jnn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h1 = jnn.ReLU()(nn.Dense(4, name="fc1")(x))
            h2 = jnn.PReLU(name="act2")(nn.Dense(4, name="fc2")(h1))
            self.sow("intermediates", "mine", 2.0 * h2)  # a value sown by hand is collected too
            again = jnn.ELU(name="twice")
            return nn.Dense(2, name="head")(again(again(h2)))

    return Net()


def test_capture_linen_returns_each_jrelu_module_output():
    model = _linen_model()
    x = jax.random.normal(jax.random.key(1), (5, 3))
    variables = model.init(jax.random.key(0), x)
    out, acts = D.capture(model, variables, x)
    # Call order; Dense outputs are not included; a module called twice gives #0 and #1.
    assert list(acts) == ["ReLU_0", "act2", "mine", "twice#0", "twice#1"]
    p = variables["params"]
    h1 = jrelu.relu(x @ p["fc1"]["kernel"] + p["fc1"]["bias"][None])
    pre2 = h1 @ p["fc2"]["kernel"] + p["fc2"]["bias"][None]
    h2 = jrelu.prelu(pre2, p["act2"]["negative_slope"])
    np.testing.assert_allclose(acts["ReLU_0"], h1, rtol=1e-6)
    np.testing.assert_allclose(acts["act2"], h2, rtol=1e-6)
    np.testing.assert_allclose(acts["mine"], 2.0 * h2, rtol=1e-6)
    np.testing.assert_allclose(acts["twice#1"], jrelu.elu(jrelu.elu(h2)), rtol=1e-6)
    np.testing.assert_allclose(out, model.apply(variables, x), rtol=1e-6)


def test_collect_linen_statistics_equal_summary_of_captured_values():
    model = _linen_model()
    x = jax.random.normal(jax.random.key(2), (16, 3))
    variables = model.init(jax.random.key(0), x)
    _, acts = D.capture(model, variables, x)
    _, stats = jax.jit(lambda v, x: D.collect(model, v, x))(variables, x)
    assert set(stats) == set(acts)
    for name, a in acts.items():
        for k, v in D.summary(a).items():
            assert float(stats[name][k]) == pytest.approx(float(v), rel=1e-6, abs=1e-7)
    assert D.is_jrelu_module(jrelu.linen.ReLU())
    import flax.linen as nn

    assert not D.is_jrelu_module(nn.Dense(2))
    assert not D.is_jrelu_module(jrelu.linen.ReLU(), "setup")


def test_capture_linen_with_random_modules_needs_and_uses_rngs():
    import flax.linen as nn

    from jrelu import linen as jnn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train):
            return jnn.AlphaDropout(0.5)(jnn.SELU()(x), deterministic=not train)

    x = jnp.ones((4, 8))
    model = Net()
    _, acts = D.capture(model, {}, x, train=True, rngs={"dropout": jax.random.key(0)})
    assert list(acts) == ["SELU_0", "AlphaDropout_0"]
    assert float(jnp.mean(acts["AlphaDropout_0"] != acts["SELU_0"])) > 0.2  # some units dropped
    _, acts = D.capture(model, {}, x, train=False)
    np.testing.assert_array_equal(acts["AlphaDropout_0"], acts["SELU_0"])


def test_capture_nnx_keeps_jrelu_outputs_and_sown_values_only():
    from flax import nnx

    from jrelu import nnx as jnn

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(3, 4, rngs=rngs)
            self.act1 = jnn.ReLU()
            self.fc2 = nnx.Linear(4, 4, rngs=rngs)
            self.acts = nnx.List([jnn.PReLU(4), jnn.ELU()])
            self.head = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            h1 = self.act1(self.fc1(x))
            h2 = self.acts[1](self.acts[0](self.fc2(h1)))
            self.sow(nnx.Intermediate, "mine", 2.0 * h2)
            return self.head(h2)

    model = Net(nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (5, 3))
    out, acts = D.capture(model, x)
    assert list(acts) == ["act1", "acts/0", "acts/1", "mine"]
    h1 = jrelu.relu(model.fc1(x))
    h2a = jrelu.prelu(model.fc2(h1), model.acts[0].negative_slope[...])
    np.testing.assert_allclose(acts["act1"], h1, rtol=1e-6)
    np.testing.assert_allclose(acts["acts/0"], h2a, rtol=1e-6)
    np.testing.assert_allclose(acts["mine"], 2.0 * jrelu.elu(h2a), rtol=1e-6)
    np.testing.assert_allclose(out, model.head(jrelu.elu(h2a)), rtol=1e-6)
    # The model keeps no intermediates afterwards, and collect works under nnx.jit.
    assert not jax.tree.leaves(nnx.state(model, nnx.Intermediate))
    stats = nnx.jit(lambda m, x: D.collect(m, x)[1])(model, x)
    assert float(stats["act1"]["sparsity"]) == pytest.approx(float(D.sparsity(h1)))


def test_capture_rejects_what_is_not_a_flax_module():
    with pytest.raises(TypeError, match=r"must be a flax\.linen\.Module or a flax\.nnx\.Module"):
        D.capture(jrelu.relu, jnp.ones(3))
    with pytest.raises(TypeError, match="needs its variables"):
        D.capture(_linen_model())


def test_format_stats_by_hand():
    stats = {"fc1": D.summary(np.array([[0.0, 2.0]], np.float32))}
    # mean 1, std 1, no negatives, one zero of two, unit 0 zero for the (only) example.
    assert D.format_stats(stats, ["mean", "std", "sparsity", "dead_fraction"]) == (
        "layer  mean  std  sparsity  dead_fraction\nfc1    1     1    0.5       0.5"
    )


def test_importing_diagnostics_does_not_import_flax():
    code = "import sys, jrelu.diagnostics; assert 'flax' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_readme_toolkit_example_runs(capsys):
    """The toolkit guide's example runs as written (examples/snippets/toolkit.py, spliced into
    docs/guides/toolkit.md; its numbers are computed, not typed)."""
    import pathlib
    import runpy

    snippet = pathlib.Path(__file__).parents[1] / "examples" / "snippets" / "toolkit.py"
    scope = runpy.run_path(str(snippet))
    assert set(scope["stats"]) and all("dead_fraction" in v for v in scope["stats"].values())
    assert "dead_fraction" in capsys.readouterr().out
    assert scope["norms"]
