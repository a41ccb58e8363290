"""The float64 oracle of :mod:`jrelu.testing`: references, correct rounding, ulps, inputs, comparison.

Everything here runs in NumPy on the host: the references are the registry's NumPy formulas
(:attr:`jrelu.Spec.value`, :attr:`jrelu.Spec.derivative`, in extended precision where asked), never
jrelu's own JAX code, so they judge it independently. ``jrelu check`` and the test suite both use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from jrelu import _registry
from jrelu._registry import Spec

F32_ULP = 2.0  # float32/float64 tolerance, in ulps
# share of half-precision outputs allowed to differ (by 1 ulp) from the correctly rounded value
HALF_MISMATCH = 1e-3


def np_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` (a name such as ``"bfloat16"``, a NumPy or ml_dtypes type) as a NumPy dtype."""
    return np.dtype(jnp.dtype(dtype))


def finfo(dtype: DTypeLike) -> Any:
    return jnp.finfo(jnp.dtype(dtype))


def compute_dtype(dtype: DTypeLike) -> str:
    """The dtype jrelu computes ``dtype`` in: float64 for float64, float32 for everything narrower."""
    return "float64" if np_dtype(dtype) == np.float64 else "float32"


def f64(a: Any) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):  # NaN payloads of 16-bit types warn on cast
        return np.asarray(a).astype(np.float64)


def ulp(x: Any, dtype: DTypeLike) -> np.ndarray:
    """The spacing of ``dtype`` at ``|x|``: the size of one unit in the last place.

    Args:
      x: values, read as float64.
      dtype: the dtype whose spacing is wanted (a name, a NumPy or ml_dtypes type).

    Returns:
      A float64 array shaped like ``x``. Below the normal range the spacing is that of the smallest
      normal number (which is also the subnormals' spacing); above the largest finite number (and at
      ``±inf``), that of the largest finite number.

    >>> import numpy as np
    >>> from jrelu.testing import ulp
    >>> ulp(np.array([1.0, 1.5, 2.0]), "bfloat16")
    array([0.0078125, 0.0078125, 0.015625 ])
    """
    fi = finfo(dtype)
    with np.errstate(over="ignore"):  # a longdouble beyond float64's range: the largest finite
        a = np.clip(np.abs(np.asarray(x, np.float64)), float(fi.tiny), float(fi.max))
    _, e = np.frexp(a)  # a = m * 2**e with m in [0.5, 1)
    return np.ldexp(float(fi.eps), e - 1)


def correctly_rounded(ref: Any, dtype: DTypeLike) -> np.ndarray:
    """``ref`` (float64) correctly rounded to ``dtype`` (round half to even), returned as float64.

    NumPy's conversions to float32 and float16 are correctly rounded; ml_dtypes' float64 -> bfloat16
    went through float32 before version 0.7 and so rounded twice, which is wrong next to a tie. So as not
    to depend on which version is installed, for 16- and 8-bit types the three neighbouring values of the
    first guess are compared exactly in float64, ties going to the even one. A value beyond the largest
    finite number by half an ulp or more becomes ``±inf`` (NaN for a type without infinities, such as
    ``float8_e4m3fn``).

    >>> import numpy as np
    >>> from jrelu.testing import correctly_rounded
    >>> correctly_rounded(np.array([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8]), "bfloat16")  # two ties
    array([1.      , 1.015625])
    """
    with np.errstate(over="ignore"):  # a longdouble reference beyond float64's range is inf
        ref = np.asarray(ref, np.float64)
    dt = np_dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        guess = ref.astype(dt)
    if dt.itemsize > 2:
        return f64(guess)
    ut = np.uint16 if dt.itemsize == 2 else np.uint8
    top_bit = 1 << (8 * dt.itemsize - 1)
    bits = guess.view(ut).astype(np.int64)
    sign, mag = bits & top_bit, bits & (top_bit - 1)
    # the largest finite number's bits, plus one (float8_e4m3fn has no infinity: NaN follows it)
    inf_mag = int(np.array(finfo(dtype).max, dt).view(ut)) + 1
    cands = np.stack([np.clip(mag + d, 0, inf_mag - 1) for d in (-1, 0, 1)])
    vals = f64((sign | cands).astype(ut).view(dt))
    dist = np.abs(vals - ref)
    best = np.min(dist, axis=0)
    # among the closest candidates prefer an even one (round half to even)
    score = np.where(dist == best, np.where(cands % 2 == 0, 0, 1), 2)
    out = np.take_along_axis(vals, np.argmin(score, axis=0)[None], axis=0)[0]
    top = float(finfo(dtype).max)
    overflow = np.abs(ref) >= top + float(ulp(np.array(top), dtype)) / 2
    has_inf = bool(np.isinf(f64(np.array(np.inf).astype(dt))))
    out = np.where(overflow, np.copysign(np.inf, ref) if has_inf else np.nan, out)
    return np.where(np.isnan(ref), np.nan, out)


