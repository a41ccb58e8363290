"""Alpha dropout: SELU's companion, which keeps a standardised input standardised.

Built with :func:`jrelu._core.rectifier` like the activations: the keep mask is a counter-based hash of
(key, position) (:func:`jrelu._random._uniform`), so the backward pass re-draws it from the key instead
of storing it, and the derivative (``scale`` where kept, 0 where dropped) reads neither ``x`` nor ``y``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jrelu._core import Array, check_input, compute_dtype, is_host, on_device, rectifier
from jrelu._exponential import _SELU_SCALE_ALPHA
from jrelu._random import STREAMS, _uniform, check_key

_STREAM = STREAMS["alpha_dropout"]


def check_rate(owner: str, rate: Any) -> Any:
    """Check a drop rate; host rates (numbers, NumPy) are returned as a Python float, traced ones and
    ``jax.Array`` ones unchanged (reading a device array's value would copy it to the host)."""
    if isinstance(rate, bool | np.bool_):
        raise TypeError(f"{owner}: rate must be a real number in [0, 1], got bool {rate!r}.")
    if is_host(rate):
        try:
            arr = np.asarray(rate)
        except Exception as e:
            raise TypeError(
                f"{owner}: rate must be a real number in [0, 1], got {type(rate).__name__}."
            ) from e
        if arr.shape != ():
            raise ValueError(f"{owner}: rate must be a scalar, got shape {arr.shape}.")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(
                f"{owner}: rate must be a real number in [0, 1], got dtype {arr.dtype}."
            )
        value = float(arr)
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValueError(
                f"{owner}: rate must be in [0, 1] (the probability of dropping a unit, not of "
                f"keeping it), got {value!r}."
            )
        return value
    # Not read on the host: a tracer, or a jax.Array (whose value would be copied to be read).
    what = "a traced rate" if isinstance(rate, jax.core.Tracer) else "a jax.Array rate"
    if rate.shape != () or not (
        jnp.issubdtype(rate.dtype, jnp.floating) or jnp.issubdtype(rate.dtype, jnp.integer)
    ):
        raise TypeError(
            f"{owner}: {what} must be a real scalar (one drop probability for the whole array), "
            f"got dtype {rate.dtype} and shape {rate.shape}; pass a float scalar, e.g. "
            "rate.reshape(()) for a single value, or jax.vmap over a batch of rates."
        )
    return rate


def check_dims_type(owner: str, dims: Any) -> tuple[int, ...]:
    """``broadcast_dims`` as a tuple of ints (an int alone is accepted); TypeError otherwise."""
    if isinstance(dims, int | np.integer) and not isinstance(dims, bool):
        return (int(dims),)
    if not isinstance(dims, Sequence) or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) for d in dims
    ):
        raise TypeError(f"{owner}: broadcast_dims must be a sequence of ints, got {dims!r}.")
    return tuple(int(d) for d in dims)


def check_broadcast_dims(owner: str, dims: Any, ndim: int) -> tuple[int, ...]:
    """Normalise ``broadcast_dims`` against an input of ``ndim`` axes (non-negative, sorted, unique)."""
    dims = check_dims_type(owner, dims)
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise ValueError(
                f"{owner}: broadcast_dims {tuple(dims)} is out of range for an input with {ndim} "
                f"axes; use axes in [-{ndim}, {ndim})."
            )
        out.append(int(d) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}: broadcast_dims {tuple(dims)} names an axis twice.")
    return tuple(sorted(out))


