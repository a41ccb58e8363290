"""The piecewise-linear rectifiers: relu, relu6, leaky_relu, prelu.

Each function is a thin public wrapper (checks, then a jitted kernel) over a rule built by
:func:`jrelu._core.rectifier`; the value, the derivative and its kink convention sit side by side here.
Kink convention (PyTorch's): at ``x = 0`` the derivative is the left-hand one (0 for relu, the slope for
leaky_relu and prelu); relu6 has derivative 0 at both of its kinks, 0 and 6.
"""

from __future__ import annotations

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
    compute_dtype,
    keep_nan,
    keep_nan_x,
    on_device,
    on_rows,
    rectifier,
    scaled,
    zero_safe_mul,
)

# --------------------------------------------------------------------------------------------------
# relu
# --------------------------------------------------------------------------------------------------


def _relu_value(x: Array) -> Array:
    # ``where(x <= 0, 0, x)`` rather than ``maximum``: NaN passes through, and XLA does not re-fuse it
    # into the backward pass (which would keep x alive instead of y).
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def _relu_gate(y: Array) -> Array:
    # Saved: y only. y > 0 exactly where x > 0, so relu'(0) = 0 comes out on its own. y is 0, positive
    # or NaN, so y != 0 is open where y > 0 and at NaN (see rectifier's gate).
    return y != 0


_relu_rule = rectifier("relu", _relu_value, None, (), gate=_relu_gate)
_relu_jit = jax.jit(_relu_rule, static_argnums=0)


def relu(x: ArrayLike) -> Array:
    r"""Rectified linear unit.

    .. math::
        \mathrm{relu}(x) = \max(0, x) = \begin{cases} x & x > 0 \\ 0 & x \le 0 \end{cases}

    The derivative is 1 for :math:`x > 0` and 0 for :math:`x \le 0`; **at the kink, relu'(0) = 0**
    (PyTorch's and jax.nn's convention). A NaN input gives a NaN output and a NaN gradient where the
    loss sees it; a masked-out NaN (zero cotangent) contributes 0, as in jax.nn.

    The backward pass keeps only the output (which the next layer keeps anyway): no extra memory.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).
    So does a traced 3-D input of fewer than 2**19 elements (a transformer's activation at d_model 64
    and 1024 tokens), where keeping ``y`` cost step time (design notes: *The floor's price*).

    Args:
      x: input array (any shape). Floating point of any width (half precision is computed exactly);
        integer arrays are accepted and keep their dtype.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is bool or complex.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.relu(jnp.array([-2.0, 0.0, 3.0]))
      Array([0., 0., 3.], dtype=float32)
      >>> print(jax.grad(jrelu.relu)(0.0), jax.grad(jrelu.relu)(1.0))
      0.0 1.0

    References:
      Nair & Hinton, *Rectified Linear Units Improve Restricted Boltzmann Machines*, ICML 2010.
    """
    x = check_input("relu", x, allow_int=True)
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.maximum(x, jnp.zeros((), x.dtype))
    return on_rows(_relu_jit, "y", x, small=True)


# --------------------------------------------------------------------------------------------------
# relu6
# --------------------------------------------------------------------------------------------------


def _relu6_value(x: Array) -> Array:
    return jnp.where(x <= 0, jnp.zeros_like(x), jnp.where(x >= 6, jnp.full_like(x, 6), x))


def _relu6_gate(y: Array) -> Array:
    # Saved: y only. 0 < y < 6 exactly where 0 < x < 6 (relu6'(0) = relu6'(6) = 0). y lies in [0, 6] or
    # is NaN, so this is open on (0, 6) and at NaN (see rectifier's gate).
    return (y != 0) & (y != 6)


_relu6_rule = rectifier("relu6", _relu6_value, None, (), gate=_relu6_gate)
_relu6_jit = jax.jit(_relu6_rule, static_argnums=0)


