"""jrelu's float64 expm1 and scaled_exp build powers of two from their bits (an s64 -> f64 bitcast),
which XLA:TPU does not implement. The kernel is chosen per platform the program is lowered for
(``jax.lax.platform_dependent``): TPU gets XLA's exp / expm1, every other platform the bit kernels. The
fallback is exercised here by naming the CPU a fallback platform, against a float64 NumPy reference;
tests/test_export.py checks what a program exported for TPU holds."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu
from jrelu import _core


def _bitcasts_to(module: str, dtype: str) -> bool:
    """Whether the lowered StableHLO module bitcasts anything to ``dtype`` (f64, f32)."""
    return re.search(rf"bitcast_convert .*-> tensor<[0-9x]*{dtype}>", module) is not None


@pytest.fixture
def cpu_falls_back(monkeypatch):
    """Lower float64 for the CPU as for a TPU. The choice is traced into the program, so the inputs
    below have a shape of their own (401 points, float64) that no other test traces: no trace made here
    is met by another test, and none made elsewhere is met here."""
    monkeypatch.setattr(_core, "FLOAT64_FALLBACK_PLATFORMS", ("cpu", "tpu"))


X = np.concatenate([-np.geomspace(40.0, 1e-6, 200), [0.0], np.geomspace(1e-6, 40.0, 200)])


def _lowered(fn, x) -> str:
    return jax.jit(fn).lower(x).as_text()


def test_the_bit_kernels_are_lowered_for_this_cpu(x64):
    with x64():
        assert _bitcasts_to(_lowered(jrelu.elu, jnp.asarray(X[:7], jnp.float64)), "f64")


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
def test_float64_falls_back_on_a_fallback_platform(name, cpu_falls_back, x64):
    with x64():
        x = jnp.asarray(X, jnp.float64)
        fn = getattr(jrelu, name)
        assert not _bitcasts_to(_lowered(lambda v: jax.vjp(fn, v)[1](v), x), "f64")
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


def test_float32_never_uses_the_fallback(cpu_falls_back):
    x = jnp.asarray(X, jnp.float32)
    assert _bitcasts_to(_lowered(jrelu.elu, x), "f32")  # the 1-ulp kernel, not the fallback
