"""rrelu's randomness: per-element slopes in range, uniform, reproducible, and the gradient is the slope."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu

N = 200_000


@pytest.mark.parametrize(
    "key",
    [jax.random.key(7), jax.random.PRNGKey(7), jax.random.key(7, impl="rbg")],
    ids=["typed", "legacy", "rbg"],
)
def test_slopes_are_uniform_in_range_and_reproducible(key):
    x = -jnp.ones(N)
    slope = -np.asarray(jrelu.rrelu(x, key=key), np.float64)
    assert slope.min() >= 1 / 8 - 1e-7 and slope.max() <= 1 / 3 + 1e-7
    # Uniform on [1/8, 1/3]: Kolmogorov-Smirnov distance well below the 1e-3-level critical value.
    u = (slope - 1 / 8) / (1 / 3 - 1 / 8)
    ks = np.max(np.abs(np.sort(u) - np.arange(1, N + 1) / N))
    assert ks < 1.95 / np.sqrt(N)
    # Moments of U(0, 1): mean 1/2, variance 1/12.
    assert abs(u.mean() - 0.5) < 5 / np.sqrt(12 * N) and abs(u.var() - 1 / 12) < 0.002
    # Neighbouring elements are uncorrelated.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    np.testing.assert_array_equal(jrelu.rrelu(x, key=key), jrelu.rrelu(x, key=key))


def test_different_keys_give_different_slopes_and_positives_pass_through():
    x = jnp.concatenate([-jnp.ones(1000), jnp.arange(1.0, 1001.0)])
    a = jrelu.rrelu(x, key=jax.random.key(0))
    b = jrelu.rrelu(x, key=jax.random.key(1))
    assert np.mean(np.asarray(a[:1000]) == np.asarray(b[:1000])) < 0.01
    np.testing.assert_array_equal(a[1000:], x[1000:])


def test_gradient_is_the_drawn_slope():
    key = jax.random.key(5)
    x = jnp.linspace(-5, 5, 1001)  # includes 0: the kink takes the slope too
    y, vjp = jax.vjp(lambda x: jrelu.rrelu(x, 0.1, 0.3, key=key), x)
    (dx,) = vjp(jnp.ones_like(x))
    drawn = -jrelu.rrelu(-jnp.ones_like(x), 0.1, 0.3, key=key)  # same key, same positions
    want = np.where(np.asarray(x) > 0, 1.0, np.asarray(drawn))
    np.testing.assert_allclose(dx, want, rtol=1e-6)
    np.testing.assert_allclose(
        y, np.where(np.asarray(x) > 0, x, np.asarray(drawn) * np.asarray(x)), rtol=1e-6
    )


def test_eval_mode_is_the_mean_slope():
    x = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(jrelu.rrelu(x), [-2 * (1 / 8 + 1 / 3) / 2, 0.0, 3.0], rtol=1e-7)
    assert float(jax.grad(lambda x: jrelu.rrelu(x).sum())(jnp.zeros(()))) == pytest.approx(
        (1 / 8 + 1 / 3) / 2
    )


def test_equal_bounds_are_leaky_relu():
    x = jnp.linspace(-3, 3, 13)
    np.testing.assert_array_equal(
        jrelu.rrelu(x, 0.2, 0.2, key=jax.random.key(0)), jrelu.leaky_relu(x, 0.2)
    )


def test_vmapped_keys_and_sharded_shapes():
    keys = jax.random.split(jax.random.key(0), 8)
    x = -jnp.ones((8, 64))
    per_row = jax.vmap(lambda k, xi: jrelu.rrelu(xi, key=k))(keys, x)
    for i in range(8):
        np.testing.assert_array_equal(per_row[i], jrelu.rrelu(x[i], key=keys[i]))