def relu6(x: ArrayLike) -> Array:
    r"""ReLU capped at 6.

    .. math::
        \mathrm{relu6}(x) = \min(\max(0, x), 6) =
        \begin{cases} 0 & x \le 0 \\ x & 0 < x < 6 \\ 6 & x \ge 6 \end{cases}

    The derivative is 1 on the open interval (0, 6) and 0 elsewhere; **at both kinks, relu6'(0) =
    relu6'(6) = 0** (PyTorch's convention, adopted by jax.nn in 0.4.14). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).
    The backward pass keeps only the output.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).
    So does a traced 3-D input of fewer than 2**19 elements (a transformer's activation at d_model 64
    and 1024 tokens), where keeping ``y`` cost step time (design notes: *The floor's price*).

    Args:
      x: input array. Floating point, or integer (kept).

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is bool or complex.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.relu6(jnp.array([-1.0, 3.0, 6.0, 9.0]))
      Array([0., 3., 6., 6.], dtype=float32)
      >>> print(jax.grad(jrelu.relu6)(6.0), jax.grad(jrelu.relu6)(5.0))
      0.0 1.0

    References:
      Krizhevsky, *Convolutional Deep Belief Networks on CIFAR-10*, 2010.
    """
    x = check_input("relu6", x, allow_int=True)
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.clip(x, jnp.zeros((), x.dtype), jnp.asarray(6, x.dtype))
    return on_rows(_relu6_jit, "y", x, small=True)


# --------------------------------------------------------------------------------------------------
# leaky_relu and prelu: one rule, two faces
# --------------------------------------------------------------------------------------------------


def _leaky_value(x: Array, a: Array) -> Array:
    return jnp.where(x > 0, x, scaled(a, x))


def _leaky_slope(y: Array, pos: Array | None, a: Array, *, storage: Any = None) -> Array:
    # Saved: y, plus the 1-bit mask of x > 0 when the slope may be negative (then y > 0 on both sides).
    side = (y > 0) if pos is None else pos
    return keep_nan(jnp.where(side, jnp.ones_like(y), a), y)


def _leaky_dslope(x: Array, a: Array) -> Array:
    # Only when differentiating with respect to the slope (PReLU): this needs x itself.
    return jnp.where(x > 0, jnp.zeros_like(x), x)


def _leaky_slope_x(x: Array, a: Array) -> Array:
    # Read off x when the slope is differentiated (x is kept for _leaky_dslope then): the same kink
    # convention (a at 0) and NaN rule as _leaky_slope.
    return keep_nan_x(jnp.where(x > 0, jnp.ones_like(x), a), x)


_leaky_rule = rectifier(
    "leaky_relu", _leaky_value, _leaky_slope, (_leaky_dslope,), slope_x=_leaky_slope_x
)
_leaky_jit = jax.jit(_leaky_rule, static_argnums=0)


def _leaky(fname: str, pname: str, x: Any, slope: Any) -> Array:
    x = check_input(fname, x)
    slope = check_param(fname, pname, slope, x)
    mode = "y" if all_nonnegative(slope) else "mask"
    return on_rows(_leaky_jit, mode, x, *on_device(x, slope))


