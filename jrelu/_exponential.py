"""The exponential rectifiers: elu, celu, selu.

On the negative side these are exponentials, whose derivative can be read off the output itself
(``alpha * exp(x) = y + alpha``), so the backward pass keeps only ``y``. The value uses
``expm1(min(x, 0))`` with jrelu's own :func:`~jrelu._core.expm1` (within 1 ulp; XLA's is up to 4 ulp off
in float32): accurate near 0 and never infinite on the untaken branch.
Kink convention (PyTorch's): at ``x = 0`` the derivative is the left-hand one: elu'(0) = alpha,
celu'(0) = 1, selu'(0) = scale * alpha; the second derivative at 0 is the left-hand one too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu._core import (
    Array,
    all_nonnegative,
    check_input,
    check_param,
    expm1,
    on_device,
    rectifier,
    rounded,
)

# --------------------------------------------------------------------------------------------------
# elu
# --------------------------------------------------------------------------------------------------


def _elu_value(x: Array, alpha: Array) -> Array:
    return jnp.where(x > 0, x, alpha * expm1(jnp.minimum(x, 0)))


def _elu_slope(y: Array, pos: Array | None, alpha: Array, *, storage: Any) -> Array:
    # Saved: y (and a 1-bit mask when alpha may be negative, since then y > 0 on both sides).
    # d/dx = alpha * exp(x) = y + alpha on the negative side; NaN flows through y + alpha. alpha is
    # rounded like y, so that the derivative is exactly 0 at -inf and exactly alpha at 0.
    side = (y > 0) if pos is None else pos
    return jnp.where(side, jnp.ones_like(y), y + rounded(alpha, storage, y))


def _elu_dalpha(x: Array, alpha: Array) -> Array:
    return expm1(jnp.minimum(x, 0))


_elu_rule = rectifier("elu", _elu_value, _elu_slope, (_elu_dalpha,))
_elu_jit = jax.jit(_elu_rule, static_argnums=0)


def elu(x: Any, alpha: Any = 1.0) -> Array:
    r"""Exponential linear unit.

    .. math::
        \mathrm{elu}(x) = \begin{cases} x & x > 0 \\ \alpha \, (e^{x} - 1) & x \le 0 \end{cases}

    The derivative is 1 for :math:`x > 0` and :math:`\alpha e^{x}` for :math:`x \le 0`; **at the kink,
    elu'(0) = alpha** (PyTorch's convention). Any real alpha works (a negative one included).
    NaN in, NaN out and a NaN gradient where the loss sees the NaN (a masked-out one, whose
    cotangent is 0, contributes 0); no NaN gradient at any finite input, in any precision.

    Memory: with a concrete alpha >= 0 the backward pass keeps only the output (``alpha e^x = y + alpha``);
    with a negative or traced alpha it adds a 1-bit mask. Differentiating with respect to ``alpha`` keeps
    ``x``. Because the gradient is read off the (rounded) output, half-precision gradients carry an
    absolute error of about one unit in the last place of ``alpha``.

    Args:
      x: floating point input array.
      alpha: the negative-side scale (default 1.0): a number or an array broadcastable against ``x``'s
        trailing axes. May be traced (no recompilation; ``jax.grad`` with respect to it works).

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, or alpha is not real.
      ValueError: if a concrete alpha is not finite or does not broadcast against ``x``.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.elu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-0.63212055,  0.        ,  2.        ], dtype=float32)
      >>> print(jax.grad(jrelu.elu)(0.0, 0.5))
      0.5

    References:
      Clevert, Unterthiner & Hochreiter, *Fast and Accurate Deep Network Learning by Exponential
      Linear Units (ELUs)*, ICLR 2016.
    """
    x = check_input("elu", x)
    alpha = check_param("elu", "alpha", alpha, x)
    mode = "y" if all_nonnegative(alpha) else "mask"
    return _elu_jit(mode, x, *on_device(x, alpha))


# --------------------------------------------------------------------------------------------------
# celu
# --------------------------------------------------------------------------------------------------


def _two_product(a: Array, b: Array) -> tuple[Array, Array]:
    """``a * b = p + e`` exactly (Dekker's product with Veltkamp splitting; no FMA needed)."""
    split = np.asarray(2.0 ** ((np.finfo(a.dtype).nmant + 2) // 2) + 1, a.dtype)

    def halves(v: Array) -> tuple[Array, Array]:
        c = split * v
        hi = c - (c - v)
        return hi, v - hi

    p = a * b
    (ah, al), (bh, bl) = halves(a), halves(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _celu_tiny(neg: Array, alpha: Array) -> Array:
    """Where |x / alpha| is below half an ulp of 1, alpha * expm1(x / alpha) is x to working precision
    -- and x / alpha may underflow to a flushed subnormal there."""
    return jnp.abs(neg) < jnp.abs(alpha) * np.finfo(neg.dtype).eps


def _celu_value_positive(x: Array, alpha: Array) -> Array:
    # alpha > 0: z = x / alpha <= 0, where expm1 is well conditioned -- no compensation needed.
    neg = jnp.minimum(x, 0)
    return jnp.where(x > 0, x, jnp.where(_celu_tiny(neg, alpha), neg, alpha * expm1(neg / alpha)))


def _celu_value(x: Array, alpha: Array) -> Array:
    neg = jnp.minimum(x, 0)
    tiny = _celu_tiny(neg, alpha)
    z = neg / alpha
    em1 = expm1(z)
    # For a negative alpha, z = x / alpha > 0 and e^z amplifies the rounding of the quotient (by z,
    # e.g. 4 ulp at x = -6, alpha = -0.625): add the quotient's rounding error back,
    # expm1(z + dz) = expm1(z) + e^z dz, with dz = (neg - z * alpha) / alpha from an exact product.
    # Far beyond log(max), expm1 is -1 or overflows anyway; clipping keeps the splitting finite.
    bound = np.asarray(2.5 * np.log(np.finfo(x.dtype).max), x.dtype)
    zc = jnp.clip(z, -bound, bound)
    p, e = _two_product(zc, alpha)
    dz = jnp.where(z == zc, ((neg - p) - e) / alpha, jnp.zeros_like(z))
    corrected = em1 + (em1 + 1) * dz
    em1 = jnp.where(jnp.isfinite(corrected), corrected, em1)
    # Near float max, e^z may overflow while alpha e^z (|alpha| < 1) does not: alpha (e^z - 1) is then
    # sign(alpha) e^(z + log|alpha|) to working precision.
    huge = _sign_exp(alpha, zc, dz)
    out = jnp.where(jnp.isinf(em1) & jnp.isfinite(huge), huge, alpha * em1)
    return jnp.where(x > 0, x, jnp.where(tiny, neg, out))


def _sign_exp(alpha: Array, z: Array, dz: Array) -> Array:
    """``sign(alpha) * exp(z + dz + log|alpha|)``, for z where e^z alone overflows (the sum's rounding
    error is carried separately, Knuth's two-sum, and applied as a factor)."""
    log_a = jnp.log(jnp.abs(alpha))
    w = z + log_a
    t = w - z
    err = (z - (w - t)) + (log_a - t) + dz
    return jnp.sign(alpha) * ((expm1(w) + 1) * (1 + err))


def _celu_slope(y: Array, pos: Array | None, alpha: Array, *, storage: Any) -> Array:
    # Saved: y only, for every alpha != 0: alpha (e^{x/alpha} - 1) <= 0 for x <= 0 whatever alpha's
    # sign, so y > 0 exactly where x > 0. d/dx = e^{x/alpha} = (y + alpha) / alpha, with alpha rounded
    # like y: exactly 1 at 0 and 0 at -inf.
    a = rounded(alpha, storage, y)
    return jnp.where(y > 0, jnp.ones_like(y), (y + a) / a)


def _celu_dalpha(x: Array, alpha: Array) -> Array:
    # d/dalpha [alpha expm1(x/alpha)] = expm1(z) - z e^z with z = x / alpha; z is clipped so that
    # z e^z is 0 (not -inf * 0) at x = -inf.
    z = jnp.maximum(jnp.minimum(x, 0) / alpha, jnp.finfo(x.dtype).min)
    return expm1(z) - z * jnp.exp(z)


_celu_rule = rectifier("celu", _celu_value, _celu_slope, (_celu_dalpha,))
_celu_jit = jax.jit(_celu_rule, static_argnums=0)
# The same rule with the plain value, for a concrete alpha > 0 (the common case: no compensation).
_celu_positive_jit = jax.jit(
    rectifier("celu", _celu_value_positive, _celu_slope, (_celu_dalpha,)), static_argnums=0
)


def celu(x: Any, alpha: Any = 1.0) -> Array:
    r"""Continuously differentiable exponential linear unit.

    .. math::
        \mathrm{celu}(x) = \max(0, x) + \min\!\left(0, \alpha \left(e^{x/\alpha} - 1\right)\right)

    The derivative is 1 for :math:`x > 0` and :math:`e^{x/\alpha}` for :math:`x \le 0`, so **celu'(0) = 1**
    from both sides (continuous for every alpha). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).

    Memory: the backward pass keeps only the output, for every alpha (traced or negative included).

    Args:
      x: floating point input array.
      alpha: nonzero scale (default 1.0): a number or an array broadcastable against ``x``'s trailing
        axes. A traced alpha cannot be checked for zero: at a traced 0 the value is relu's (the limit)
        but the derivative with respect to ``x`` is NaN.

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, or alpha is not real.
      ValueError: if a concrete alpha is 0 or not finite, or does not broadcast against ``x``.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.celu(jnp.array([-2.0, 0.0, 2.0]), alpha=2.0)
      Array([-1.2642411,  0.       ,  2.       ], dtype=float32)
      >>> print(jax.grad(jrelu.celu)(0.0, 2.0))
      1.0

    References:
      Barron, *Continuously Differentiable Exponential Linear Units*, arXiv:1704.07483, 2017.
    """
    x = check_input("celu", x)
    alpha = check_param("celu", "alpha", alpha, x, nonzero=True)
    kernel = _celu_positive_jit if all_nonnegative(alpha) else _celu_jit
    return kernel("y", x, *on_device(x, alpha))


# --------------------------------------------------------------------------------------------------
# selu
# --------------------------------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# scale * alpha, correctly rounded from the exact constants (not the product of two rounded floats).
_SELU_SCALE_ALPHA = 1.7580993408473766


def _selu_value(x: Array) -> Array:
    dt = x.dtype
    scale, scale_alpha = np.asarray(SELU_SCALE, dt), np.asarray(_SELU_SCALE_ALPHA, dt)
    return jnp.where(x > 0, scale * x, scale_alpha * expm1(jnp.minimum(x, 0)))


def _selu_slope(y: Array, pos: Array | None, *, storage: Any) -> Array:
    # Saved: y only. d/dx = scale * alpha * e^x = y + scale * alpha on the negative side (the constant
    # rounded like y, so that the derivative is exactly 0 at -inf).
    dt = y.dtype
    scale = np.asarray(SELU_SCALE, dt)
    return jnp.where(y > 0, jnp.full_like(y, scale), y + rounded(_SELU_SCALE_ALPHA, storage, y))


_selu_rule = rectifier("selu", _selu_value, _selu_slope, ())
_selu_jit = jax.jit(_selu_rule, static_argnums=0)


def selu(x: Any) -> Array:
    r"""Scaled exponential linear unit: self-normalising with LeCun-normal weights.

    .. math::
        \mathrm{selu}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}

    with :math:`\alpha = 1.6732632423543772848170429916717` and
    :math:`\lambda = 1.0507009873554804934193349852946` (Klambauer et al. 2017). The derivative is
    :math:`\lambda` for :math:`x > 0` and :math:`\lambda\alpha e^{x}` for :math:`x \le 0`; **at the kink,
    selu'(0) = λα ≈ 1.7581** (PyTorch's convention). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).

    Memory: the backward pass keeps only the output. Half precision is computed in float32 and rounded
    once (``jax.nn.selu`` rounds the constants to bfloat16 and is wrong on 3 in 4 bfloat16 inputs).

    Args:
      x: floating point input array.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.selu(jnp.array([-1.0, 0.0, 1.0]))
      Array([-1.1113307,  0.       ,  1.050701 ], dtype=float32)
      >>> print(jax.grad(jrelu.selu)(0.0))
      1.7580993

    References:
      Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
    """
    x = check_input("selu", x)
    return _selu_jit("y", x)
