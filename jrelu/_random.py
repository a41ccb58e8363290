"""Randomised rectifiers: rrelu.

With a key, every element draws its own negative slope; the backward pass does not store the slopes but
re-draws them from the key (a PRNG key is a few bytes; a slope tensor is a whole activation).
"""

from __future__ import annotations

import inspect
import zlib
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
    is_host,
    keep_nan,
    on_device,
    on_rows,
    rectifier,
    scaled,
)
from jrelu._rectifiers import _leaky_jit

# Shapes of a legacy ``uint32`` key (``jax.random.PRNGKey``) under JAX's own implementations:
# threefry2x32 (the default) makes (2,), rbg and unsafe_rbg (``jax_default_prng_impl``) make (4,).
_LEGACY_KEY_SHAPES = frozenset({(2,), (4,)})


def check_key(fname: str, key: Any) -> Array:
    """Accept a typed key (``jax.random.key``) or a legacy ``uint32`` key (``jax.random.PRNGKey``).

    A legacy key is a raw ``uint32`` array of a shape one of JAX's implementations gives its keys
    (threefry2x32: ``(2,)``, rbg and unsafe_rbg: ``(4,)``); any other ``uint32`` array (``arange(5)``,
    a batch of keys) is rejected rather than read as a key.
    """
    if isinstance(key, jax.Array | np.ndarray) or hasattr(key, "dtype"):
        dt = key.dtype
        if jax.dtypes.issubdtype(dt, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(
                    f"jrelu.{fname}: key must be a single PRNG key, got an array of keys of shape "
                    f"{key.shape}; use jax.vmap to apply {fname} with many keys."
                )
            return key
        if dt == np.uint32:
            shape = tuple(np.shape(key))
            if shape in _LEGACY_KEY_SHAPES:
                return key
            batch = len(shape) == 2 and shape[1:] in _LEGACY_KEY_SHAPES
            raise ValueError(
                f"jrelu.{fname}: key must be a PRNG key, got a uint32 array of shape {shape}, which "
                "is not a legacy key (jax.random.PRNGKey gives shape (2,), or (4,) for the rbg "
                "implementations). "
                + (
                    f"For many keys, use jax.vmap to apply {fname} with one key each."
                    if batch
                    else "Make a key with jax.random.key(seed)."
                )
            )
    raise TypeError(
        f"jrelu.{fname}: key must be a PRNG key from jax.random.key(seed) (or a legacy "
        f"jax.random.PRNGKey(seed)), got {type(key).__name__}"
        + (f" of dtype {key.dtype} and shape {np.shape(key)}" if hasattr(key, "dtype") else "")
        + "."
    )


def _xorshift_multiply(h: Array, c1: int, s2: int, c2: int) -> Array:
    # The shape of both finalisers below: xorshift, multiply, xorshift, multiply, xorshift.
    h = h ^ (h >> 16)
    h = h * np.uint32(c1)
    h = h ^ (h >> s2)
    h = h * np.uint32(c2)
    return h ^ (h >> 16)


def _fmix32(h: Array) -> Array:
    # MurmurHash3's finaliser: full avalanche on 32 bits.
    return _xorshift_multiply(h, 0x85EBCA6B, 13, 0xC2B2AE35)


def _lowbias32(h: Array) -> Array:
    # Wellons' lowbias32: fmix32's shape with constants found by search for the least bias, which
    # makes a single round of it a good hash of a counter.
    return _xorshift_multiply(h, 0x7FEB352D, 15, 0x846CA68B)


# One constant per function that draws numbers, so that the same key gives each function its own
# stream (rrelu's slopes and alpha_dropout's mask from one key are independent). CRC-32 of the name.
STREAMS = {name: zlib.crc32(f"jrelu.{name}".encode()) for name in ("rrelu", "alpha_dropout")}

_GOLDEN = np.uint32(0x9E3779B9)  # 2^32 / golden ratio: Weyl increment that spreads the counters


def _fmix32_int(h: int) -> int:
    """:func:`_fmix32` on a Python int (for constants: NumPy warns when a scalar product wraps)."""
    m = 2**32 - 1
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & m
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & m
    return h ^ (h >> 16)


def _key_digest(key: Array, stream: int) -> tuple[Array, Array]:
    """Two 32-bit words from *every* word of the key's data and the function's stream constant.

    The words are absorbed alternately into two lanes, ``lane <- fmix32(lane ^ word)``. fmix32 is a
    bijection, so keys that differ in any single word (whatever the implementation: threefry's 2 words,
    rbg's 4) always give different digests, and for a 2-word key the digest is a bijection of the key.
    Scalar work, done once per call.
    """
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    )
    words = data.astype(jnp.uint32).reshape(-1)
    n = words.shape[0]
    a = jnp.uint32(stream)
    b = jnp.uint32(_fmix32_int((stream + n * int(_GOLDEN)) % 2**32))
    for i in range(n):
        a, b = b, _fmix32(a ^ words[i])
    return a, b