def affine(rate: Any, dtype: Any) -> tuple[Any, Any, Any]:
    """``(scale, shift, dropped)``: kept units become ``scale * x + shift``, dropped ones ``dropped``.

    With :math:`\\alpha' = -\\lambda\\alpha` (SELU's negative saturation) and drop rate :math:`p`:
    ``scale = ((1 - p)(1 + p alpha'^2))^(-1/2)``, ``shift = -scale * alpha' * p``,
    ``dropped = scale * alpha' + shift = alpha' sqrt((1 - p) / (1 + p alpha'^2))`` (0 at ``p = 1``, the
    limit). Host rates are computed in float64 and rounded once.
    """
    sa = _SELU_SCALE_ALPHA
    if is_host(rate):
        q = float(rate)
        scale = 0.0 if q == 1.0 else 1.0 / math.sqrt((1.0 - q) * (1.0 + q * sa * sa))
        shift = scale * sa * q
        dropped = -sa * math.sqrt((1.0 - q) / (1.0 + q * sa * sa))
        return np.asarray(scale, dtype), np.asarray(shift, dtype), np.asarray(dropped, dtype)
    p = rate.astype(dtype)
    s = jax.lax.rsqrt((1 - p) * (1 + p * sa * sa))
    return s, s * sa * p, -sa * jnp.sqrt((1 - p) / (1 + p * sa * sa))


@functools.cache
def _rule(broadcast_dims: tuple[int, ...]) -> Any:
    """The jitted rule for one static choice of ``broadcast_dims`` (axes sharing one mask entry)."""

    def keep(key: Array, like: Array, rate: Array) -> Array:
        # Of like's shape and sharding; one draw shared along broadcast_dims.
        return _uniform(key, like, _STREAM, broadcast_dims) >= rate

    def value(
        x: Array, key: Array, rate: Array, scale: Array, shift: Array, dropped: Array
    ) -> Array:
        # A NaN input stays NaN even where dropped (NaN in, NaN out); an infinite one is dropped.
        off = jnp.where(jnp.isnan(x), x, dropped.astype(x.dtype))
        return jnp.where(keep(key, x, rate), scale * x + shift, off)

    def slope(
        y: Array,
        pos: Array | None,
        key: Array,
        rate: Array,
        scale: Array,
        *_: Array,
        storage: Any = None,
    ) -> Array:
        # Saved: the key and four scalars. The mask is re-drawn from the key; y is not read.
        d = jnp.where(keep(key, y, rate), scale.astype(y.dtype), jnp.zeros((), y.dtype))
        return jnp.broadcast_to(d, y.shape)

    def drate(
        x: Array, key: Array, rate: Array, scale: Array, shift: Array, dropped: Array
    ) -> Array:
        # The pathwise derivative: the mask held fixed (it is a step function of the rate, whose
        # derivative is 0 almost everywhere), the affine map differentiated. With s = -alpha' and
        # q = (1 - p)(1 + p s^2), scale a = q^(-1/2), shift a s p, dropped -a s (1 - p):
        #   kept:    d/dp (a x + a s p) = a'(p) (x + s p) + a s,  a'(p) = -a^3 (s^2 - 1 - 2 p s^2) / 2
        #   dropped: d/dp (-s sqrt(r)) = s (1 + s^2) / (2 sqrt(r) (1 + p s^2)^2),  r = (1 - p) / (1 + p s^2)
        # (the dropped form stays +inf, not inf - inf, at p = 1). The tangents of scale, shift and
        # dropped are not used: they are functions of the rate, and this is the total derivative.
        s = np.asarray(_SELU_SCALE_ALPHA, x.dtype)
        p = rate.astype(x.dtype)
        da = -(scale**3) * (s * s - 1 - 2 * p * s * s) / 2
        kept = da * (x + s * p) + scale * s
        grow = 1 + p * s * s
        off = s * (1 + s * s) / (2 * jnp.sqrt((1 - p) / grow) * grow * grow)
        d = jnp.where(keep(key, x, rate), kept, off)
        return jnp.where(jnp.isnan(x), x, d)

    rule = rectifier("alpha_dropout", value, slope, (None, drate, None, None, None))
    return jax.jit(rule, static_argnums=0)


