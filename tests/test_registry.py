"""The one table (jrelu.FUNCTIONS) and jrelu.get."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu


def test_table_covers_every_public_function():
    public = {"relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu"}
    public |= {"squared_relu", "reglu", "alpha_dropout"}
    assert set(jrelu.FUNCTIONS) == public
    for name, spec in jrelu.FUNCTIONS.items():
        assert spec.fn is getattr(jrelu, name)
        assert spec.fn.__doc__ and ".. math::" in spec.fn.__doc__ and "Examples:" in spec.fn.__doc__


@pytest.mark.parametrize("name", list(jrelu.FUNCTIONS))
def test_get_returns_the_function_with_bound_parameters(name):
    spec = jrelu.FUNCTIONS[name]
    key = {"key": jax.random.key(0)} if spec.needs_key else {}
    act = jrelu.get(name, **spec.params, **key)
    spec = spec.with_key(key["key"]) if key else spec
    x = jnp.linspace(-3, 3, 8 if spec.gated else 7)
    np.testing.assert_array_equal(act(x), spec.fn(x, **spec.params))
    assert act.__name__ == name
    np.testing.assert_allclose(
        act(x), spec.value(np.asarray(x, np.float64), **spec.params), rtol=1e-6
    )


def test_get_is_forgiving_about_spelling_and_allows_overrides():
    act = jrelu.get("Leaky-ReLU", negative_slope=0.2)
    x = jnp.array([-1.0])
    assert float(act(x)[0]) == pytest.approx(-0.2)
    assert float(act(x, negative_slope=0.5)[0]) == pytest.approx(-0.5)
    assert jrelu.get("relu") is not jrelu.relu and jrelu.get("relu")(x) == 0


# --------------------------------------------------------------------------------------------------
# get() returns a value: frozen, equal and hashed by (name, params), picklable
# --------------------------------------------------------------------------------------------------


def test_get_returns_a_value_that_compares_hashes_and_pickles():
    import pickle

    a = jrelu.get("leaky_relu", negative_slope=0.2)
    b = jrelu.get("leaky_relu", negative_slope=0.2)
    assert a == b and hash(a) == hash(b)
    assert a != jrelu.get("leaky_relu", negative_slope=0.3) and a != jrelu.get("leaky_relu")
    assert jrelu.get("leaky_relu", negative_slope=0.0) != jrelu.get(
        "leaky_relu", negative_slope=-0.0
    )
    assert repr(a) == "jrelu.get('leaky_relu', negative_slope=0.2)"
    back = pickle.loads(pickle.dumps(a))
    assert back == a
    x = jnp.array([-2.0, 3.0])
    np.testing.assert_array_equal(back(x), jax.nn.leaky_relu(x, 0.2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "relu"
    # FUNCTIONS and its Specs (which hold lambdas) pickle by name.
    assert pickle.loads(pickle.dumps(jrelu.FUNCTIONS)) is jrelu.FUNCTIONS
    assert pickle.loads(pickle.dumps(jrelu.FUNCTIONS["elu"])) is jrelu.FUNCTIONS["elu"]
    with pytest.raises(TypeError):
        jrelu.FUNCTIONS["relu"] = jrelu.FUNCTIONS["elu"]


def test_get_with_array_parameters_compares_by_identity_and_does_not_hash():
    s = jnp.full(3, 0.2)
    a = jrelu.get("prelu", negative_slope=s)
    assert a == a and a == jrelu.get("prelu", negative_slope=s)  # never element-wise: no raise
    assert a != jrelu.get("prelu", negative_slope=jnp.full(3, 0.2))
    with pytest.raises(TypeError, match=r"jrelu\.get: .*not hashable.*bind a Python number"):
        hash(a)
    x = -jnp.ones((2, 3))
    np.testing.assert_array_equal(a(x), jnp.where(x >= 0, x, s[None, :] * x))


def test_get_with_a_traced_parameter_works_under_jit():
    f = jax.jit(lambda s, x: jrelu.get("leaky_relu", negative_slope=s)(x))
    x = jnp.array([-2.0, 3.0])
    np.testing.assert_array_equal(f(0.5, x), jax.nn.leaky_relu(x, 0.5))


def test_three_identical_equinox_mlps_trace_once():
    eqx = pytest.importorskip("equinox")
    traces = []

    @eqx.filter_jit
    def apply(model, x):
        traces.append(1)
        return model(x)

    x = jnp.linspace(-1.0, 1.0, 4)
    outs = []
    for _ in range(3):
        mlp = eqx.nn.MLP(
            4,
            2,
            8,
            2,
            activation=jrelu.get("leaky_relu", negative_slope=0.2),
            key=jax.random.key(0),
        )
        outs.append(apply(mlp, x))
    assert len(traces) == 1
    ref = eqx.nn.MLP(
        4, 2, 8, 2, activation=lambda v: jax.nn.leaky_relu(v, 0.2), key=jax.random.key(0)
    )
    np.testing.assert_allclose(outs[0], ref(x), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: jrelu.get("LeakyReLU"), ValueError, r"did you mean 'leaky_relu'\?"),
        (lambda: jrelu.get("lekay_relu"), ValueError, r"did you mean 'leaky_relu'\?"),
        (lambda: jrelu.get("swish"), ValueError, r"unknown activation 'swish'; known names"),
        (lambda: jrelu.get("rrelu", key=0), TypeError, r"jrelu\.rrelu: key must be a PRNG key"),
        (lambda: jrelu.get("elu", alpha=1e39), ValueError, r"jrelu\.elu: alpha=1e\+39 overflows"),
    ],
)
def test_get_rejects_what_it_can_know_and_suggests_names(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_what_does_not_apply_to_a_gated_function_is_stated_and_true():
    """reglu's table entry says which checks do not apply and why; the reasons hold."""
    spec = jrelu.FUNCTIONS["reglu"]
    assert spec.gated and spec.static == {"axis": -1}
    assert set(spec.not_applicable) == {"scalar input", "same shape", "sharding"}
    import sharding_worker

    assert "reglu" not in {name for name, _, _ in sharding_worker.variants()}
    with pytest.raises(ValueError, match=r"jrelu\.reglu: x is a scalar"):
        spec.fn(1.0)  # no scalar form: hence no elementwise derivative
    assert spec.fn(jnp.ones((3, 8))).shape == (3, 4)  # half of the split axis
    assert jrelu.get("reglu", axis=0)(jnp.ones((4, 3))).shape == (2, 3)  # static, accepted by get
    with pytest.raises(TypeError, match=r"jrelu\.get: reglu's axis must be an int, got float 1\.0"):
        jrelu.get("reglu", axis=1.0)
    # The table's references take the full x: [d/da, d/db] = [relu(b), a * 1{b > 0}], 0 at b = 0.
    x = np.array([2.0, -3.0, 5.0, 0.0])
    np.testing.assert_array_equal(spec.value(x), [10.0, 0.0])
    np.testing.assert_array_equal(spec.derivative(x), [5.0, 0.0, 2.0, 0.0])