def is_subnormal(x: Any, dtype: DTypeLike, band: float = 1.0) -> np.ndarray:
    """True where ``x`` is a nonzero number below the normal range of the dtype jrelu computes
    ``dtype`` in, which XLA on CPU flushes to zero.

    jrelu computes float64 in float64 and every narrower type in float32, so the float32 range is what
    counts for float32, bfloat16 and float8; a float16 subnormal is a normal float32 number and is kept.

    Args:
      x: values, read as float64.
      dtype: the input's dtype.
      band: widens the range to ``|x| < band * smallest normal`` (a margin for results computed from
        such inputs).

    Returns:
      A boolean array shaped like ``x``; False at zero, ``±inf`` and NaN.

    >>> import numpy as np
    >>> from jrelu.testing import is_subnormal
    >>> is_subnormal(np.array([0.0, 1e-39, 1e-30, np.inf]), "float32")
    array([False,  True, False, False])
    """
    a = np.abs(f64(x))
    tiny = float(finfo(compute_dtype(dtype)).tiny)
    return (a > 0) & (a < band * tiny)


def grid(dtype: DTypeLike, kinks: Sequence[float] = ()) -> np.ndarray:
    """The inputs ``jrelu check`` judges values and gradients on, in ``dtype``.

    Every bit pattern for a 16- or 8-bit type (65,536 or 256 inputs, NaN and infinities included); for
    wider ones, the special values (``±0``, ``±1``, ``±inf``, NaN, the largest and smallest normal
    numbers), each of ``kinks`` with its neighbours in ``dtype`` and ``±0.5`` from it, and ~2,600
    log-uniform magnitudes of both signs (a fixed seed: the same inputs each call).

    >>> from jrelu.testing import grid
    >>> grid("bfloat16").size, grid("float8_e5m2").size
    (65536, 256)
    """
    dt = np_dtype(dtype)
    if dt.itemsize == 2:
        return np.arange(2**16, dtype=np.uint16).view(dt)
    if dt.itemsize == 1:  # float8: all 256
        return np.arange(2**8, dtype=np.uint8).view(dt)
    fi = finfo(dtype)
    rng = np.random.default_rng(0)
    near = 10.0 ** rng.uniform(-6, 2.5, 1024)  # where the functions bend
    wide = 10.0 ** rng.uniform(np.log10(float(fi.tiny)) + 1, np.log10(float(fi.max)) - 0.01, 256)
    special = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, float(fi.max), -float(fi.max)]
    special += [float(fi.tiny), -float(fi.tiny), 1e-3, -1e-3, 20.0, -20.0, 100.0, -100.0]
    for k in kinks:
        kk = np.asarray(k, dt)
        special += [k, np.nextafter(kk, dt.type(np.inf)), np.nextafter(kk, dt.type(-np.inf))]
        special += [k + 0.5, k - 0.5]
    mags = np.concatenate([near, wide])
    return np.concatenate([np.asarray(special, np.float64), mags, -mags]).astype(dt)