def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01) -> Array:
    r"""Leaky rectified linear unit.

    .. math::
        \mathrm{leaky\_relu}(x) = \begin{cases} x & x > 0 \\ a \cdot x & x \le 0 \end{cases}
        \qquad a = \text{negative\_slope}

    The derivative is 1 for :math:`x > 0` and :math:`a` for :math:`x \le 0`; **at the kink,
    leaky_relu'(0) = a** (PyTorch's convention; ``jax.nn.leaky_relu`` gives 1 there). Any real slope
    works: negative, zero, above 1. NaN in, NaN out and a NaN gradient where the loss sees the NaN
    (a masked-out one, whose cotangent is 0, contributes 0).

    Memory: with a concrete slope :math:`a \ge 0` the backward pass keeps only the output; with a negative
    or traced slope it adds a 1-bit mask of ``x > 0`` (1/32 of a float32 activation). Differentiating with
    respect to ``negative_slope`` keeps ``x``.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).

    Args:
      x: floating point input array.
      negative_slope: slope for :math:`x \le 0` (default 0.01): a number, or an array broadcastable
        against ``x``'s trailing axes. May be traced: changing it under ``jit`` does not recompile, and
        ``jax.grad`` with respect to it works.

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, or the slope is not real.
      ValueError: if a concrete slope is not finite, or its shape does not broadcast against ``x``.
      (A traced slope cannot be checked for finiteness.)

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.leaky_relu(jnp.array([-2.0, 0.0, 3.0]), negative_slope=0.5)
      Array([-1.,  0.,  3.], dtype=float32)
      >>> print(jax.grad(jrelu.leaky_relu)(0.0, 0.5))
      0.5

    References:
      Maas, Hannun & Ng, *Rectifier Nonlinearities Improve Neural Network Acoustic Models*, ICML 2013.
    """
    return _leaky("leaky_relu", "negative_slope", x, negative_slope)


def prelu(x: ArrayLike, negative_slope: ArrayLike, *, axis: int | None = None) -> Array:
    r"""Parametric ReLU: a leaky ReLU whose slope is a (learned) array.

    .. math::
        \mathrm{prelu}(x)_{\ldots c} = \begin{cases} x_{\ldots c} & x_{\ldots c} > 0 \\
        a_c \, x_{\ldots c} & x_{\ldots c} \le 0 \end{cases}

    The slope broadcasts against ``x``'s *trailing* axes (NumPy rules): shape ``()`` for one shared
    slope, ``(C,)`` for one per channel with channels last, ``(H, W, C)`` for one per element of an NHWC
    image. **At the kink, d/dx = a and d/da = 0** (PyTorch's convention; Flax and Equinox give d/dx = 1).
    NaN in, NaN out and a NaN gradient where the loss sees the NaN (a masked-out one, whose
    cotangent is 0, contributes 0).

    Memory: when the slope is being differentiated, the backward pass keeps ``x`` alone (the slope's
    gradient needs it, and the derivative in ``x`` is read off it too); otherwise it behaves as
    :func:`leaky_relu`.

    Args:
      x: floating point input array.
      negative_slope: the slope array, broadcastable against ``x``'s trailing axes without enlarging
        ``x``. Any real values.
      axis: with a 1-D slope, the axis of ``x`` it runs along (e.g. ``axis=0`` for an unbatched
        channels-first ``(C, H, W)`` input, ``axis=1`` for NCHW). Default None: the trailing-axes
        broadcast above. The slope's gradient is summed over every other axis.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point, or the slope is not real.
      ValueError: if the slope's shape does not broadcast against ``x`` (the message names both shapes),
        or a concrete slope is not finite; with ``axis``, if the slope is not 1-D of length
        ``x.shape[axis]`` or ``axis`` is out of range.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> x = jnp.array([[-1.0, -1.0], [2.0, 0.0]])
      >>> jrelu.prelu(x, jnp.array([0.25, 0.5]))
      Array([[-0.25, -0.5 ],
             [ 2.  ,  0.  ]], dtype=float32)
      >>> jax.grad(lambda a: jrelu.prelu(x, a).sum())(jnp.array([0.25, 0.5]))
      Array([-1., -1.], dtype=float32)
      >>> jrelu.prelu(-jnp.ones((2, 1, 3)), jnp.array([0.25, 0.5]), axis=0)[:, 0, 0]
      Array([-0.25, -0.5 ], dtype=float32)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015.
    """
    x = check_input("prelu", x)
    if axis is not None:
        negative_slope = _along_axis(x, negative_slope, axis)
    else:
        _check_channels_last(x, negative_slope)
    return _leaky("prelu", "negative_slope", x, negative_slope)


