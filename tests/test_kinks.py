"""The kink conventions, infinities and NaN, as exact values (issue: PyTorch's conventions)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES

import jrelu

LAMBDA_ALPHA = jrelu.SELU_SCALE * jrelu.SELU_ALPHA

# (function, params, x, value, derivative): the table from the issue, plus both sides of every kink.
KINKS = [
    ("relu", {}, 0.0, 0.0, 0.0),
    ("relu6", {}, 0.0, 0.0, 0.0),
    ("relu6", {}, 6.0, 6.0, 0.0),
    ("leaky_relu", {"negative_slope": 0.01}, 0.0, 0.0, 0.01),
    ("leaky_relu", {"negative_slope": -0.2}, 0.0, 0.0, -0.2),
    ("leaky_relu", {"negative_slope": 1.5}, 0.0, 0.0, 1.5),
    ("leaky_relu", {"negative_slope": 0.0}, 0.0, 0.0, 0.0),
    ("prelu", {"negative_slope": 0.25}, 0.0, 0.0, 0.25),
    ("rrelu", {}, 0.0, 0.0, (1 / 8 + 1 / 3) / 2),
    ("rrelu", {"lower": 0.1, "upper": 0.3}, 0.0, 0.0, 0.2),
    ("elu", {"alpha": 1.0}, 0.0, 0.0, 1.0),
    ("elu", {"alpha": 0.5}, 0.0, 0.0, 0.5),
    ("elu", {"alpha": -0.5}, 0.0, 0.0, -0.5),
    ("celu", {"alpha": 1.0}, 0.0, 0.0, 1.0),
    ("celu", {"alpha": 2.0}, 0.0, 0.0, 1.0),
    ("celu", {"alpha": -1.0}, 0.0, 0.0, 1.0),
    ("selu", {}, 0.0, 0.0, LAMBDA_ALPHA),
]

# Values and derivatives at +-inf: the limits (PyTorch's values, also in the committed golden data, tests/golden).
INFS = [
    ("relu", {}, np.inf, np.inf, 1.0),
    ("relu", {}, -np.inf, 0.0, 0.0),
    ("relu6", {}, np.inf, 6.0, 0.0),
    ("relu6", {}, -np.inf, 0.0, 0.0),
    ("leaky_relu", {"negative_slope": 0.01}, -np.inf, -np.inf, 0.01),
    ("leaky_relu", {"negative_slope": -0.2}, -np.inf, np.inf, -0.2),
    ("leaky_relu", {"negative_slope": 0.0}, -np.inf, 0.0, 0.0),  # PyTorch: NaN (0 * -inf)
    ("prelu", {"negative_slope": 0.25}, -np.inf, -np.inf, 0.25),
    ("rrelu", {}, -np.inf, -np.inf, (1 / 8 + 1 / 3) / 2),
    ("elu", {"alpha": 1.0}, -np.inf, -1.0, 0.0),
    ("elu", {"alpha": 0.5}, np.inf, np.inf, 1.0),
    ("celu", {"alpha": 2.0}, -np.inf, -2.0, 0.0),
    ("selu", {}, -np.inf, -LAMBDA_ALPHA, 0.0),
    ("selu", {}, np.inf, np.inf, jrelu.SELU_SCALE),
]


def _value_and_derivative(name, params, x, dtype):
    fn = lambda x: jrelu.FUNCTIONS[name].fn(x, **params)  # noqa: E731
    x = jnp.asarray(x, dtype)
    return fn(x), jax.grad(fn)(x)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(("name", "params", "x", "value", "deriv"), KINKS + INFS)
def test_kink_and_infinity(name, params, x, value, deriv, dtype):
    y, d = _value_and_derivative(name, params, x, dtype)
    assert float(y) == pytest.approx(float(jnp.asarray(value, dtype)), rel=0, abs=0) or (
        np.isinf(value) and float(y) == value
    )
    # The derivative is computed in float32 and rounded once to dtype.
    assert float(d) == float(jnp.asarray(jnp.float32(deriv), dtype))


@pytest.mark.parametrize(("name", "params", "x", "value", "deriv"), KINKS)
def test_kink_float64(name, params, x, value, deriv, x64):
    with x64():
        y, d = _value_and_derivative(name, params, x, jnp.float64)
        assert y.dtype == jnp.float64
        assert float(y) == value and float(d) == pytest.approx(deriv, rel=1e-15)


def test_prelu_slope_derivative_is_zero_at_the_kink():
    x = jnp.array([0.0, -0.0, -2.0, 3.0])
    d = jax.grad(lambda a: jrelu.prelu(x, a).sum())(jnp.float32(0.25))
    assert float(d) == -2.0  # only x = -2 contributes: d/da = x for x < 0, 0 at 0 and above
    per_elem = jax.jacrev(lambda a: jrelu.prelu(x, a))(jnp.float32(0.25))
    np.testing.assert_array_equal(np.asarray(per_elem), [0.0, 0.0, -2.0, 0.0])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(("spec", "params"), CASES)
def test_nan_in_nan_out_and_nan_gradient(spec, params, dtype):
    """A NaN input is never hidden behind a 0 or 1 gradient, in any mode of the rule."""
    x = jnp.array([np.nan, -1.0, 0.0, 2.0], dtype)
    kw = {"key": jax.random.key(0)} if spec.random else {}
    if (
        spec.gated
    ):  # reglu: check the NaN in either half ([a, b] = [[NaN, 1], [-1, 0, 2, 3]] and swapped)
        _gated_nan(spec, params, dtype)
        return
    if "NaN gradient" in spec.not_applicable:  # alpha_dropout: the reason it states holds
        assert "finite gradient" in spec.not_applicable["NaN gradient"]
        y, vjp = jax.vjp(functools.partial(spec.fn, **params), x)
        (dx,) = vjp(jnp.ones_like(y))
        assert np.isnan(float(y[0])) and np.isfinite(np.asarray(y[1:], np.float32)).all()
        want = spec.derivative(np.asarray(x, np.float64), **params)
        np.testing.assert_allclose(np.asarray(dx, np.float64), want, rtol=1e-2)
        return
    for extra in ({}, kw):
        f = functools.partial(spec.fn, **params, **extra)
        y, vjp = jax.vjp(f, x)
        (dx,) = vjp(jnp.ones_like(y))
        assert np.isnan(float(y[0])) and np.isnan(float(dx[0]))
        assert np.isfinite(np.asarray(dx[1:], np.float32)).all()
        # Forward mode too.
        _, t = jax.jvp(f, (x,), (jnp.ones_like(x),))
        assert np.isnan(float(t[0])) and np.isfinite(np.asarray(t[1:], np.float32)).all()
        # And to second order (the rule's NaN factor must carry its NaN through its own derivative).
        second = jax.vmap(jax.grad(jax.grad(f)))(x)
        assert np.isnan(float(second[0])) and np.isfinite(np.asarray(second[1:], np.float32)).all()


def _gated_nan(spec, params, dtype):
    """A NaN in the value half or the gate half: that output and both its gradients are NaN (and its
    tangent, to second order); the other pairs stay finite."""
    other = np.array([-1.0, 0.0, 2.0])
    for a, b in (([np.nan, *other], [3.0, *other[::-1]]), ([3.0, *other], [np.nan, *other[::-1]])):
        x = jnp.asarray(np.concatenate([a, b]), dtype)
        f = functools.partial(spec.fn, **params)
        y, vjp = jax.vjp(f, x)
        (dx,) = vjp(jnp.ones_like(y))
        dx = np.asarray(dx, np.float32)
        assert np.isnan(float(y[0])) and np.isnan(dx[[0, 4]]).all()
        assert np.isfinite(np.asarray(y[1:], np.float32)).all()
        assert np.isfinite(np.delete(dx, [0, 4])).all()
        _, t = jax.jvp(f, (x,), (jnp.ones_like(x),))
        assert np.isnan(float(t[0])) and np.isfinite(np.asarray(t[1:], np.float32)).all()
        second = np.asarray(
            jax.grad(lambda v, f=f: jax.grad(lambda u: f(u).sum())(v).sum())(x), np.float32
        )
        assert np.isnan(second[[0, 4]]).all() and np.isfinite(np.delete(second, [0, 4])).all()