def finite_grid(lo: float = -20.0, hi: float = 20.0, n: int = 2001) -> np.ndarray:
    """Finite float64 inputs across both sides of every kink: ``n`` evenly spaced points in
    ``[lo, hi]``, then the kinks themselves (``±0``, 6) with close neighbours, numbers near zero
    (``±1e-7``, ``±1e-30``) and the far tails (``±88``, ``±100``).

    >>> from jrelu.testing import finite_grid
    >>> x = finite_grid()
    >>> x.dtype, x.size, bool((x == 6.0).any())
    (dtype('float64'), 2014, True)
    """
    pts = np.linspace(lo, hi, n)
    extra = [
        0.0,
        -0.0,
        6.0,
        1e-7,
        -1e-7,
        5.9999995,
        6.0000005,
        1e-30,
        -1e-30,
        88.0,
        -88.0,
        100.0,
        -100.0,
    ]
    return np.concatenate([pts, extra])


def reference(
    fn: str | Spec, x: Any, *, exact: bool = False, **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The float64 references of the value and derivative of ``fn`` at ``x``: the oracle.

    The registry's NumPy formulas (:attr:`jrelu.Spec.value` and :attr:`jrelu.Spec.derivative`), which
    share no code with jrelu's JAX implementation. At ``±inf``, where a formula gives NaN (``0 * inf``
    for a zero slope), the value at the largest finite float64 instead: the limit. (A gated function's
    reference is IEEE arithmetic as it stands: ``inf * 0`` is NaN there, as in jrelu and every peer.)

    Args:
      fn: a name in :data:`jrelu.FUNCTIONS` or a :class:`jrelu.Spec` (one with a key bound, for a
        function that needs one: ``spec.with_key(key)``).
      x: the inputs, read as float64 (for a gated Spec, ``[a, b]`` along the last axis).
      exact: compute in extended precision (``np.longdouble``) and leave the result unrounded, to judge
        float64 results by.
      **params: the hyperparameters (defaults: the Spec's).

    Returns:
      ``(value, derivative)``: the derivative elementwise (for a gated Spec, the gradient of
      ``sum(f(x))``), at each kink the one the registry's convention chooses.

    >>> import numpy as np
    >>> from jrelu.testing import reference
    >>> x = np.array([-2.0, 0.0, np.inf])
    >>> value, derivative = reference("leaky_relu", x, negative_slope=0.1)
    >>> value, derivative
    (array([-0.2,  0. ,  inf]), array([0.1, 0.1, 1. ]))
    """
    spec = _registry.spec(fn) if isinstance(fn, str) else fn
    x = f64(x)
    if spec.gated:
        return spec.value(x, **params), spec.derivative(x, **params)
    ref = spec.value(x, exact=exact, **params)
    dref = spec.derivative(x, exact=exact, **params)
    undefined = np.isinf(x) & (np.isnan(ref) | np.isnan(dref))
    if np.any(undefined):
        big = np.copysign(np.finfo(np.float64).max, x[undefined])
        ref[undefined] = spec.value(big, exact=exact, **params)
        dref[undefined] = spec.derivative(big, exact=exact, **params)
    return ref, dref


@dataclasses.dataclass
class Comparison:
    """What :func:`compare` found.

    Attributes:
      passed: whether every element is within the tolerance.
      worst: the largest error, in ulps (``inf`` where a NaN or infinity does not match).
      index: the flat index of the worst element (None where nothing is off).
      note: for a correctly-rounded comparison, how many elements were off and how many were ties.
    """

    passed: bool
    worst: float
    index: int | None  # the worst element (for the failure message)
    note: str = ""


def compare(
    got: Any,
    ref: Any,
    dtype: DTypeLike,
    *,
    floor: float = 0.0,
    tol: float = F32_ULP,
    rounded_once: bool = False,
    share: float = HALF_MISMATCH,
) -> Comparison:
    """Compare ``got`` (in ``dtype``) with the float64 (or longdouble) ``ref`` elementwise, in ulps.

    Non-finite values must match the correctly rounded reference exactly (NaN where NaN, the same
    infinity). Finite ones: with ``rounded_once``, the error is counted in ulps from the correctly
    rounded reference; a neighbour of it is fine where the exact value is a tie to within the compute
    dtype's rounding (4 of its ulps; the float32 parameters and arithmetic cannot settle those), and
    otherwise at most ``share`` of the elements may be off, by at most 1 ulp. Without it, the error is
    ``|got - ref|`` in ulps of ``max(|ref|, floor)`` and must be at most ``tol``. References below the
    compute dtype's normal range may come back as zero (flush to zero).

    Args:
      got: the values to judge (any shape; flattened).
      ref: the reference, float64 or ``np.longdouble``; a scalar is broadcast.
      dtype: the dtype ``got`` was computed in.
      floor: the smallest scale the error is measured against (an absolute error of ``tol`` ulps of
        ``floor`` is allowed where ``|ref|`` is smaller).
      tol: the tolerance in ulps (without ``rounded_once``).
      rounded_once: hold ``got`` to the correctly rounded reference (half precision and float8).
      share: with ``rounded_once``, the share of elements allowed 1 ulp off.

    Returns:
      A :class:`Comparison`.

    >>> import numpy as np
    >>> from jrelu.testing import compare
    >>> x = np.linspace(-3.0, 3.0, 7)
    >>> compare(np.exp(x.astype(np.float32)), np.exp(x), "float32").passed
    True
    >>> compare(np.float32(1.0) + np.float32(2.0**-21), np.array(1.0), "float32").worst
    4.0
    """
    got = f64(got).reshape(-1)
    ref = np.asarray(ref)
    ref = ref if ref.dtype == np.longdouble else ref.astype(np.float64)
    ref = np.broadcast_to(ref, got.shape) if ref.ndim == 0 else ref.reshape(-1)
    if got.size == 0:
        return Comparison(True, 0.0, None)
    ref_d = correctly_rounded(ref, dtype)
    same_class = (np.isnan(got) == np.isnan(ref_d)) & (np.isfinite(got) == np.isfinite(ref_d))
    same_class &= ~np.isinf(ref_d) | (got == ref_d)
    finite = np.isfinite(got) & np.isfinite(ref_d)
    err = np.zeros(got.shape)
    cdt = compute_dtype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        if rounded_once:
            err[finite] = np.abs(got - ref_d)[finite] / ulp(ref_d[finite], dtype)
            tie = finite & (err <= 1) & (np.abs(ref - (got + ref_d) / 2) <= 4 * ulp(ref, cdt))
        else:
            scale = np.maximum(np.abs(ref), floor)
            err[finite] = np.abs(got - ref)[finite] / ulp(scale[finite], dtype)
    flushed = finite & (got == 0) & (np.abs(ref) < float(finfo(cdt).tiny))
    err[flushed] = 0.0
    err[~same_class] = np.inf
    worst_i = int(np.argmax(err))
    worst = float(err[worst_i])
    if not rounded_once:
        return Comparison(worst <= tol, worst, worst_i if worst > 0 else None)
    off = (err > 0) & ~tie
    n_off, n_tie = int(np.count_nonzero(off)), int(np.count_nonzero((err > 0) & tie))
    passed = bool(np.all(err[off] <= 1.0)) and n_off <= share * got.size
    notes = []
    if n_off:
        notes.append(
            f"{n_off} of {got.size} not correctly rounded"
            + (f" (more than {share:.1%})" if n_off > share * got.size else "")
        )
    if n_tie:
        notes.append(f"{n_tie} ties rounded the other way")
    worst_i = int(np.argmax(np.where(off, err, -1.0))) if n_off else worst_i
    worst = float(err[worst_i])
    return Comparison(passed, worst, worst_i if n_off else None, ", ".join(notes))