# Whether lax's iota and broadcast take the sharding of their result (JAX's explicit sharding).
_SHARDED_LAX = all(
    "out_sharding" in inspect.signature(f).parameters
    for f in (jax.lax.broadcasted_iota, jax.lax.broadcast_in_dim)
)


def _sharding(x: Array, broadcast_dims: tuple[int, ...] = ()) -> Any:
    """``x``'s sharding as traced (None where JAX has none to give), with ``broadcast_dims`` unsharded.

    Passed as ``out_sharding`` so that the counters are laid out like ``x``: under explicit sharding
    (``jax.set_mesh``), a replicated counter would not combine with a sharded ``x`` (and, made
    replicated, would cost communication); each device computes its own shard's counters instead.
    """
    if not _SHARDED_LAX:
        return None
    try:
        sharding = jax.typeof(x).sharding
        spec = tuple(sharding.spec)
    except AttributeError:  # a JAX without explicit sharding in its types
        return None
    if not broadcast_dims:
        return sharding
    spec = spec + (None,) * (x.ndim - len(spec))
    return jax.sharding.NamedSharding(
        sharding.mesh,
        jax.sharding.PartitionSpec(
            *(None if i in broadcast_dims else s for i, s in enumerate(spec))
        ),
    )


def _uniform(key: Array, x: Array, stream: int, broadcast_dims: tuple[int, ...] = ()) -> Array:
    """Uniform [0, 1) numbers of ``x``'s shape, dtype and sharding: a counter-based hash of (key,
    the function's ``stream`` constant, element position). Along ``broadcast_dims`` one number is
    shared (drawn on the reduced shape, then broadcast).

    Not ``jax.random.uniform``: that is a ``while`` loop on CPU which XLA schedules early and whose
    output it then keeps alive until the backward pass. This is a few integer ops per element, so it fuses
    into the forward kernel and again into the backward kernel (re-drawing costs nothing and stores
    nothing), and every device draws its own shard's numbers without communication. The numbers depend
    on the global position only, so they are the same on one device and on any mesh.
    """
    d0, d1 = _key_digest(key, stream)
    shape = tuple(1 if i in broadcast_dims else n for i, n in enumerate(x.shape))
    out_sharding = _sharding(x, broadcast_dims)
    kw = {} if out_sharding is None else {"out_sharding": out_sharding}
    index = None
    stride: Any = 1  # a Python int, or a uint32 array once a symbolic size has entered it
    for axis in reversed(range(len(shape))):
        n = shape[axis]
        if not isinstance(n, int) or n > 1:  # a symbolic size (jax.export) may be 1: the iota is 0
            term = jax.lax.broadcasted_iota(jnp.uint32, shape, axis, **kw)
            if not isinstance(stride, int):
                term = term * stride
            elif stride > 1:
                term = term * np.uint32(stride % 2**32)
            index = term if index is None else index + term
        stride = _times_size(stride, n)
    if index is None:  # a single number: position 0
        index = (
            jax.lax.broadcasted_iota(jnp.uint32, shape, 0, **kw)
            if shape
            else jnp.zeros((), jnp.uint32)
        )
    # One finaliser round per element, with the whole 64-bit digest entering before it: d1 offsets the
    # counter, the Weyl multiply spreads it, d0 is xored in. (Two fmix32 rounds, d1 xored in between,
    # cost 8 integer ops more per element; the statistical tests pass either way.)
    h = _lowbias32((index + d1) * _GOLDEN ^ d0)
    u = (h >> 8).astype(x.dtype) * np.asarray(2.0**-24, x.dtype)
    if shape != x.shape:
        full = _sharding(x)
        u = jax.lax.broadcast_in_dim(
            u, x.shape, tuple(range(x.ndim)), **({} if full is None else {"out_sharding": full})
        )
    return u


def _times_size(stride: Any, n: Any) -> Any:
    """``stride * n`` modulo 2**32, where ``n`` is a size: a Python int while every size is known; a
    uint32 array (the same residue: uint32 products wrap) once a symbolic one (``jax.export``) enters,
    as a symbolic size has no value before the program runs."""
    if isinstance(stride, int) and isinstance(n, int):
        return stride * n
    size = n if isinstance(n, int) else jnp.asarray(n).astype(jnp.uint32)
    if isinstance(stride, int):
        return jnp.asarray(stride % 2**32, jnp.uint32) * size
    return stride * (np.uint32(size % 2**32) if isinstance(size, int) else size)