def _check_channels_last(x: Array, slope: Any) -> None:
    """A 1-D slope that fits none of x's trailing axes but matches another axis's size (NCHW input with
    one slope per channel): the error names the ``axis=`` that would run it along that axis."""
    shape = np.shape(slope)
    if len(shape) != 1 or x.ndim < 2 or shape[0] in (1, x.shape[-1]):
        return
    axes = [i for i, n in enumerate(x.shape[:-1]) if n == shape[0]]
    if not axes:
        return  # check_param names both shapes
    ax = 1 if 1 in axes else axes[0]  # NCHW's channel axis first (PyTorch's layout)
    raise ValueError(
        f"jrelu.prelu: negative_slope of shape {shape} does not broadcast against x of shape "
        f"{x.shape}: without axis= it is aligned with x's last axis (channels last), and x's axis "
        f"{ax} has {shape[0]} entries. For channels-first input (NCHW) run it along that axis: "
        f"jrelu.prelu(x, negative_slope, axis={ax})."
    )


def _along_axis(x: Array, slope: Any, axis: Any) -> Any:
    """A 1-D slope reshaped to ``(C, 1, ..., 1)`` so that it runs along ``x``'s ``axis``."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"jrelu.prelu: axis must be an int or None, got {type(axis).__name__}.")
    if x.ndim == 0:
        raise ValueError(
            f"jrelu.prelu: x is a scalar, so it has no axis {axis} for negative_slope to run along; "
            "pass x with its channel axis (e.g. of shape (C, ...) for axis=0), or axis=None with a "
            "scalar slope."
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"jrelu.prelu: axis {axis} is out of range for x of shape {x.shape}; pass an axis in "
            f"[-{x.ndim}, {x.ndim}) or axis=None for the trailing-axes broadcast."
        )
    axis %= x.ndim
    shape = jnp.shape(slope)
    if len(shape) != 1 or shape[0] != x.shape[axis]:
        raise ValueError(
            f"jrelu.prelu: with axis={axis}, negative_slope must be 1-D of length x.shape[{axis}] = "
            f"{x.shape[axis]} (x has shape {x.shape}), got shape {shape}; give one slope per channel "
            "along that axis, or pass axis=None for the trailing-axes broadcast."
        )
    return jnp.reshape(slope, (shape[0],) + (1,) * (x.ndim - 1 - axis))


# --------------------------------------------------------------------------------------------------
# squared_relu
# --------------------------------------------------------------------------------------------------


def _squared_value(x: Array) -> Array:
    # One multiply in the compute dtype: half precision rounds once, at the boundary.
    return jnp.where(x <= 0, jnp.zeros_like(x), x * x)


def _squared_slope(y: Array, pos: Array | None, *, storage: Any = None) -> Array:
    # Saved: y only (the next matmul keeps it anyway). 2 relu(x) = 2 sqrt(y). The double where keeps the
    # square root away from 0 (where its derivative is infinite), so no order of differentiation meets
    # 0 * inf: at y = 0 the derivative is exactly 0 and so is its derivative. NaN passes (NaN != 0).
    open_ = y != 0
    safe = jnp.where(open_, y, jnp.ones_like(y))
    return jnp.where(open_, 2 * _sqrt(safe), jnp.zeros_like(y))


@jax.custom_jvp
def _sqrt(y: Array) -> Array:
    """``sqrt(y)`` whose derivative meets its tangent through ``zero_safe_mul``: at a NaN ``y`` a zero
    (co)tangent still gives 0, so a masked-out NaN contributes 0 to second derivatives taken in
    reverse over reverse too (``jnp.sqrt``'s own rule would multiply 0 by NaN there)."""
    return jnp.sqrt(y)


@_sqrt.defjvp
def _sqrt_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Array, Array]:
    (y,), (t,) = primals, tangents
    r = _sqrt(y)
    return r, zero_safe_mul(0.5 / r, t.astype(r.dtype))


