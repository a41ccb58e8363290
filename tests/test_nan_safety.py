"""No NaN or inf gradient at any finite input, in any precision and any order, and no NaN made inside
the computation (clean under jax_debug_nans) -- the jnp.where trap of jax-ml/jax#1052."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, gated_input, grad_mask


def _extremes(dtype) -> np.ndarray:
    info = jnp.finfo(dtype)
    big = float(info.max)
    vals = [
        -big,
        -big / 2,
        -1e4,
        -800.0,
        -100.0,
        -89.0,
        -20.0,
        -12.0,
        -1.0,
        -1e-3,
        0.0,
        1e-3,
        1.0,
        12.0,
        20.0,
        89.0,
        100.0,
        800.0,
        1e4,
        big / 2,
        big,
    ]
    return np.asarray([v for v in vals if abs(v) <= big], np.float64)


def _overflows(spec, params, x, dtype=np.float32) -> np.ndarray:
    """celu with a negative alpha really is exp(|x / alpha|)-large for very negative x. And where the
    output overflows, a derivative read off it (Spec.grad_off_output: squared_relu's 2 sqrt(y)) is
    infinite too (documented), and reglu's a * b overflows: those inputs, per input (for a gated Spec
    both inputs of a pair)."""
    if spec.name == "celu" and params.get("alpha", 1.0) < 0:
        return x < 0
    if spec.grad_off_output or spec.gated:  # reglu: a * b really overflows for two large halves
        with np.errstate(over="ignore"):
            out = np.abs(spec.value(x, **params)) > float(jnp.finfo(dtype).max)
        return grad_mask(spec, out)
    return np.zeros(x.shape, bool)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, "float64"])
@pytest.mark.parametrize(("spec", "params"), CASES)
def test_finite_gradients_at_every_finite_input(spec, params, dtype, x64):
    with x64():
        dtype = jnp.dtype(dtype)
        xs = gated_input(spec, _extremes(dtype))
        x = jnp.asarray(xs, dtype)
        f = functools.partial(spec.fn, **params)
        if spec.gated:  # no scalar form: the gradient of sum(f) and of sum(grad)
            first = jax.grad(lambda v: f(v).sum())(x)
            second = jax.grad(lambda v: first_of(f, v).sum())(x)
        else:
            first = jax.vmap(jax.grad(f))(x)
            second = jax.vmap(jax.grad(jax.grad(f)))(x)
        fwd = jax.jvp(f, (x,), (jnp.ones_like(x),))[1]
        ok = ~_overflows(spec, params, xs, dtype)
        for name, g in (("grad", first), ("grad-of-grad", second), ("jvp", fwd)):
            g = np.asarray(g.astype(jnp.float32) if dtype != jnp.float64 else g)
            keep = ok if g.shape == ok.shape else np.split(ok, 2)[0] & np.split(ok, 2)[1]
            assert np.isfinite(g[keep]).all(), (
                f"{name}: non-finite at {np.flatnonzero(~np.isfinite(g) & keep)}"
            )


def first_of(f, v):
    return jax.grad(lambda u: f(u).sum())(v)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_clean_under_debug_nans(spec, params):
    """jax_debug_nans raises on any NaN any primitive produces; here none does, eagerly or jitted."""
    xs = gated_input(spec, _extremes(jnp.float32))
    keep = ~_overflows(spec, params, xs)
    if spec.gated:  # whole pairs
        keep = np.tile(np.split(keep, 2)[0] & np.split(keep, 2)[1], 2)
    x = jnp.asarray(xs[keep], jnp.float32)
    f = functools.partial(spec.fn, **params)
    scalar = lambda x: f(x).sum()  # noqa: E731
    with jax.debug_nans(True):
        for g in (f, jax.grad(scalar), jax.grad(lambda x: jax.grad(scalar)(x).sum())):
            jax.block_until_ready(g(x))
            jax.block_until_ready(jax.jit(g)(x))
        with jax.disable_jit():
            jax.block_until_ready(jax.grad(scalar)(x))


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_zero_derivative_times_infinite_cotangent_is_zero(spec, params):
    """Where f'(x) = 0, an infinite incoming cotangent gives 0, not 0 * inf = NaN (as jax.nn's select)."""
    # flat parts: far left (exp family), above 6 (relu6); for reglu a shut gate at each a
    x = jnp.asarray(gated_input(spec, np.array([-1e30, -50.0, 7.0])), jnp.float32)
    f = functools.partial(spec.fn, **params)
    y, vjp = jax.vjp(f, x)
    (dx,) = vjp(jnp.full_like(y, jnp.inf))
    d = spec.derivative(np.asarray(x, np.float64), **params)
    np.testing.assert_array_equal(np.asarray(dx)[d == 0], 0.0)
    assert not np.isnan(np.asarray(dx)).any()