def alpha_dropout(
    x: ArrayLike, rate: ArrayLike, *, key: ArrayLike, broadcast_dims: Sequence[int] = ()
) -> Array:
    r"""Alpha dropout: dropout that keeps zero mean and unit variance, for SELU networks.

    Each unit is dropped with probability ``rate``. Dropped units take SELU's negative saturation
    value :math:`\alpha' = -\lambda\alpha \approx -1.7581`, then an affine map restores the moments:

    .. math::
        y = \begin{cases} a x + b & \text{kept} \\ a \alpha' + b & \text{dropped} \end{cases}
        \qquad a = \left((1 - p)(1 + p\,\alpha'^2)\right)^{-1/2},\quad b = -a \alpha' p

    so an input with mean 0 and variance 1 keeps mean 0 and variance 1. The dropped value equals
    PyTorch's ``F.alpha_dropout`` (-1.23616 at ``rate=0.2``). The derivative is :math:`a` for kept units
    and 0 for dropped ones. ``rate=0`` is the identity, ``rate=1`` gives zeros (the limit of the formula;
    PyTorch does the same). A NaN input stays NaN even where dropped; an infinite one is dropped.

    A traced ``rate`` can be differentiated: the derivative is the pathwise one, with the mask held
    fixed (the mask is a step function of the rate), i.e. :math:`\partial_p (a x + b)` on kept units
    and :math:`\partial_p (a \alpha' + b)` on dropped ones (:math:`+\infty` for dropped units at
    ``rate=1``).

    Memory: the backward pass keeps only the key: the mask is re-drawn from it, not stored
    (differentiating with respect to a traced ``rate`` keeps ``x`` too).

    Args:
      x: floating point input array.
      rate: probability of dropping a unit, in [0, 1] (not the keep rate). May be traced (no
        recompilation when it changes); a traced rate, or a ``jax.Array`` one (whose value is not
        copied to the host to be read), cannot be checked.
      key: a PRNG key (typed ``jax.random.key`` of any implementation, or a legacy ``uint32``
        ``jax.random.PRNGKey`` of shape ``(2,)`` or ``(4,)``). The same key gives the same mask, and
        numbers independent of :func:`rrelu`'s from that key.
      broadcast_dims: axes along which the mask is shared (as in Flax's ``Dropout``), e.g. ``(1, 2)`` on
        NHWC input to drop whole channels (PyTorch's ``FeatureAlphaDropout``).

    Returns:
      An array of ``x``'s shape and dtype. Half precision is computed in float32 and rounded once.

    Raises:
      TypeError: if ``x`` is not floating point, ``rate`` is not a real number, or ``key`` is not a
        PRNG key.
      ValueError: if a concrete ``rate`` is outside [0, 1], ``broadcast_dims`` is out of range, or
        ``key`` is an array of keys or a ``uint32`` array of a shape no key has.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> y = jrelu.alpha_dropout(jnp.zeros(6), 0.5, key=jax.random.key(0))
      >>> sorted(set(y.round(4).tolist()))
      [-0.7792, 0.7792]
      >>> z = jrelu.alpha_dropout(jax.random.normal(jax.random.key(1), (100_000,)), 0.2,
      ...                         key=jax.random.key(2))
      >>> print(f"{z.mean():.2f} {z.std():.2f}")
      0.00 1.00

    References:
      Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
    """
    fname = "jrelu.alpha_dropout"
    x = check_input("alpha_dropout", x)
    p = check_rate(fname, rate)
    k = check_key("alpha_dropout", key)
    dims = check_broadcast_dims(fname, broadcast_dims, x.ndim)
    if is_host(p) and p == 0.0:
        return x
    cdt = compute_dtype(x.dtype)
    scale, shift, dropped = affine(p, cdt)
    rate_arr = np.asarray(p, cdt) if is_host(p) else p.astype(cdt)
    # on the device once (an eager call then makes no implicit transfer), as the other functions
    args = (
        on_device(x, rate_arr, scale, shift, dropped)
        if is_host(p)
        else (rate_arr, scale, shift, dropped)
    )
    return _rule(dims)("y", x, k, *args)
