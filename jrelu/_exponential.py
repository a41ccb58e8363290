"""The exponential rectifiers: elu, celu, selu.

On the negative side these are exponentials, whose derivative can be read off the output itself
(``alpha * exp(x) = y + alpha``), so the backward pass keeps only ``y``. The value uses
``expm1(min(x, 0))`` with jrelu's own :func:`~jrelu._core.expm1` (within 1.5 ulp; XLA's is up to 4 ulp off
in float32): accurate near 0 and never infinite on the untaken branch.
Kink convention (PyTorch's): at ``x = 0`` the derivative is the left-hand one: elu'(0) = alpha,
celu'(0) = 1, selu'(0) = scale * alpha; the second derivative at 0 is the left-hand one too.

``precise=True`` (keyword-only, static) keeps ``x`` instead and computes every derivative from it with
:func:`_exp_term` -- ``c e^{x/b}`` to about 1 ulp relative, at every order -- for users who need tiny
derivatives (a derivative read off ``y`` is accurate only to an ulp of alpha, absolutely).
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jrelu._core import (
    Array,
    all_nonnegative,
    check_input,
    check_param,
    expm1,
    is_eager,
    on_device,
    on_rows,
    rectifier,
    rounded,
    scaled_exp,
    zero_safe_mul,
)

# --------------------------------------------------------------------------------------------------
# The precise mode: derivatives computed from x
# --------------------------------------------------------------------------------------------------


def check_precise(fname: str, precise: Any) -> bool:
    """``precise`` must be a Python bool: it picks the derivative rule when the function is traced."""
    if type(precise) is not bool:
        what = "a tracer" if isinstance(precise, jax.core.Tracer) else f"{precise!r}"
        raise TypeError(
            f"jrelu.{fname}: precise must be a Python bool (True or False), got {what} "
            f"({type(precise).__name__}); it chooses the derivative rule at trace time, so it cannot "
            f"be an array or traced: pass precise=True or precise=False, e.g. "
            f"jrelu.{fname}(x, precise=bool(flag))."
        )
    return precise


def _times(d: Array, t: Array) -> Array:
    """``d * t`` that is 0 where ``d`` is 0, even for an infinite ``t`` (0 * inf would be NaN), and 0
    where ``t`` is 0, even for a NaN ``d`` (:func:`jrelu._core.zero_safe_mul`): so that a masked-out NaN
    contributes 0 also to second derivatives taken in reverse over reverse."""
    shape = jnp.broadcast_shapes(d.shape, t.shape)
    d, t = jnp.broadcast_to(d, shape), jnp.broadcast_to(t.astype(d.dtype), shape)
    return jnp.where(d == 0, jnp.zeros_like(d), zero_safe_mul(d, t))


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _exp_term(kind: str, x: Array, c: Array, b: Array) -> Array:
    """``c * exp(x)`` (kind ``"exp"``), ``c * exp(x / b)`` (``"div"``) or ``scale * alpha * exp(x)`` with
    selu's constant split in two (``"selu"``; ``c`` and ``b`` unused), within about 1 ulp relative.

    Every derivative of elu, celu and selu on the negative side is one of these: elu's n-th is
    ``alpha e^x``, celu's ``alpha^(1-n) e^(x/alpha)``, selu's ``scale alpha e^x``. For celu the rounding of
    ``z = x / b`` is carried into the exponent (``e^z`` magnifies it by ``|z|``: 20 ulp at z = -40), from
    an exact product as in the value. The jvp is made of the same function, so that every order is as
    accurate and has no NaN or overflow trap (``x`` is ``where(x > 0, 0, x)``: the untaken side is 0).
    """
    if kind == "selu":
        hi, lo = _SELU_SCALE_ALPHA_SPLIT[np.dtype(x.dtype).itemsize]
        return scaled_exp(x, np.asarray(hi, x.dtype), c_lo=np.asarray(lo, x.dtype))
    if kind == "exp":
        return scaled_exp(x, c)
    # z = x * (1 / b), not x / b: a division is one op XLA will not duplicate into every consumer, and
    # the extra fusion it made kept one more activation-sized tensor (measured). z's rounding, that of
    # the reciprocal included, is carried by dz.
    inv = 1 / b
    z = x * inv
    bound = np.asarray(2.5 * np.log(np.finfo(x.dtype).max), x.dtype)
    zc = jnp.clip(z, -bound, bound)
    dz = jnp.where(z == zc, _residual(x, zc, b) * inv, jnp.zeros_like(z))
    return scaled_exp(z, c, dz)


@_exp_term.defjvp
def _exp_term_jvp(
    kind: str, primals: tuple[Any, ...], tangents: tuple[Any, ...]
) -> tuple[Array, Array]:
    from jax.custom_derivatives import SymbolicZero

    x, c, b = primals
    tx, tc, tb = tangents
    out = _exp_term(kind, x, c, b)
    divided = kind == "div"
    dx = _exp_term(kind, x, c / b, b) if divided else out  # d/dx: c/b e^(x/b)
    terms = []
    if not isinstance(tx, SymbolicZero):
        terms.append(_times(dx, tx))
    if kind != "selu" and not isinstance(tc, SymbolicZero):  # d/dc: e^(x/b)
        terms.append(_times(_exp_term(kind, x, jnp.ones_like(c), b), tc))
    if divided and not isinstance(tb, SymbolicZero):  # d/db: -(x/b) c/b e^(x/b); 0 where dx is 0
        terms.append(_times(jnp.where(dx == 0, jnp.zeros_like(dx), -(x / b) * dx), tb))
    if not terms:
        return out, jnp.zeros_like(out)
    t = terms[0]
    for u in terms[1:]:
        t = t + u
    return out, jnp.broadcast_to(t, out.shape).astype(out.dtype)


def _negative(x: Array) -> Array:
    # where, not minimum: at x = 0 the derivative of where(x > 0, 0, x) is 1 (minimum's is 1/2), which
    # gives the left-hand second derivative at the kink.
    return jnp.where(x > 0, jnp.zeros_like(x), x)


# --------------------------------------------------------------------------------------------------
# elu
# --------------------------------------------------------------------------------------------------


def _elu_value(x: Array, alpha: Array) -> Array:
    return jnp.where(x > 0, x, alpha * expm1(jnp.minimum(x, 0), nonpositive=True))


def _elu_slope(y: Array, pos: Array | None, alpha: Array, *, storage: Any) -> Array:
    # Saved: y (and a 1-bit mask when alpha may be negative, since then y > 0 on both sides).
    # d/dx = alpha * exp(x) = y + alpha on the negative side; NaN flows through y + alpha. alpha is
    # rounded like y, so that the derivative is exactly 0 at -inf and exactly alpha at 0.
    side = (y > 0) if pos is None else pos
    return jnp.where(side, jnp.ones_like(y), y + rounded(alpha, storage, y))


def _elu_dalpha(x: Array, alpha: Array) -> Array:
    return expm1(jnp.minimum(x, 0), nonpositive=True)


def _elu_slope_x(x: Array, alpha: Array) -> Array:
    # precise: alpha e^x from x itself (second derivative alpha e^x as well, through _exp_term's jvp).
    one = jnp.ones((), x.dtype)
    return jnp.where(x > 0, jnp.ones_like(x), _exp_term("exp", _negative(x), alpha, one))


_elu_rule = rectifier("elu", _elu_value, _elu_slope, (_elu_dalpha,), slope_x=_elu_slope_x)
_elu_jit = jax.jit(_elu_rule, static_argnums=0)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0, *, precise: bool = False) -> Array:
    r"""Exponential linear unit.

    .. math::
        \mathrm{elu}(x) = \begin{cases} x & x > 0 \\ \alpha \, (e^{x} - 1) & x \le 0 \end{cases}

    The derivative is 1 for :math:`x > 0` and :math:`\alpha e^{x}` for :math:`x \le 0`; **at the kink,
    elu'(0) = alpha** (PyTorch's convention). Any real alpha works (a negative one included).
    NaN in, NaN out and a NaN gradient where the loss sees the NaN (a masked-out one, whose
    cotangent is 0, contributes 0); no NaN gradient at any finite input, in any precision.

    Memory: with a concrete alpha >= 0 the backward pass keeps only the output (``alpha e^x = y + alpha``);
    with a negative or traced alpha it adds a 1-bit mask. Differentiating with respect to ``alpha`` keeps
    ``x`` alone (the derivative in ``x`` is then read off it, as with ``precise=True``). Because the
    gradient is read off the output, it carries an absolute error of about one unit in the last place
    of ``alpha`` (so it is 0 in float32 for x <= -16.98, where the true one is below
    2**-24). ``precise=True`` keeps ``x`` instead (one activation-sized tensor more) and computes the
    derivatives from it, within 2 ulp *relative* at every x, first and second order.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).

    Args:
      x: floating point input array.
      alpha: the negative-side scale (default 1.0): a number or an array broadcastable against ``x``'s
        trailing axes. May be traced (no recompilation; ``jax.grad`` with respect to it works).
      precise: keyword-only Python bool (default False): derivatives from ``x`` (kept for the backward
        pass), accurate relative to themselves, for second-order methods and input gradients.

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, alpha is not real, or precise is not a bool.
      ValueError: if a concrete alpha is not finite or does not broadcast against ``x``.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.elu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-0.63212055,  0.        ,  2.        ], dtype=float32)
      >>> print(jax.grad(jrelu.elu)(0.0, 0.5))
      0.5
      >>> precise = jax.grad(lambda v: jrelu.elu(v, precise=True))
      >>> print(jax.grad(jrelu.elu)(-20.0), precise(-20.0))
      0.0 2.0611537e-09

    References:
      Clevert, Unterthiner & Hochreiter, *Fast and Accurate Deep Network Learning by Exponential
      Linear Units (ELUs)*, ICLR 2016.
    """
    x = check_input("elu", x)
    alpha = check_param("elu", "alpha", alpha, x)
    mode = "x" if check_precise("elu", precise) else "y" if all_nonnegative(alpha) else "mask"
    return on_rows(_elu_jit, mode, x, *on_device(x, alpha))


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


def _residual(n: Array, z: Array, b: Array) -> Array:
    """``n - z * b`` for ``z ~ n / b``, to about 2**-24 of itself: ``z`` and ``b`` split in halves
    (Veltkamp) whose four products are exact, subtracted from ``n`` one by one (the first exactly,
    Sterbenz). With every product exact, a fused multiply-add that XLA may contract them into changes
    nothing (Dekker's ``p + e`` form is not safe against that)."""
    split = np.asarray(2.0 ** ((np.finfo(z.dtype).nmant + 2) // 2) + 1, z.dtype)

    def halves(v: Array) -> tuple[Array, Array]:
        c = split * v
        hi = c - (c - v)
        return hi, v - hi

    (zh, zl), (bh, bl) = halves(z), halves(b)
    return (((n - zh * bh) - zh * bl) - zl * bh) - zl * bl


def _celu_tiny(neg: Array, alpha: Array) -> Array:
    """Where |x / alpha| is below half an ulp of 1, alpha * expm1(x / alpha) is x to working precision
    -- and x / alpha may underflow to a flushed subnormal there."""
    return jnp.abs(neg) < jnp.abs(alpha) * np.finfo(neg.dtype).eps


def _celu_value_positive(x: Array, alpha: Array) -> Array:
    # alpha > 0: z = x / alpha <= 0, where expm1 is well conditioned -- no compensation needed.
    neg = jnp.minimum(x, 0)
    return jnp.where(
        x > 0,
        x,
        jnp.where(_celu_tiny(neg, alpha), neg, alpha * expm1(neg / alpha, nonpositive=True)),
    )


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


def _celu_slope_x(x: Array, alpha: Array) -> tuple[Array, Array]:
    # precise: e^(x/alpha) from x itself, the rounding of x / alpha compensated (see _exp_term).
    one = jnp.ones((), x.dtype)
    neg = _negative(x)
    d = jnp.where(x > 0, jnp.ones_like(x), _exp_term("div", neg, one, alpha))
    # For |alpha| < 1 the second derivative e^(x/alpha) / alpha is still normal where the first has
    # underflowed: the zero-derivative guard must not cut it off there.
    d2 = _exp_term("div", neg, 1 / alpha, alpha)
    return d, (d == 0) & (d2 == 0)


_celu_rule = rectifier("celu", _celu_value, _celu_slope, (_celu_dalpha,), slope_x=_celu_slope_x)
_celu_jit = jax.jit(_celu_rule, static_argnums=0)
# The same rule with the plain value, for a concrete alpha > 0 (the common case: no compensation).
_celu_positive_jit = jax.jit(
    rectifier("celu", _celu_value_positive, _celu_slope, (_celu_dalpha,), slope_x=_celu_slope_x),
    static_argnums=0,
)


def _celu_value_either(x: Array, alpha: Array) -> Array:
    # An eager call's value: the plain one where every alpha is positive, else the compensated one,
    # chosen when the program runs, so that alpha's sign does not compile a second program.
    return jax.lax.cond(jnp.all(alpha > 0), _celu_value_positive, _celu_value, x, alpha)


_celu_eager_jit = jax.jit(
    rectifier("celu", _celu_value_either, _celu_slope, (_celu_dalpha,), slope_x=_celu_slope_x),
    static_argnums=0,
)


def celu(x: ArrayLike, alpha: ArrayLike = 1.0, *, precise: bool = False) -> Array:
    r"""Continuously differentiable exponential linear unit.

    .. math::
        \mathrm{celu}(x) = \max(0, x) + \min\!\left(0, \alpha \left(e^{x/\alpha} - 1\right)\right)

    The derivative is 1 for :math:`x > 0` and :math:`e^{x/\alpha}` for :math:`x \le 0`, so **celu'(0) = 1**
    from both sides (continuous for every alpha). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).

    Memory: the backward pass keeps only the output, for every alpha (traced or negative included);
    the derivative, read off it, is accurate to about an ulp of 1 absolutely. ``precise=True`` keeps
    ``x`` instead (one activation-sized tensor more) and computes the derivatives from it, within 2 ulp
    relative at every x, first and second order.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).

    Args:
      x: floating point input array.
      alpha: nonzero scale (default 1.0): a number or an array broadcastable against ``x``'s trailing
        axes. A traced alpha cannot be checked for zero: at a traced 0 the value is relu's (the limit)
        but the derivative with respect to ``x`` is NaN.
      precise: keyword-only Python bool (default False): derivatives from ``x`` (kept for the backward
        pass), accurate relative to themselves.

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, alpha is not real, or precise is not a bool.
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
    mode = "x" if check_precise("celu", precise) else "y"
    if is_eager(x, alpha):
        kernel = _celu_eager_jit
    else:
        kernel = _celu_positive_jit if all_nonnegative(alpha) else _celu_jit
    return on_rows(kernel, mode, x, *on_device(x, alpha))


# --------------------------------------------------------------------------------------------------
# selu
# --------------------------------------------------------------------------------------------------

SELU_ALPHA_EXACT = "1.6732632423543772848170429916717"
SELU_SCALE_EXACT = "1.0507009873554804934193349852946"
SELU_ALPHA = float(SELU_ALPHA_EXACT)
SELU_SCALE = float(SELU_SCALE_EXACT)
# scale * alpha, correctly rounded from the exact constants (not the product of two rounded floats;
# the float64 literal 1.7580993408473766 once used here was 1 ulp off).
_SELU_SCALE_ALPHA = 1.7580993408473768


def _split(exact: Fraction, dt: Any) -> tuple[float, float]:
    """``exact`` as ``hi + lo`` in ``dt``: hi the rounded value, lo the rest, rounded."""
    hi = float(np.asarray(float(exact), dt))  # float() of a Fraction is correctly rounded
    return hi, float(np.asarray(float(exact - Fraction(hi)), dt))


# The constants as hi + lo pairs by itemsize: a product with them rounds once, not twice.
_SELU_SCALE_ALPHA_SPLIT = {
    n: _split(Fraction(SELU_SCALE_EXACT) * Fraction(SELU_ALPHA_EXACT), dt)
    for n, dt in ((4, np.float32), (8, np.float64))
}
_SELU_SCALE_SPLIT = {
    n: _split(Fraction(SELU_SCALE_EXACT), dt) for n, dt in ((4, np.float32), (8, np.float64))
}


def _times_split(v: Array, split: tuple[float, float], *, bounded: bool = False) -> Array:
    """``(hi + lo) * v`` for a constant split in two: the constant's own rounding no longer adds to the
    product's. (Dekker's exact product is no use here: XLA:CPU contracts ``hi * v + ...`` into a fused
    multiply-add, which would count the product's rounding error twice.)"""
    hi, lo = (np.asarray(c, v.dtype) for c in split)
    if bounded:  # |v| <= 1 (an expm1 of x <= 0): no infinity to guard against
        return hi * v + lo * v
    big = np.asarray(np.finfo(v.dtype).max, v.dtype)
    return hi * v + lo * jnp.clip(v, -big, big)  # clipped: inf + lo * inf could be inf - inf


def _selu_value(x: Array) -> Array:
    # Both constants as hi + lo pairs, so that each product rounds once: within 1 ulp in float64
    # (the product of two rounded constants, rounded again, was 2.7 ulp off).
    n = np.dtype(x.dtype).itemsize
    em1 = expm1(jnp.minimum(x, 0), nonpositive=True)
    neg = _times_split(em1, _SELU_SCALE_ALPHA_SPLIT[n], bounded=True)
    return jnp.where(x > 0, _times_split(x, _SELU_SCALE_SPLIT[n]), neg)


def _selu_slope(y: Array, pos: Array | None, *, storage: Any) -> Array:
    # Saved: y only. d/dx = scale * alpha * e^x = y + scale * alpha on the negative side (the constant
    # rounded like y, so that the derivative is exactly 0 at -inf).
    dt = y.dtype
    scale = np.asarray(SELU_SCALE, dt)
    return jnp.where(y > 0, jnp.full_like(y, scale), y + rounded(_SELU_SCALE_ALPHA, storage, y))


def _selu_slope_x(x: Array) -> Array:
    # precise: scale * alpha * e^x from x itself.
    dt = x.dtype
    one = jnp.ones((), dt)
    neg = _exp_term("selu", _negative(x), one, one)
    return jnp.where(x > 0, jnp.full_like(x, np.asarray(SELU_SCALE, dt)), neg)


_selu_rule = rectifier("selu", _selu_value, _selu_slope, (), slope_x=_selu_slope_x)
_selu_jit = jax.jit(_selu_rule, static_argnums=0)


def selu(x: ArrayLike, *, precise: bool = False) -> Array:
    r"""Scaled exponential linear unit: self-normalising with LeCun-normal weights.

    .. math::
        \mathrm{selu}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}

    with :math:`\alpha = 1.6732632423543772848170429916717` and
    :math:`\lambda = 1.0507009873554804934193349852946` (Klambauer et al. 2017). The derivative is
    :math:`\lambda` for :math:`x > 0` and :math:`\lambda\alpha e^{x}` for :math:`x \le 0`; **at the kink,
    selu'(0) = λα ≈ 1.7581** (PyTorch's convention). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).

    Memory: the backward pass keeps only the output; the derivative, read off it, is accurate to about
    an ulp of λα absolutely. ``precise=True`` keeps ``x`` instead (one activation-sized tensor more) and
    computes the derivatives from it, within 2 ulp relative at every x, first and second order.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).
    Half precision is computed in float32 and rounded once (``jax.nn.selu`` rounds the constants to
    bfloat16 and is wrong on 3 in 4 bfloat16 inputs).

    Args:
      x: floating point input array.
      precise: keyword-only Python bool (default False): derivatives from ``x`` (kept for the backward
        pass), accurate relative to themselves.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point, or precise is not a bool.

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
    return on_rows(_selu_jit, "x" if check_precise("selu", precise) else "y", x)
