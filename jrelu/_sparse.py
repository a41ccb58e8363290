"""The exact sparse FFN path: ``act(h) @ w_down`` that reads only the rows of ``w_down`` it needs.

A ReLU-family FFN's hidden activation is exactly zero for many units, and a zero activation
contributes nothing to the down projection: the row of ``w_down`` it would multiply need not be read.
:func:`down_projection` finds the units that are active anywhere in the batch (the union over every
leading axis of ``h``), gathers their columns of the activation and their rows of ``w_down`` and
multiplies only those. Shapes are static under ``jit``: a ``capacity`` (a Python int) fixes how many
units the sparse branch gathers, and when more are active a ``lax.cond`` takes the dense product
instead, so the result is always the dense one.

Which units may be skipped is decided so that the **gradient** stays the dense one as well: a unit is
skipped only where its activation is zero *and* has derivative zero -- for relu, relu6 and
squared_relu an output of exactly 0 (jrelu's rules read the derivative off the output, so a 0 output,
even one that underflowed, has derivative 0), for reglu a gate ``b <= 0`` (an output ``a * relu(b)``
that is 0 because ``a = 0`` still has derivative ``relu(b)`` with respect to ``a``, so it is kept).
A NaN activation or gate counts as active, so NaN propagates as in the dense product.

The up projection of :func:`ffn` is dense: which units are active is only known once ``h`` is
computed (skipping part of it needs a predictor, as Deja Vu's, and is then no longer exact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jrelu._core import Array, describe
from jrelu._rectifiers import reglu, relu, relu6, squared_relu

# The activations whose zeros the sparse path may skip: their output is exactly 0 on a whole side of
# the kink, with derivative 0 there (leaky_relu, elu and the others are never exactly 0).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": relu,
    "relu6": relu6,
    "squared_relu": squared_relu,
    "reglu": reglu,
}


def _activation(fname: str, activation: Any) -> str:
    """The name of ``activation`` (a name, or one of the jrelu functions themselves)."""
    for name, fn in ACTIVATIONS.items():
        if activation is fn or (isinstance(activation, str) and activation == name):
            return name
    shown = (
        activation if isinstance(activation, str) else getattr(activation, "__name__", activation)
    )
    raise ValueError(
        f"jrelu.sparse.{fname}: activation must be one of {', '.join(map(repr, ACTIVATIONS))} (or "
        f"those jrelu functions), got {shown!r}; the sparse path skips units whose activation is "
        "exactly 0 with derivative 0, which the other activations never are."
    )


def _array(fname: str, arg: str, v: Any, ndim: int | None = None) -> Array:
    """``v`` as a floating-point array (of ``ndim`` axes, if given); the message names the argument."""
    if isinstance(v, bool | np.bool_) or not isinstance(
        v, jax.Array | np.ndarray | np.generic | float | int
    ):
        raise TypeError(
            f"jrelu.sparse.{fname}: {arg} must be a floating-point array, got {describe(v)}; "
            f"convert it first, e.g. jnp.asarray({arg}, jnp.float32)."
        )
    v = jnp.asarray(v)
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(
            f"jrelu.sparse.{fname}: {arg} has dtype {v.dtype}; the sparse path multiplies "
            f"floating-point arrays. Cast it first, e.g. {arg}.astype(jnp.float32)."
        )
    if ndim is not None and v.ndim != ndim:
        raise ValueError(
            f"jrelu.sparse.{fname}: {arg} must have {ndim} axes, got shape {v.shape}"
            + (" (a kernel as in x @ w: (in features, out features))." if ndim == 2 else ".")
        )
    if ndim is None and v.ndim == 0:
        raise ValueError(
            f"jrelu.sparse.{fname}: {arg} is a scalar; pass an array whose last axis holds the "
            "features, e.g. of shape (tokens, features)."
        )
    return v


def _capacity(fname: str, capacity: Any, hidden: int) -> int:
    if not isinstance(capacity, int | np.integer) or isinstance(capacity, bool | np.bool_):
        raise TypeError(
            f"jrelu.sparse.{fname}: capacity must be a Python int (it fixes the gathered shapes "
            f"under jit), got {describe(capacity)} {capacity!r}; pass e.g. capacity={hidden // 4}."
        )
    if not 1 <= capacity <= hidden:
        raise ValueError(
            f"jrelu.sparse.{fname}: capacity must be in [1, {hidden}] (the hidden units), got "
            f"{capacity}; pass the most active units the sparse branch should gather, e.g. "
            f"capacity={max(1, hidden // 4)} for 75% sparsity."
        )
    return int(capacity)


def _hidden(fname: str, name: str, h: Array) -> int:
    """The number of hidden units ``h`` feeds (half its last axis for reglu)."""
    if name != "reglu":
        return int(h.shape[-1])
    if h.shape[-1] % 2:
        raise ValueError(
            f"jrelu.sparse.{fname}: reglu splits the last axis of h into two equal halves (value, "
            f"gate), but h has shape {h.shape}; make it even (a projection to 2 * hidden features)."
        )
    return int(h.shape[-1]) // 2


def _units(name: str, h: Array) -> tuple[Array, Array | None]:
    """Which hidden units are active anywhere in the batch (a bool vector, the union over every
    leading axis of ``h``) and, for the relu family, the activation itself."""
    if name == "reglu":
        gate = h[..., h.shape[-1] // 2 :]
        # relu(b) is nonzero exactly where b > 0 -- or NaN, which must propagate: "not b <= 0".
        on, a = ~(gate <= 0), None
    else:
        a = ACTIVATIONS[name](h)
        on = a != 0  # a NaN activation is "!= 0": kept
    return jnp.any(on, axis=tuple(range(h.ndim - 1))), a


def _down(name: str, h: Array, w_down: Array, capacity: int, precision: Any) -> Array:
    """``act(h) @ w_down``: the sparse branch when at most ``capacity`` units are active."""
    units, a = _units(name, h)
    count = jnp.sum(units, dtype=jnp.int32)

    def sparse() -> Array:
        # The active units' indices; the unused slots point past the end of every gathered axis
        # (h.shape[-1]), where "fill" reads exact zeros: they add 0 * 0 = 0.
        idx = jnp.nonzero(units, size=capacity, fill_value=h.shape[-1])[0]
        if a is None:  # reglu: the value and the gate of each kept unit, then jrelu's own rule
            both = jnp.concatenate([idx, idx + h.shape[-1] // 2])
            kept = reglu(jnp.take(h, both, axis=-1, mode="fill", fill_value=0))
        else:
            kept = jnp.take(a, idx, axis=-1, mode="fill", fill_value=0)
        rows = jnp.take(w_down, idx, axis=0, mode="fill", fill_value=0)
        return jnp.matmul(kept, rows, precision=precision)

    def dense() -> Array:
        return jnp.matmul(reglu(h) if a is None else a, w_down, precision=precision)

    return lax.cond(count <= capacity, sparse, dense)


def active(h: ArrayLike, activation: Any = "relu") -> Array:
    r"""Which hidden units are active for at least one row of ``h``: the units the sparse path reads.

    A unit is active when its activation is not exactly zero for some row (every leading axis of ``h``
    is a row: tokens, batch, sequence): for relu, relu6 and squared_relu
    :math:`\exists t:\ \mathrm{act}(h_{tk}) \ne 0`; for reglu, whose ``h`` holds the value and the
    gate halves, :math:`\exists t:\ b_{tk} > 0` (a NaN counts as active). ``active(h).sum()`` is the
    capacity :func:`down_projection` needs to take its sparse branch for this ``h``.

    Args:
      h: the pre-activation, ``(..., hidden)`` (``(..., 2 * hidden)`` for reglu: value, then gate).
      activation: ``"relu"``, ``"relu6"``, ``"squared_relu"``, ``"reglu"`` or one of those jrelu
        functions (default ``"relu"``).

    Returns:
      A bool array of shape ``(hidden,)``.

    Raises:
      TypeError: if ``h`` is not a floating-point array.
      ValueError: for another activation, a scalar ``h``, or an odd last axis for reglu.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import sparse
      >>> h = jnp.array([[1.0, -2.0, 0.0, 3.0],
      ...                [-1.0, -1.0, 0.0, 2.0]])  # 2 tokens x 4 units
      >>> sparse.active(h)
      Array([ True, False, False,  True], dtype=bool)
    """
    name = _activation("active", activation)
    h = _array("active", "h", h)
    _hidden("active", name, h)
    return _units(name, h)[0]


def down_projection(
    h: ArrayLike,
    w_down: ArrayLike,
    activation: Any = "relu",
    *,
    capacity: int,
    precision: Any = None,
) -> Array:
    r"""``act(h) @ w_down`` reading only the rows of ``w_down`` whose unit is active: exact, not approximate.

    .. math::
        y_{tj} = \sum_{k=1}^{H} \mathrm{act}(h)_{tk}\, W_{kj}
               = \sum_{k \in A} \mathrm{act}(h)_{tk}\, W_{kj},
        \qquad A = \{k : \mathrm{act}(h)_{tk} \ne 0 \text{ for some } t\}

    The union :math:`A` is taken over every leading axis of ``h`` (a decode batch of tokens shares one
    gather), its units are gathered (their activations and their rows of ``w_down``) and multiplied.
    When :math:`|A|` exceeds ``capacity`` a ``lax.cond`` computes the dense product instead. For
    reglu, ``h`` holds the value and gate halves (as :func:`jrelu.reglu` takes them) and a unit is
    active where its gate :math:`b > 0`.

    **Exact up to summation order.** Every product the dense result adds and the sparse one leaves out
    is :math:`0 \cdot W_{kj} = \pm 0`; every other product is added by both. The two results are
    floating-point sums of the same terms, in the orders the two matrix products happen to use. With
    :math:`m = |A|`, :math:`u` the unit roundoff of the output dtype (:math:`2^{-24}` for float32) and
    :math:`\gamma_n = nu / (1 - nu)`, each is within :math:`\gamma_{m+1} \sum_k |a_{tk}||W_{kj}|` of the
    exact sum (the product, at most :math:`m - 1` additions of nonzero terms on any path of a summation
    tree -- adding an exact zero does not round -- and a final rounding to the output dtype), so

    .. math::
        |y^{\mathrm{sparse}}_{tj} - y^{\mathrm{dense}}_{tj}| \le 2\gamma_{m+1} \sum_k |a_{tk}|\,|W_{kj}|

    provided the accumulator is at least as precise as the output dtype (on GPUs and TPUs pass
    ``precision=jax.lax.Precision.HIGHEST`` for float32: their default multiplies float32 in fewer
    bits, in both paths alike). Signed zeros aside. The gradients with respect to ``h`` and ``w_down``
    are the dense ones to the same kind of bound (a skipped unit's derivative is exactly 0, and the
    others are sums of the same terms). A row of ``w_down`` holding inf or NaN that belongs to a
    skipped unit makes the dense product NaN (:math:`0 \cdot \infty`) and is absent from the sparse one.

    **Cost.** The sparse branch reads ``capacity`` rows of ``w_down`` (``capacity / hidden`` of it) and
    gathers them into a new buffer, so ``capacity`` should be near the count expected (``active(h)``);
    the count itself reads ``h`` once. Under ``vmap`` the ``lax.cond`` becomes a ``select`` and both
    branches run; pass the batch as leading axes of ``h`` instead (one union for the whole batch).

    Args:
      h: the pre-activation, ``(..., hidden)`` (``(..., 2 * hidden)`` for reglu: value, then gate).
      w_down: the down projection's kernel, ``(hidden, out)``, as in ``act(h) @ w_down``.
      activation: ``"relu"``, ``"relu6"``, ``"squared_relu"``, ``"reglu"`` or one of those jrelu
        functions (default ``"relu"``).
      capacity: the most active units the sparse branch handles, a Python int in ``[1, hidden]``.
      precision: passed to both matrix products (``jax.lax.Precision``), default None.

    Returns:
      ``(..., out)``, the dtype of ``act(h) @ w_down``.

    Raises:
      TypeError: if ``h`` or ``w_down`` is not a floating-point array, or ``capacity`` is not an int.
      ValueError: for another activation, mismatched shapes, or ``capacity`` outside ``[1, hidden]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import sparse
      >>> h = jnp.array([[1.0, -2.0, 0.0, 3.0]])       # units 1 and 2 are off
      >>> w = jnp.arange(8.0).reshape(4, 2)
      >>> sparse.down_projection(h, w, "relu", capacity=2)  # reads rows 0 and 3 of w
      Array([[18., 22.]], dtype=float32)
      >>> jnp.maximum(h, 0) @ w
      Array([[18., 22.]], dtype=float32)
    """
    name = _activation("down_projection", activation)
    h = _array("down_projection", "h", h)
    w_down = _array("down_projection", "w_down", w_down, ndim=2)
    hidden = _hidden("down_projection", name, h)
    if w_down.shape[0] != hidden:
        raise ValueError(
            f"jrelu.sparse.down_projection: w_down has shape {w_down.shape}, but h of shape "
            f"{h.shape} feeds {hidden} hidden units ({name}); w_down must be ({hidden}, out)."
        )
    capacity = _capacity("down_projection", capacity, hidden)
    return _down(name, h, w_down, capacity, precision)


def ffn(
    x: ArrayLike,
    w_up: ArrayLike,
    w_down: ArrayLike,
    activation: Any = "relu",
    *,
    capacity: int,
    b_up: ArrayLike | None = None,
    b_down: ArrayLike | None = None,
    precision: Any = None,
) -> Array:
    r"""A feed-forward block ``act(x @ w_up + b_up) @ w_down + b_down`` with the sparse down projection.

    .. math::
        \mathrm{ffn}(x) = \mathrm{act}(x W_{\mathrm{up}} + b_{\mathrm{up}})\, W_{\mathrm{down}}
        + b_{\mathrm{down}}

    The up projection is dense (which units are active is known only once it is computed); the down
    projection is :func:`down_projection`, with its exactness (the dense result up to summation order,
    the bound stated there) and its ``capacity`` and dense fallback. The kernels are laid out as in
    ``x @ w`` -- Flax's ``Dense``/``nnx.Linear`` ``kernel``; an Equinox ``Linear`` stores the transpose,
    so keep the kernels as ``(in, out)`` arrays in the module (``weight.T`` costs the gather a strided
    read of ``w_down``). The function holds no state: call it from a Flax linen or nnx module or an
    Equinox module on the module's own parameters, under ``jit`` and ``grad`` (the gradients are the
    dense ones, up to summation order).

    Args:
      x: input ``(..., d_model)``; every leading axis is a row (the union of active units is over all).
      w_up: ``(d_model, hidden)``; ``(d_model, 2 * hidden)`` for reglu (value half, then gate half,
        as :func:`jrelu.reglu` splits it).
      w_down: ``(hidden, d_out)``.
      activation: ``"relu"``, ``"relu6"``, ``"squared_relu"``, ``"reglu"`` or one of those jrelu
        functions (default ``"relu"``).
      capacity: the most active units the sparse branch handles, a Python int in ``[1, hidden]``.
      b_up: optional bias of the up projection, ``(w_up.shape[1],)``.
      b_down: optional bias of the down projection, ``(d_out,)``.
      precision: passed to every matrix product (``jax.lax.Precision``), default None.

    Returns:
      ``(..., d_out)``.

    Raises:
      TypeError: if an array argument is not floating point, or ``capacity`` is not an int.
      ValueError: for another activation, mismatched shapes, or ``capacity`` outside ``[1, hidden]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import sparse
      >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
      >>> x = jax.random.normal(k1, (8, 16))              # 8 tokens
      >>> w_up = jax.random.normal(k2, (16, 64)) / 4
      >>> w_down = jax.random.normal(k3, (64, 16)) / 8
      >>> y = jax.jit(sparse.ffn, static_argnames="capacity")(x, w_up, w_down, capacity=64)
      >>> dense = jax.nn.relu(x @ w_up) @ w_down
      >>> bool(jnp.max(jnp.abs(y - dense)) < 1e-5)
      True
    """
    name = _activation("ffn", activation)
    x = _array("ffn", "x", x)
    w_up = _array("ffn", "w_up", w_up, ndim=2)
    w_down = _array("ffn", "w_down", w_down, ndim=2)
    width = 2 * w_down.shape[0] if name == "reglu" else w_down.shape[0]
    if w_up.shape[0] != x.shape[-1] or w_up.shape[1] != width:
        raise ValueError(
            f"jrelu.sparse.ffn: w_up has shape {w_up.shape}; for x of shape {x.shape} and w_down of "
            f"shape {w_down.shape} ({name}) it must be ({x.shape[-1]}, {width})"
            + (" (value half, then gate half)." if name == "reglu" else ".")
        )
    biases = []
    for arg, b, n in (("b_up", b_up, width), ("b_down", b_down, w_down.shape[1])):
        if b is not None:
            b = _array("ffn", arg, b, ndim=1)
            if b.shape != (n,):
                raise ValueError(f"jrelu.sparse.ffn: {arg} must have shape ({n},), got {b.shape}.")
            b = jnp.reshape(b, (1,) * (x.ndim - 1) + b.shape)  # explicit: no rank promotion
        biases.append(b)
    h = jnp.matmul(x, w_up, precision=precision)
    if biases[0] is not None:
        h = h + biases[0]
    y = down_projection(h, w_down, name, capacity=capacity, precision=precision)
    return y if biases[1] is None else y + biases[1]