@pytest.mark.parametrize(
    ("key", "dims", "shape"),
    [
        (jax.random.key(5), (), (7, 33)),
        (jax.random.PRNGKey(6), (0,), (4, 9)),
        (jax.random.key(7, impl="rbg"), (1, 2), (3, 4, 5)),
    ],
    ids=["threefry", "legacy-shared-rows", "rbg-shared"],
)
def test_alpha_dropout_reference_mask_matches_the_output_pattern(key, dims, shape):
    """The table's NumPy reference re-computes the mask from the documented hash; on zeros the output
    shows it (kept: b, dropped: a alpha' + b), and the kept share is about 1 - rate."""
    spec = jrelu.FUNCTIONS["alpha_dropout"]
    rate = 0.3
    y = np.asarray(jrelu.alpha_dropout(jnp.zeros(shape), rate, key=key, broadcast_dims=dims))
    # the two levels from PyTorch's formula (the docstring's): a = ((1-p)(1+p alpha'^2))^-1/2
    s = jrelu.SELU_SCALE * jrelu.SELU_ALPHA
    a = 1 / np.sqrt((1 - rate) * (1 + rate * s * s))
    b, off = a * s * rate, -a * s + a * s * rate
    kept_out = np.isclose(y, b, rtol=1e-6)
    assert np.all(kept_out | np.isclose(y, off, rtol=1e-6))
    ref = spec.value(np.zeros(shape), key=key, rate=rate, broadcast_dims=dims)
    np.testing.assert_array_equal(np.isclose(ref, b), kept_out)
    d = spec.derivative(np.zeros(shape), key=key, rate=rate, broadcast_dims=dims)
    np.testing.assert_array_equal(d != 0, kept_out)
    for axis in dims:  # one draw shared along the broadcast axes
        assert np.all(kept_out == np.take(kept_out, [0], axis=axis))
    if not dims:
        assert abs(kept_out.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / kept_out.size)


