"""The piecewise-linear rectifiers: relu, relu6, leaky_relu, prelu.

Each function is a thin public wrapper (checks, then a jitted kernel) over a rule built by
:func:`jrelu._core.rectifier`; the value, the derivative and its kink convention sit side by side here.
Kink convention (PyTorch's): at ``x = 0`` the derivative is the left-hand one (0 for relu, the slope for
leaky_relu and prelu); relu6 has derivative 0 at both of its kinks, 0 and 6.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jrelu._core import (
    Array,
    all_nonnegative,
    check_input,
    check_param,
    keep_nan,
    on_device,
    rectifier,
    scaled,
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


def relu(x: Any) -> Array:
    r"""Rectified linear unit.

    .. math::
        \mathrm{relu}(x) = \max(0, x) = \begin{cases} x & x > 0 \\ 0 & x \le 0 \end{cases}

    The derivative is 1 for :math:`x > 0` and 0 for :math:`x \le 0`; **at the kink, relu'(0) = 0**
    (PyTorch's and jax.nn's convention). A NaN input gives a NaN output and a NaN gradient.

    The backward pass keeps only the output (which the next layer keeps anyway): no extra memory.

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
    return _relu_jit("y", x)


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


def relu6(x: Any) -> Array:
    r"""ReLU capped at 6.

    .. math::
        \mathrm{relu6}(x) = \min(\max(0, x), 6) =
        \begin{cases} 0 & x \le 0 \\ x & 0 < x < 6 \\ 6 & x \ge 6 \end{cases}

    The derivative is 1 on the open interval (0, 6) and 0 elsewhere; **at both kinks, relu6'(0) =
    relu6'(6) = 0** (PyTorch's convention, adopted by jax.nn in 0.4.14). NaN in, NaN out and NaN gradient.
    The backward pass keeps only the output.

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
    return _relu6_jit("y", x)


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


_leaky_rule = rectifier("leaky_relu", _leaky_value, _leaky_slope, (_leaky_dslope,))
_leaky_jit = jax.jit(_leaky_rule, static_argnums=0)


def _leaky(fname: str, pname: str, x: Any, slope: Any) -> Array:
    x = check_input(fname, x)
    slope = check_param(fname, pname, slope, x)
    mode = "y" if all_nonnegative(slope) else "mask"
    return _leaky_jit(mode, x, *on_device(x, slope))


def leaky_relu(x: Any, negative_slope: Any = 0.01) -> Array:
    r"""Leaky rectified linear unit.

    .. math::
        \mathrm{leaky\_relu}(x) = \begin{cases} x & x > 0 \\ a \cdot x & x \le 0 \end{cases}
        \qquad a = \text{negative\_slope}

    The derivative is 1 for :math:`x > 0` and :math:`a` for :math:`x \le 0`; **at the kink,
    leaky_relu'(0) = a** (PyTorch's convention; ``jax.nn.leaky_relu`` gives 1 there). Any real slope
    works: negative, zero, above 1. NaN in, NaN out and NaN gradient.

    Memory: with a concrete slope :math:`a \ge 0` the backward pass keeps only the output; with a negative
    or traced slope it adds a 1-bit mask of ``x > 0`` (1/32 of a float32 activation). Differentiating with
    respect to ``negative_slope`` keeps ``x``.

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


def prelu(x: Any, negative_slope: Any) -> Array:
    r"""Parametric ReLU: a leaky ReLU whose slope is a (learned) array.

    .. math::
        \mathrm{prelu}(x)_{\ldots c} = \begin{cases} x_{\ldots c} & x_{\ldots c} > 0 \\
        a_c \, x_{\ldots c} & x_{\ldots c} \le 0 \end{cases}

    The slope broadcasts against ``x``'s *trailing* axes (NumPy rules): shape ``()`` for one shared
    slope, ``(C,)`` for one per channel with channels last, ``(H, W, C)`` for one per element of an NHWC
    image. **At the kink, d/dx = a and d/da = 0** (PyTorch's convention; Flax and Equinox give d/dx = 1).
    NaN in, NaN out and NaN gradient.

    Memory: when the slope is being differentiated, the backward pass keeps ``x`` (the slope's gradient
    needs it) plus a 1-bit mask; otherwise it behaves as :func:`leaky_relu`.

    Args:
      x: floating point input array.
      negative_slope: the slope array, broadcastable against ``x``'s trailing axes without enlarging
        ``x``. Any real values.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point, or the slope is not real.
      ValueError: if the slope's shape does not broadcast against ``x`` (the message names both shapes),
        or a concrete slope is not finite.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> x = jnp.array([[-1.0, -1.0], [2.0, 0.0]])
      >>> jrelu.prelu(x, jnp.array([0.25, 0.5]))
      Array([[-0.25, -0.5 ],
             [ 2.  ,  0.  ]], dtype=float32)
      >>> jax.grad(lambda a: jrelu.prelu(x, a).sum())(jnp.array([0.25, 0.5]))
      Array([-1., -1.], dtype=float32)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015.
    """
    return _leaky("prelu", "negative_slope", x, negative_slope)
