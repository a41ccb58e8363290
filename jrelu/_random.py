"""Randomised rectifiers: rrelu.

With a key, every element draws its own negative slope; the backward pass does not store the slopes but
re-draws them from the key (a PRNG key is a few bytes; a slope tensor is a whole activation).
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
    is_host,
    keep_nan,
    on_device,
    rectifier,
    scaled,
)
from jrelu._rectifiers import _leaky_jit


def check_key(fname: str, key: Any) -> Array:
    """Accept a typed key (``jax.random.key``) or a legacy ``uint32`` key (``jax.random.PRNGKey``)."""
    if isinstance(key, jax.Array | np.ndarray) or hasattr(key, "dtype"):
        dt = key.dtype
        if jax.dtypes.issubdtype(dt, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(
                    f"jrelu.{fname}: key must be a single PRNG key, got an array of keys of shape "
                    f"{key.shape}; use jax.vmap to apply {fname} with many keys."
                )
            return key
        if dt == np.uint32 and np.ndim(key) == 1:
            return key
    raise TypeError(
        f"jrelu.{fname}: key must be a PRNG key from jax.random.key(seed) (or a legacy "
        f"jax.random.PRNGKey(seed)), got {type(key).__name__}"
        + (f" of dtype {key.dtype} and shape {np.shape(key)}" if hasattr(key, "dtype") else "")
        + "."
    )


def _fmix32(h: Array) -> Array:
    # MurmurHash3's finaliser: full avalanche on 32 bits.
    h = h ^ (h >> 16)
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _key_words(key: Array) -> tuple[Array, Array]:
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    )
    data = data.astype(jnp.uint32).reshape(-1)
    return data[0], data[-1] ^ np.uint32(data.shape[0])


def _uniform(key: Array, shape: tuple[int, ...], dtype: Any) -> Array:
    """Uniform [0, 1) numbers, a counter-based hash of (key, element position).

    Not ``jax.random.uniform``: that is a ``while`` loop on CPU which XLA schedules early and whose
    output it then keeps alive until the backward pass. This is a few integer ops per element, so it fuses
    into the forward kernel and again into the backward kernel (re-drawing costs nothing and stores
    nothing), and every device draws its own shard's numbers without communication.
    """
    k0, k1 = _key_words(key)
    index = jnp.zeros(shape, jnp.uint32)
    stride = 1
    for axis in reversed(range(len(shape))):
        index = index + jax.lax.broadcasted_iota(jnp.uint32, shape, axis) * np.uint32(
            stride % 2**32
        )
        stride *= shape[axis]
    h = _fmix32(index * np.uint32(0x9E3779B9) ^ k0)
    h = _fmix32(h ^ k1)
    return (h >> 8).astype(dtype) * np.asarray(2.0**-24, dtype)


def _rrelu_value(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    r = lower + (upper - lower) * _uniform(key, x.shape, x.dtype)
    return jnp.where(x > 0, x, scaled(r, x))


def _rrelu_slope(
    y: Array, pos: Array | None, key: Array, lower: Array, upper: Array, *, storage: Any = None
) -> Array:
    # Saved: y, the key and (for possibly negative slopes) a 1-bit mask; the slopes are re-drawn.
    r = lower + (upper - lower) * _uniform(key, y.shape, y.dtype)
    side = (y > 0) if pos is None else pos
    return keep_nan(jnp.where(side, jnp.ones_like(y), r), y)


def _rrelu_dlower(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    return jnp.where(x > 0, jnp.zeros_like(x), x * (1 - _uniform(key, x.shape, x.dtype)))


def _rrelu_dupper(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    return jnp.where(x > 0, jnp.zeros_like(x), x * _uniform(key, x.shape, x.dtype))


_rrelu_rule = rectifier("rrelu", _rrelu_value, _rrelu_slope, (None, _rrelu_dlower, _rrelu_dupper))
_rrelu_jit = jax.jit(_rrelu_rule, static_argnums=0)


def _exceeds(lower: Any, upper: Any) -> bool:
    """``lower > upper`` anywhere, for concrete values (scalars, the common case, kept cheap)."""
    if (
        isinstance(lower, np.ndarray)
        and isinstance(upper, np.ndarray)
        and lower.ndim == upper.ndim == 0
    ):
        return float(lower) > float(upper)
    return bool(np.any(np.asarray(lower) > np.asarray(upper)))


def rrelu(x: Any, lower: Any = 1.0 / 8.0, upper: Any = 1.0 / 3.0, *, key: Any = None) -> Array:
    r"""Randomised leaky ReLU.

    .. math::
        \mathrm{rrelu}(x) = \begin{cases} x & x > 0 \\ a \cdot x & x \le 0 \end{cases}
        \qquad a \sim U(\text{lower}, \text{upper}) \text{ per element (with a key)},\quad
        a = \tfrac{\text{lower} + \text{upper}}{2} \text{ (without)}

    With ``key`` (training), each element draws its own slope; the same key gives the same slopes, and
    the gradient for :math:`x \le 0` is the drawn slope. Without a key (evaluation), it is
    :func:`leaky_relu` with slope ``(lower + upper) / 2`` (0.229167 for the defaults). **At the kink the
    derivative is the slope** (PyTorch's convention). NaN in, NaN out and NaN gradient.

    Memory: the backward pass keeps the output and the key and re-draws the slopes from the key; for
    bounds that may be negative (or are traced) it adds a 1-bit mask of ``x > 0``.

    Args:
      x: floating point input array.
      lower: smallest slope (default 1/8).
      upper: largest slope (default 1/3). ``lower <= upper`` is checked when both are concrete.
      key: ``None`` for the deterministic (evaluation) slope, or a PRNG key (typed ``jax.random.key`` or
        legacy ``jax.random.PRNGKey``). To draw per-example keys, ``jax.vmap`` over keys.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point, a bound is not real, or ``key`` is not a PRNG key.
      ValueError: if concrete bounds are not finite or ``lower > upper``.

    Examples:
      >>> import jax, jax.numpy as jnp, jrelu
      >>> jrelu.rrelu(jnp.array([-1.0, 2.0]), 0.1, 0.3)
      Array([-0.2,  2. ], dtype=float32)
      >>> y = jrelu.rrelu(-jnp.ones(1000), key=jax.random.key(0))
      >>> bool(jnp.all((-y >= 1 / 8) & (-y <= 1 / 3)))
      True

    References:
      Xu, Wang, Chen & Li, *Empirical Evaluation of Rectified Activations in Convolutional Network*, 2015.
    """
    x = check_input("rrelu", x)
    given = (lower, upper)
    lower = check_param("rrelu", "lower", lower, x)
    upper = check_param("rrelu", "upper", upper, x)
    if is_host(lower) and is_host(upper) and _exceeds(lower, upper):
        raise ValueError(
            f"jrelu.rrelu: lower must be <= upper, got lower={given[0]!r} and upper={given[1]!r}."
        )
    mode = "y" if all_nonnegative(lower, upper) else "mask"
    if key is None:
        if is_host(lower) and is_host(upper):  # average before rounding: one rounding only
            mean = (np.asarray(given[0], np.float64) + np.asarray(given[1], np.float64)) / 2
            slope = np.asarray(mean, lower.dtype)
        else:
            slope = (lower + upper) / 2
        return _leaky_jit(mode, x, *on_device(x, slope))
    key = check_key("rrelu", key)
    return _rrelu_jit(mode, x, key, *on_device(x, lower, upper))