_squared_rule = rectifier("squared_relu", _squared_value, _squared_slope, ())
_squared_jit = jax.jit(_squared_rule, static_argnums=0)


def squared_relu(x: ArrayLike) -> Array:
    r"""Squared ReLU (Primer's FFN activation).

    .. math::
        \mathrm{squared\_relu}(x) = \mathrm{relu}(x)^2 = \begin{cases} x^2 & x > 0 \\ 0 & x \le 0 \end{cases}

    The derivative is :math:`2\,\mathrm{relu}(x)`, **0 at the kink**; the second derivative is 2 for
    :math:`x > 0` and 0 for :math:`x \le 0` (**0 at x = 0**: the left-hand value, as relu'(0) = 0).
    NaN in, NaN out and a NaN gradient where the loss sees the NaN (a masked-out one, whose
    cotangent is 0, contributes 0).

    Memory: the backward pass keeps only the output ``y`` (which the next layer keeps anyway) and reads
    the derivative off it as :math:`2\sqrt{y}`; the square root is guarded so that no derivative of any
    order is NaN at 0. The price, at both ends of the float range: where ``x**2`` overflows (``x``
    above about 1.8e19 in float32) the output is ``inf`` and so is the derivative read off it; where it
    underflows (``x`` below about 1.1e-19 in float32 on XLA:CPU, which flushes subnormals to 0;
    about 3.7e-23 where they are kept) the output is 0 and so is the derivative, where ``2 x`` would
    be finite and nonzero (``jnp.square(jax.nn.relu(x))`` keeps ``x`` and gives ``2 x`` at both).
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).
    So does a traced 3-D input of fewer than 2**19 elements (a transformer's activation at d_model 64
    and 1024 tokens), where keeping ``y`` cost step time (design notes: *The floor's price*).

    Args:
      x: floating point input array (any shape).

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.
      (PyTorch's ``F.relu(x) ** 2`` rounds twice in bfloat16, after relu and after the square, but
      relu is exact, so it is rounded once too: bit-equal to the correctly rounded square on every
      finite bfloat16 input of the golden data.)

    Raises:
      TypeError: if ``x`` is not floating point.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.squared_relu(jnp.array([-2.0, 0.0, 3.0]))
      Array([0., 0., 9.], dtype=float32)
      >>> print(jax.grad(jrelu.squared_relu)(0.0), jax.grad(jrelu.squared_relu)(3.0))
      0.0 6.0
      >>> print(jax.hessian(jrelu.squared_relu)(0.0), jax.hessian(jrelu.squared_relu)(3.0))
      0.0 2.0

    References:
      So et al., *Primer: Searching for Efficient Transformers for Language Modeling*, NeurIPS 2021.
    """
    x = check_input("squared_relu", x)
    return on_rows(_squared_jit, "y", x, small=True)


# --------------------------------------------------------------------------------------------------
# reglu
# --------------------------------------------------------------------------------------------------


def _halves(x: Array, axis: int) -> tuple[Array, Array]:
    # Two slices rather than jnp.split for x itself: with jnp.split here a bfloat16 residual FFN step
    # kept 0.375 hidden-sized tensors a layer more on XLA:CPU (float32: the same). The tangent's halves
    # are split instead (see _reglu_jvp).
    n = x.shape[axis] // 2
    return jax.lax.slice_in_dim(x, 0, n, axis=axis), jax.lax.slice_in_dim(x, n, 2 * n, axis=axis)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _reglu_rule(axis: int, x: Array) -> Array:
    a, b = _halves(x, axis)
    cdt = compute_dtype(x.dtype)
    return (a.astype(cdt) * _relu_value(b.astype(cdt))).astype(x.dtype)


