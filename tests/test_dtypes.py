"""The dtype matrix: what each function accepts, what it returns, and that nothing promotes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from conftest import CASES, gated_input

import jrelu

FLOATS = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float8_e4m3fn, jnp.float8_e5m2]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize(("spec", "params"), CASES)
def test_float_dtype_is_kept(spec, params, dtype):
    x = jnp.asarray(gated_input(spec, np.linspace(-4, 4, 9))).astype(dtype)
    y, vjp = jax.vjp(lambda x: spec.fn(x, **params), x)
    (dx,) = vjp(jnp.ones_like(y))
    assert y.dtype == dtype and dx.dtype == dtype
    if dtype == jnp.float32:
        return  # float32 accuracy: test_reference.py
    # Computed in float32 and rounded once, even for float8.
    want = spec.value(np.asarray(x.astype(jnp.float32), np.float64), **params)
    want = np.asarray(jnp.asarray(want.astype(np.float32)).astype(dtype).astype(jnp.float32))
    np.testing.assert_array_equal(np.asarray(y.astype(jnp.float32)), want)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_python_numbers_never_promote(spec, params, x64):
    with x64():  # even with float64 on, a Python float hyperparameter keeps float32 float32
        for dtype in (jnp.bfloat16, jnp.float16, jnp.float32):
            x = jnp.asarray(gated_input(spec, np.ones(3)), dtype)
            assert spec.fn(x, **params).dtype == dtype
        # A float64 hyperparameter array does not promote a float32 input either.
        arr = {k: v if k in spec.static else np.float64(v) for k, v in params.items()}
        x = jnp.asarray(gated_input(spec, np.ones(3)), jnp.float32)
        assert spec.fn(x, **arr).dtype == jnp.float32


@pytest.mark.parametrize("name", ["relu", "relu6"])
@pytest.mark.parametrize("dtype", [jnp.int8, jnp.int16, jnp.int32, jnp.uint8, jnp.uint32])
def test_relu_and_relu6_keep_integers(name, dtype):
    info = jnp.iinfo(dtype)
    raw = np.array([info.min, -7, -1, 0, 1, 5, 6, 7, info.max], np.int64)
    raw = raw[(raw >= info.min) & (raw <= info.max)]
    x = jnp.asarray(raw.astype(jnp.dtype(dtype)))
    y = jrelu.FUNCTIONS[name].fn(x)
    assert y.dtype == dtype
    want = np.maximum(raw, 0) if name == "relu" else np.clip(raw, 0, 6)
    np.testing.assert_array_equal(np.asarray(y, np.int64), want)


def test_python_scalars_and_numpy_inputs():
    assert jrelu.relu(3) == 3 and jrelu.relu(-3) == 0
    assert jrelu.elu(1) == 1.0  # a Python int is a number, not an integer array
    assert float(jrelu.elu(-1.0)) == pytest.approx(np.expm1(-1.0), rel=1e-6)
    np.testing.assert_array_equal(jrelu.leaky_relu(np.array([-1.0, 2.0]), 0.5), [-0.5, 2.0])
    assert jrelu.relu(np.float32(-2.0)).dtype == jnp.float32
    assert jrelu.selu(np.zeros((2, 0))).shape == (2, 0)  # empty arrays
    assert jrelu.relu(jnp.float32(2.0)).shape == ()  # 0-d


@pytest.mark.parametrize(("spec", "params"), [c for c in CASES if not c.values[0].integer_ok])
def test_integer_arrays_raise_for_the_others(spec, params):
    with pytest.raises(TypeError, match=rf"jrelu\.{spec.name}: x has integer dtype int32.*astype"):
        spec.fn(jnp.arange(3), **params)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_bool_and_complex_raise(spec, params):
    with pytest.raises(TypeError, match=rf"jrelu\.{spec.name}: x has dtype bool"):
        spec.fn(jnp.array([True, False]), **params)
    with pytest.raises(TypeError, match=rf"jrelu\.{spec.name}: x has complex dtype complex64"):
        spec.fn(jnp.array([1 + 1j]), **params)
    with pytest.raises(TypeError, match=rf"jrelu\.{spec.name}: x must be real"):
        spec.fn(1j, **params)


def test_bfloat16_matches_ml_dtypes_rounding_of_float32():
    """The one-rounding rule, spelled out for one value jax.nn gets wrong (selu of bf16 -1)."""
    x = jnp.asarray(-1.0, jnp.bfloat16)
    want = ml_dtypes.bfloat16(np.float32(jrelu.SELU_SCALE * jrelu.SELU_ALPHA * np.expm1(-1.0)))
    assert jrelu.selu(x) == want


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_donated_input_buffers(spec, params):
    """jit(..., donate_argnums=0): the input buffer may be reused for the output; results unchanged."""
    x = jnp.linspace(-3, 3, 64)
    want = np.asarray(spec.fn(x, **params))
    f = jax.jit(lambda x: spec.fn(x, **params), donate_argnums=0)
    if "same shape" in spec.not_applicable:  # reglu's output is half of x: no buffer to reuse
        with pytest.warns(UserWarning, match="donated buffers were not usable"):
            np.testing.assert_array_equal(f(jnp.linspace(-3, 3, 64)), want)
    else:
        np.testing.assert_array_equal(f(jnp.linspace(-3, 3, 64)), want)
    g = jax.jit(lambda x: jax.grad(lambda x: spec.fn(x, **params).sum())(x), donate_argnums=0)
    np.testing.assert_array_equal(
        g(jnp.linspace(-3, 3, 64)), jax.grad(lambda x: spec.fn(x, **params).sum())(x)
    )


def test_subnormals_are_flushed_on_cpu_as_documented():
    """XLA on CPU flushes subnormal float32 numbers to zero (PyTorch keeps them): documented, not hidden."""
    if jax.default_backend() != "cpu":
        pytest.skip("the flush is XLA:CPU's behaviour")
    tiny = np.float32(1e-40)  # subnormal in float32 (and bfloat16)
    assert float(jrelu.relu(jnp.float32(tiny))) == 0.0
    assert float(jrelu.relu(jnp.float16(1e-7))) > 0  # float16 subnormals are normal float32: kept