def test_what_does_not_apply_to_alpha_dropout_is_stated_and_true():
    spec = jrelu.FUNCTIONS["alpha_dropout"]
    assert spec.random and spec.needs_key and spec.required == ("rate",) and spec.kinks == ()
    assert set(spec.not_applicable) == {
        "deterministic",
        "NaN gradient",
        "per-element hyperparameters",
        "integer input",
        "vmap over scalars",
        "kinks",
        "golden data",
    }
    x = jnp.linspace(-2.0, 2.0, 6)
    # over scalars every element is at position 0: one draw for all (so the tables map over rows)
    ones = jax.vmap(lambda v: spec.fn(v, 0.5, key=jax.random.key(0)))(jnp.ones(64))
    assert len(set(np.asarray(ones).tolist())) == 1
    with pytest.raises(TypeError, match="key"):  # no form without a key
        spec.fn(x, 0.2)
    with pytest.raises(
        TypeError,
        match=r"jrelu\.alpha_dropout: a jax\.Array rate must be a real scalar .*shape \(6,\); pass",
    ):
        spec.fn(x, jnp.full(6, 0.2), key=jax.random.key(0))  # one rate for the whole array
    with pytest.raises(TypeError, match=r"jrelu\.alpha_dropout: x has integer dtype"):
        spec.fn(jnp.arange(6), 0.2, key=jax.random.key(0))
    # the tables bind a key; the bound references and function agree, and a call may pass another
    bound = spec.with_key(jax.random.key(1))
    np.testing.assert_allclose(bound.fn(x, 0.5), bound.value(np.asarray(x), rate=0.5), rtol=1e-6)
    other = bound.fn(x, 0.5, key=jax.random.key(2))
    np.testing.assert_array_equal(other, jrelu.alpha_dropout(x, 0.5, key=jax.random.key(2)))
    # get() knows it from the table: rate required, key required at call time
    with pytest.raises(ValueError, match=r"alpha_dropout needs rate, e\.g\. .*rate=0\.2"):
        jrelu.get("alpha_dropout")
    act = jrelu.get("alpha_dropout", rate=0.5, broadcast_dims=(0,))
    np.testing.assert_array_equal(
        act(x[None], key=jax.random.key(3)),
        jrelu.alpha_dropout(x[None], 0.5, key=jax.random.key(3), broadcast_dims=(0,)),
    )
    with pytest.raises(TypeError, match=r"broadcast_dims must be a tuple of ints"):
        jrelu.get("alpha_dropout", rate=0.5, broadcast_dims=[0])


def test_get_docstring_and_integer_message_come_from_the_table():
    doc = jrelu.get.__doc__
    for name, spec in jrelu.FUNCTIONS.items():
        assert f"``{name}``:" in doc
        for p in spec.required:
            assert f"``{p}`` (required)" in doc
    keep = [n for n, s in jrelu.FUNCTIONS.items() if s.integer_ok]
    with pytest.raises(TypeError, match=f"only {' and '.join(keep)} keep integers"):
        jrelu.elu(jnp.arange(3))


def test_bench_training_peers_come_from_the_table():
    from jrelu._cli.bench.speed import build_cases

    labels = [c.label for c in build_cases()]
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.random:
            assert spec.train_baseline is not None and spec.train_torch is not None
            assert f"{name}[train]" in labels
            assert (f"{name}[eval]" in labels) == (not spec.needs_key)