def _reglu_tangent(a: Array, r: Array, ta: Array, tb: Array) -> Array:
    # d(a r) = r da + a relu'(b) db, with relu'(b) read off r = relu(b) (r != 0 where b > 0 and at NaN).
    # Where the output a r is NaN (a NaN half, or inf * 0) both terms are NaN, as every rule's derivative
    # is at a NaN output (keep_nan); elsewhere a shut gate gives zero terms. Every product goes through
    # zero_safe_mul: a zero factor gives zero terms even for an infinite tangent, and a zero (co)tangent
    # zero terms even for a NaN factor (a masked-out NaN in a or b contributes 0).
    cdt = compute_dtype(a.dtype)
    a, r, ta, tb = (v.astype(cdt) for v in (a, r, ta, tb))
    nan = jnp.isnan(jax.lax.stop_gradient(a) * jax.lax.stop_gradient(r))  # where the output is NaN
    zero = jnp.zeros_like(r)
    # NaN where the output is, 0 elsewhere, built from zeroed factors: an overflowing a * r must not
    # meet its own derivative (inf - inf) anywhere else. Squared, so that its derivative with respect
    # to either half is NaN there too: NaN survives to second order.
    y_safe = jnp.where(nan, a, zero) * jnp.where(nan, r, zero)
    y_nan = y_safe * y_safe
    # The selects act on the two derivatives, not on the tangent products: zero_safe_mul gives +0 at a
    # zero factor, so selecting 0 for the factor gives the value of selecting 0 for the product, and the
    # transposed map is one product per half. (The same values, NaN where they were; only the sign of a
    # zero may differ, where a product underflows. No step time measurably changed: XLA:CPU had reduced
    # the three-product form to much the same kernel.)
    fa = jnp.where(nan, y_nan, r)
    # No select on a == 0 here: it would zero the second derivative d2/(da db) = relu'(b) at a = 0
    # (the transposed map is differentiated again by hessian); zero_safe_mul is bilinear, so its own
    # derivative in a keeps it.
    fb = jnp.where(nan, y_nan, jnp.where(r == 0, zero, a))
    da = zero_safe_mul(fa, ta)
    db = zero_safe_mul(fb, tb)
    return da + db


@_reglu_rule.defjvp
def _reglu_jvp(
    axis: int, primals: tuple[Any, ...], tangents: tuple[Any, ...]
) -> tuple[Array, Array]:
    (x,), (tx,) = primals, tangents
    y = _reglu_rule(axis, x)

    def tangent(x: Array, tx: Array) -> Array:
        a, b = _halves(x, axis)
        # The tangent's halves with lax.split, whose transpose is one concatenate of the two
        # cotangents (as jax.nn's jnp.split composition has): two slices transpose to pad + add, which
        # XLA:CPU fuses, with this whole map, into the transposed copy the weight gradient of a 3-D
        # matmul makes -- reading both halves of x and the cotangent with strides (measured: a
        # transformer FFN step 1.36-1.6x jax.nn's; with split, 0.99-1.05x).
        n = tx.shape[axis] // 2
        ta, tb = jax.lax.split(tx, (n, n), axis=axis)
        r = _relu_rule("y", b)  # through relu's rule: higher derivatives stay on the rules
        return _reglu_tangent(a, r, ta, tb)

    # checkpoint: the backward pass keeps x alone (what the projection before made) and recomputes
    # a and relu(b) from it.
    t = jax.checkpoint(tangent)(x, tx)
    return y, t.astype(y.dtype)


_reglu_jit = jax.jit(_reglu_rule, static_argnums=0)


