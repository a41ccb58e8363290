"""jrelu's float64 expm1 and scaled_exp build powers of two from their bits (an s64 -> f64 bitcast),
which XLA:TPU does not implement. The real kernels are probed once on the default backend; where they
fail to compile, float64 falls back to XLA's exp / expm1. The fallback is exercised here by making the
probe fail, against a float64 NumPy reference."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu
from jrelu import _core


def _x64():
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64(True)


def _bitcasts_to(jaxpr, dtype: str) -> bool:
    """Whether the printed jaxpr (sub-jaxprs included) bitcasts anything to ``dtype`` (f64, f32)."""
    return re.search(rf"{dtype}\[[0-9,]*\] = bitcast_convert_type", str(jaxpr)) is not None


@pytest.fixture
def failing_probe(monkeypatch):
    def fail():
        raise RuntimeError("bitcast-convert from s64 to f64 not implemented")  # as on XLA:TPU

    monkeypatch.setattr(_core, "_compile_float64_kernels", fail)
    _core._probe_float64_bits.cache_clear()
    yield
    monkeypatch.undo()
    _core._probe_float64_bits.cache_clear()


X = np.concatenate([-np.geomspace(40.0, 1e-6, 200), [0.0], np.geomspace(1e-6, 40.0, 200)])


def test_the_probe_passes_on_this_backend():
    _core._probe_float64_bits.cache_clear()
    assert _core.float64_bits_supported() is (jax.default_backend() != "tpu")


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
def test_float64_falls_back_where_the_bitcast_kernel_does_not_compile(name, failing_probe):
    with _x64():
        assert _core.float64_bits_supported() is False
        x = jnp.asarray(X, jnp.float64)
        fn = getattr(jrelu, name)
        assert not _bitcasts_to(jax.make_jaxpr(lambda v: jax.vjp(fn, v)[1](v))(x), "f64")
        got = np.asarray(fn(x))
        dx = np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    alpha, scale = 1.0, 1.0
    if name == "selu":
        alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    neg = scale * alpha * np.expm1(X)
    ref = np.where(X > 0, scale * X, neg)
    dref = np.where(X > 0, scale, scale * alpha * np.exp(X))
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
    # the default backward derives the slope from the output (y + alpha), exact to an ulp of alpha
    np.testing.assert_allclose(dx, dref, rtol=1e-13, atol=4 * np.finfo(np.float64).eps)


def test_float32_never_uses_the_fallback(failing_probe):
    x = jnp.asarray(X, jnp.float32)
    assert _bitcasts_to(jax.make_jaxpr(jrelu.elu)(x), "f32")  # the 1-ulp kernel, not the fallback
