"""Values and derivatives against the float64 NumPy reference of every function (jrelu.FUNCTIONS)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from conftest import CASES, EPS, HALF, gated_input, grad_mask, value_and_grad, value_mask

from jrelu.testing import finite_grid, is_subnormal, ulp


def _value_scale(spec, params, ref):
    """What a value's ulps are counted in: |ref|, or the size of the terms that cancel in it
    (Spec.value_floor: alpha_dropout's a x + b, whose rounded b is off by half an ulp of b)."""
    floor = spec.value_floor(**spec.hyper(params)) if spec.value_floor else 0.0
    return np.maximum(np.abs(ref), floor)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_float32_within_2_ulp_of_float64(spec, params):
    x = gated_input(spec, finite_grid()).astype(np.float32)
    y, dx = value_and_grad(spec.fn, jnp.asarray(x), **params)
    x64 = x.astype(np.float64)
    ref, dref = spec.value(x64, **params), spec.derivative(x64, **params)
    y, dx = np.asarray(y, np.float64), np.asarray(dx, np.float64)
    # Where the true value overflows float32 (celu with negative alpha far left; squared_relu and
    # reglu far right) only the sign counts, and a derivative read off that output is infinite too.
    top = np.finfo(np.float32).max
    keep = value_mask(spec, ~is_subnormal(x64, np.float32, band=16)) & (np.abs(ref) <= top)
    assert np.all(np.isinf(y[np.abs(ref) > top]))
    err = np.abs(y - ref)[keep] / ulp(_value_scale(spec, params, ref[keep]), np.float32)
    assert err.max() <= 2.0, f"value off by {err.max():.2f} ulp at output {np.argmax(err)}"
    if spec.grad_off_output:
        assert np.all(np.isinf(dx[grad_mask(spec, np.abs(ref) > top)]))
    # Gradients: 2 ulp, or 1e-6 absolute where the gradient is tiny next to 1.
    gkeep = grad_mask(spec, keep)
    gerr = np.abs(dx - dref)[gkeep]
    bound = np.maximum(2 * ulp(dref[gkeep], np.float32), 1e-6)
    assert np.all(gerr <= bound), (
        f"gradient off by {gerr.max():.3g} at x={x[gkeep][np.argmax(gerr / bound)]}"
    )


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_float64_stays_float64_and_accurate(spec, params, x64):
    x = gated_input(spec, finite_grid())
    with x64():
        y, dx = value_and_grad(spec.fn, jnp.asarray(x), **params)
        assert y.dtype == jnp.float64 and dx.dtype == jnp.float64
        y, dx = np.asarray(y), np.asarray(dx)
    ref, dref = spec.value(x, **params), spec.derivative(x, **params)
    keep = value_mask(spec, ~is_subnormal(x, np.float64, band=16))
    assert np.all(
        np.abs(y - ref)[keep] <= 4 * ulp(_value_scale(spec, params, ref[keep]), np.float64)
    )
    g = grad_mask(spec, keep)
    assert np.all(np.abs(dx - dref)[g] <= np.maximum(4 * ulp(dref[g], np.float64), 1e-15))


def _all_half_values(dtype) -> np.ndarray:
    vals = np.arange(2**16, dtype=np.uint16).view(dtype)
    with np.errstate(invalid="ignore"):
        v = vals.astype(np.float32)
    return vals[np.isfinite(v) & (np.abs(v) <= 8)]


@pytest.mark.parametrize("dtype", list(HALF))
@pytest.mark.parametrize(("spec", "params"), CASES)
def test_half_precision_is_rounded_once(spec, params, dtype):
    """Every half value in [-8, 8]: computed in float32, rounded once to the input's dtype."""
    npdt = HALF[dtype]
    x = gated_input(spec, _all_half_values(npdt))
    y, dx = value_and_grad(spec.fn, jnp.asarray(x), **params)
    assert y.dtype == x.dtype and dx.dtype == x.dtype
    x64 = x.astype(np.float64)
    correct = spec.value(x64, **params).astype(np.float32).astype(npdt).astype(np.float64)
    y = np.asarray(y).astype(np.float64)
    normal = value_mask(spec, ~is_subnormal(x64, npdt, band=16)) & ~is_subnormal(correct, npdt, 16)
    equal = (y == correct)[normal]
    assert equal.mean() >= 0.999, f"{equal.mean():.4%} correctly rounded"
    assert np.all(np.abs(y - correct)[normal] <= ulp(correct[normal], npdt))
    # Gradient: exact for the piecewise-linear family; read off the rounded output for the exponential
    # one, which costs at most about 2 ulp of max(1, |alpha|) in absolute terms (documented).
    dref = spec.derivative(x64, **params)
    scale = max(1.0, abs(params.get("alpha", 1.0)))
    tol = 2 * EPS[dtype] * scale if spec.grad_off_output else 0.0
    dx = np.asarray(dx).astype(np.float64)
    bound = tol + ulp(dref, npdt)
    g = grad_mask(spec, normal)
    assert np.all(np.abs(dx - dref)[g] <= bound[g])


def test_jax_nn_is_what_we_claim_in_half_precision():
    """The README's comparison: jax.nn.selu rounds constants to bfloat16 and misses most values."""
    x = _all_half_values(ml_dtypes.bfloat16)
    import jrelu

    spec = jrelu.FUNCTIONS["selu"]
    correct = spec.value(x.astype(np.float64)).astype(np.float32).astype(ml_dtypes.bfloat16)
    theirs = np.asarray(jax.nn.selu(jnp.asarray(x)))
    ours = np.asarray(jrelu.selu(jnp.asarray(x)))
    assert (theirs == correct).mean() < 0.5 < (ours == correct).mean()