def reglu(x: ArrayLike, axis: int = -1) -> Array:
    r"""Gated ReLU (ReGLU): the first half of ``x`` along ``axis`` gated by the relu of the second.

    .. math::
        a, b = \mathrm{split}(x, 2, \text{axis}), \qquad \mathrm{reglu}(x) = a \cdot \mathrm{relu}(b)

    The same split as ``jax.nn.glu`` and ``torch.nn.functional.glu`` (first half the value, second half
    the gate). d/da = relu(b); d/db = a for b > 0 and 0 for b <= 0 (**0 at the kink**, as relu'(0) = 0).
    NaN in, NaN out; where an output is NaN (a NaN in either half, or ``inf * 0``) the gradients of
    both of its inputs are NaN -- unless the loss never sees it: a masked-out NaN (zero cotangent)
    contributes 0 to the gradient.

    Memory: the backward pass keeps ``x`` alone and recomputes ``a`` and ``relu(b)`` from it. The floor
    for an exact rule is two half-sized tensors: the cotangent of ``a`` needs ``relu(b)`` and the
    cotangent of ``b`` needs ``a`` where ``b > 0``, and neither can be read exactly off the output
    ``a * relu(b)`` (a division would round). ``x`` is exactly those two halves. In a residual FFN
    (float32, 256 x 256 -> 2 * 1024 -> 1024) this costs 0.25 hidden-sized tensors per layer beyond the
    identity FFN, the same as ``a * jax.nn.relu(b)`` (``a * jrelu.relu(b)`` costs 1.25); in bfloat16 on
    XLA:CPU, 2.375 against 2.5 for the ``jnp.split`` composition (2.125 sliced by hand).

    Args:
      x: floating point input array whose size along ``axis`` is even.
      axis: the axis to split (default -1).

    Returns:
      ``x``'s dtype, with half of ``x``'s size along ``axis``. Half precision is computed in float32 and
      rounded once.

    Raises:
      TypeError: if ``x`` is not floating point.
      ValueError: if ``axis`` is out of range or ``x``'s size along it is odd.

    Examples:
      >>> import jax.numpy as jnp, jrelu
      >>> jrelu.reglu(jnp.array([2.0, 3.0, -1.0, 0.5]))
      Array([0. , 1.5], dtype=float32)

    References:
      Shazeer, *GLU Variants Improve Transformer*, 2020.
    """
    x = check_input("reglu", x)
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"jrelu.reglu: axis must be an int, got {type(axis).__name__} {axis!r}.")
    if x.ndim == 0:
        raise ValueError(
            "jrelu.reglu: x is a scalar; reglu splits an axis of even size into two halves (value, "
            "gate), so pass an array with at least one axis, e.g. jnp.stack([a, b])."
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"jrelu.reglu: axis {axis} is out of range for x of shape {x.shape}; pass an axis in "
            f"[-{x.ndim}, {x.ndim})."
        )
    axis %= x.ndim
    odd = x.shape[axis] % 2
    if not isinstance(odd, int):  # a symbolic size (jax.export) not known to be even, e.g. "b, h"
        raise ValueError(
            f"jrelu.reglu: x of shape {x.shape} has the symbolic size {x.shape[axis]} along axis "
            f"{axis}, which may be odd; reglu splits that axis into two equal halves (value, gate), "
            "so declare it even, e.g. jax.export.symbolic_shape('b, 2*h') for a last axis of 2*h."
        )
    if odd:
        raise ValueError(
            f"jrelu.reglu: x of shape {x.shape} has odd size {x.shape[axis]} along axis {axis}; reglu "
            "splits that axis into two equal halves (value, gate), so make it even (e.g. a projection "
            "to 2 * hidden features)."
        )
    # x as it is, never the (rows, features) view the other rules take (on_rows): reglu's backward keeps
    # x whatever the view, and the view buys nothing in a transformer or FFN block (kept tensors and
    # bytes equal, d_model 64 and 256, float32 and bfloat16) while it costs where the layout meets
    # XLA:CPU's fusion: a residual FFN step at d_model 64 took 1.05x jax.nn's CPU time with it, 1.015x
    # without; a CNN step 1.15x the bytes (XLA computed reglu again inside the transposed copy a
    # convolution's weight gradient reads) and 1.00x without.
    return _reglu_jit(axis, x)