_RRELU = STREAMS["rrelu"]


def _rrelu_value(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    r = lower + (upper - lower) * _uniform(key, x, _RRELU)
    return jnp.where(x > 0, x, scaled(r, x))


def _rrelu_slope(
    y: Array, pos: Array | None, key: Array, lower: Array, upper: Array, *, storage: Any = None
) -> Array:
    # Saved: y, the key and (for possibly negative slopes) a 1-bit mask; the slopes are re-drawn.
    r = lower + (upper - lower) * _uniform(key, y, _RRELU)
    side = (y > 0) if pos is None else pos
    return keep_nan(jnp.where(side, jnp.ones_like(y), r), y)


def _rrelu_dlower(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    return jnp.where(x > 0, jnp.zeros_like(x), x * (1 - _uniform(key, x, _RRELU)))


def _rrelu_dupper(x: Array, key: Array, lower: Array, upper: Array) -> Array:
    return jnp.where(x > 0, jnp.zeros_like(x), x * _uniform(key, x, _RRELU))


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


def rrelu(
    x: ArrayLike,
    lower: ArrayLike = 1.0 / 8.0,
    upper: ArrayLike = 1.0 / 3.0,
    *,
    key: ArrayLike | None = None,
) -> Array:
    r"""Randomised leaky ReLU.

    .. math::
        \mathrm{rrelu}(x) = \begin{cases} x & x > 0 \\ a \cdot x & x \le 0 \end{cases}
        \qquad a \sim U(\text{lower}, \text{upper}) \text{ per element (with a key)},\quad
        a = \tfrac{\text{lower} + \text{upper}}{2} \text{ (without)}

    With ``key`` (training), each element draws its own slope; the same key gives the same slopes, and
    the gradient for :math:`x \le 0` is the drawn slope. Without a key (evaluation), it is
    :func:`leaky_relu` with slope ``(lower + upper) / 2`` (0.229167 for the defaults). **At the kink the
    derivative is the slope** (PyTorch's convention). NaN in, NaN out and
    a NaN gradient where the loss sees the NaN (a masked-out one, whose cotangent is 0,
    contributes 0).

    Memory: the backward pass keeps the output and the key and re-draws the slopes from the key; for
    bounds that may be negative (or are traced) it adds a 1-bit mask of ``x > 0``.
    On XLA:CPU a traced input of 4 or more axes (a CNN's feature map) keeps ``x`` instead, with the
    same values and derivatives: there ``y`` saves nothing (design notes: *Feature maps on XLA:CPU*).

    Args:
      x: floating point input array.
      lower: smallest slope (default 1/8).
      upper: largest slope (default 1/3). ``lower <= upper`` is checked when both are concrete.
      key: ``None`` for the deterministic (evaluation) slope, or a PRNG key (typed ``jax.random.key``
        of any implementation, or a legacy ``uint32`` ``jax.random.PRNGKey`` of shape ``(2,)`` or
        ``(4,)``). The slopes are a hash of every word of the key, a constant of rrelu's own (the same
        key in :func:`alpha_dropout` draws independent numbers) and each element's position in ``x``
        (global under ``jit`` on a mesh; local inside ``shard_map``, where ``fold_in`` the
        ``axis_index`` for per-device slopes). To draw per-example keys, ``jax.vmap`` over keys.

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: if ``x`` is not floating point, a bound is not real, or ``key`` is not a PRNG key.
      ValueError: if concrete bounds are not finite or ``lower > upper``, or ``key`` is an array of
        keys or a ``uint32`` array of a shape no key has.

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
    lo = check_param("rrelu", "lower", lower, x)
    hi = check_param("rrelu", "upper", upper, x)
    if is_host(lo) and is_host(hi) and _exceeds(lo, hi):
        raise ValueError(
            f"jrelu.rrelu: lower must be <= upper, got lower={given[0]!r} and upper={given[1]!r}."
        )
    mode = "y" if all_nonnegative(lo, hi) else "mask"
    if key is None:
        if is_host(lo) and is_host(hi):  # average before rounding: one rounding only
            mean = (np.asarray(given[0], np.float64) + np.asarray(given[1], np.float64)) / 2
            slope = np.asarray(mean, lo.dtype)
        else:
            slope = (lo + hi) / 2
        return on_rows(_leaky_jit, mode, x, *on_device(x, slope))
    return on_rows(_rrelu_jit, mode, x, check_key("rrelu", key), *on_device(x, lo, hi))
