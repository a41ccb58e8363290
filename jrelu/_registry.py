"""The one description of every function, and :func:`get`.

Tests, ``jrelu check``, the benchmarks and the plots iterate over :data:`FUNCTIONS` instead of keeping
their own lists: each :class:`Spec` holds the public function, its defaults, a float64 NumPy reference for
the value and the derivative (with the kink convention), the kinks, and the peers' counterparts.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jrelu import _keras
from jrelu._dropout import alpha_dropout
from jrelu._exponential import SELU_ALPHA_EXACT, SELU_SCALE_EXACT, celu, elu, selu
from jrelu._random import check_key, rrelu
from jrelu._rectifiers import leaky_relu, prelu, reglu, relu, relu6, squared_relu

NDArray = np.ndarray


# Static arguments that choose how jrelu computes, not what: the float64 references ignore them.
_OPTIONS = ("precise",)


def _nan_aware(fn: Callable[..., NDArray]) -> Callable[..., NDArray]:
    """Reference maps NaN to NaN, for the value and the derivative alike.

    The formula runs in ``np.longdouble`` (80-bit on x86; float64 where the platform has nothing
    wider) on the float64 inputs and hyperparameters, and is rounded once to float64 -- or, with
    ``exact=True``, returned in longdouble, to judge float64 results by. Options (``precise``) choose
    how jrelu computes, not what: they are ignored here.
    """

    @functools.wraps(fn)
    def wrapped(x: NDArray, *, exact: bool = False, **p: Any) -> NDArray:
        x = np.asarray(x, np.float64)
        hyper = {
            k: np.asarray(v, np.float64).astype(np.longdouble)
            for k, v in p.items()
            if k not in _OPTIONS
        }
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(fn(x.astype(np.longdouble), **hyper), np.longdouble)
            out = out if exact else out.astype(np.float64)
        return np.where(np.isnan(x), np.nan, out)

    return wrapped


def _times(a: NDArray, x: NDArray) -> NDArray:
    """a * x with 0 * inf = 0: the limit of a slope times x, as jrelu computes it."""
    return np.where(a == 0, 0.0, a * x)


def _celu_neg(x: NDArray, a: NDArray, d: bool = False) -> NDArray:
    """celu's negative side (or its derivative) with x / alpha in extended precision: for a negative
    alpha, e^(x/alpha) magnifies the rounding of the quotient by x/alpha, which a float64 quotient
    would put into the float64 reference itself."""
    z = np.minimum(x, 0).astype(np.longdouble) / np.asarray(a, np.longdouble)
    return np.exp(z) if d else np.asarray(a, np.longdouble) * np.expm1(z)


def _neg_exp(x: NDArray, a: NDArray | np.floating[Any]) -> NDArray:
    return a * np.expm1(np.minimum(x, 0))


# selu's constants in extended precision: their float64 product is 1 ulp off scale * alpha.
_SELU_ALPHA = np.longdouble(SELU_ALPHA_EXACT)
_SELU_SCALE = np.longdouble(SELU_SCALE_EXACT)


@dataclasses.dataclass(frozen=True)
class Spec:
    """Everything jrelu knows about one activation.

    Attributes:
      name: public name (``jrelu.<name>``, ``jrelu.get(name)``).
      fn: the public function.
      family: ``"piecewise-linear"`` (``jrelu/_rectifiers.py``), ``"exponential"``
        (``_exponential.py``), ``"random"`` (``_random.py``; alpha_dropout in ``_dropout.py``) or
        ``"transformer"`` (squared_relu and reglu, the FFN activations, also in ``_rectifiers.py``).
      params: hyperparameters with the values used by default in tests and benchmarks (for ``prelu``,
        whose slope has no default, an example value).
      required: hyperparameters :func:`get` must be given.
      value: float64 NumPy reference of the value, ``value(x, **params)``.
      derivative: float64 NumPy reference of dy/dx with jrelu's kink convention.
      kinks: where the derivative jumps.
      kink_rule: the convention at the kinks, in words.
      baseline: the peer formulation compared in tests and benchmarks: ``jax.nn``'s function, or the
        obvious ``jnp.where`` code where ``jax.nn`` has none.
      baseline_name: ``"jax.nn"`` or ``"jnp.where"``.
      torch: ``torch(F, x, **params)`` with ``F = torch.nn.functional`` (benchmarks only; no torch import).
      integer_ok: integer input keeps its dtype.
      grad_off_output: in half precision the derivative is read off the *rounded* output (the
        exponential family, squared_relu's 2 sqrt(y)), so it is held to 2 ulp, not rounded once.
      random: takes a ``key``.
      needs_key: the key is required (alpha_dropout: there is no deterministic form). The references
        then take the key too (``value(x, key=key, **params)``); tables that call ``fn(x, **params)``
        use :meth:`with_key`. The value reference also takes ``mask_rate``, the rate the mask is
        drawn at, so that finite differences in the rate hold the mask fixed (the pathwise
        derivative jrelu takes).
      train_baseline: for a random function, the obvious JAX formulation with a key,
        ``train_baseline(x, key, **params)`` (``jax.random`` draws: the same distribution, other
        numbers), compared in the benchmarks; ``train_torch(F, x, **params)`` is PyTorch's.
      value_floor: the size of the terms that cancel in the value (alpha_dropout's ``a x + b`` near
        ``x = -b / a``, whose constants are rounded once), as ``value_floor(**params)``: values are
        held to ulps of ``max(|f(x)|, value_floor)``, as gradients are to ulps of the kink's slope.
      shown: the hyperparameters ``jrelu plot`` draws with where the defaults hide what sets the
        function apart (celu with ``alpha=1`` is elu); ``params`` otherwise.
      variants: hyperparameter settings that between them reach every code path (negative slopes and
        alphas, which switch the rule to its masked mode, zero slopes, slopes above 1, ``precise``).
      gated: the function is not elementwise but a gated linear unit: it splits ``x`` into halves
        ``a, b`` along ``static["axis"]`` and output ``i`` depends on ``a[i]`` and ``b[i]`` only, so the
        output has half of ``x``'s size along that axis. ``value(x)`` and ``derivative(x)`` then take
        the *full* ``x`` (split along its last axis): ``value`` gives the half-sized output and
        ``derivative`` the gradient of ``sum(f(x))`` (``x``'s shape: ``[d/da, d/db]``), there being no
        elementwise derivative. ``kinks`` are those of the gate half ``b``.
      static: keyword-only arguments that are not hyperparameters, with their defaults: never traced,
        vmapped or differentiated, and of the default's type -- ``{"precise": False}`` (a bool that
        chooses the derivative rule, not the function: the references ignore it), reglu's
        ``{"axis": -1}``. :func:`get` accepts them.
      not_applicable: the checks and tests that do not apply to this function, each with the reason
        (the tests assert the reason: e.g. that a scalar input is refused).
    """

    name: str
    fn: Callable[..., jax.Array]
    family: str
    params: Mapping[str, float]
    value: Callable[..., NDArray]
    derivative: Callable[..., NDArray]
    kinks: tuple[float, ...]
    kink_rule: str
    baseline: Callable[..., jax.Array]
    baseline_name: str
    torch: Callable[..., Any]
    required: tuple[str, ...] = ()
    integer_ok: bool = False
    grad_off_output: bool = False
    random: bool = False
    variants: tuple[Mapping[str, float], ...] = ({},)
    gated: bool = False
    static: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    not_applicable: Mapping[str, str] = dataclasses.field(default_factory=dict)
    needs_key: bool = False
    train_baseline: Callable[..., jax.Array] | None = None
    train_torch: Callable[..., Any] | None = None
    value_floor: Callable[..., float] | None = None
    shown: Mapping[str, float] | None = None

    def with_key(self, key: Any) -> Spec:
        """This Spec with ``key`` bound in ``fn`` and the references (a call may still pass another):
        a function of ``x`` and the hyperparameters, for the tables that call ``fn(x, **params)``."""
        bind = functools.partial
        return dataclasses.replace(
            self,
            fn=bind(self.fn, key=key),
            value=bind(self.value, key=key),
            derivative=bind(self.derivative, key=key),
        )

    def hyper(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` without the static arguments: the hyperparameters proper (numbers or arrays)."""
        return {k: v for k, v in params.items() if k not in self.static}

    def __call__(self, x: ArrayLike, **params: Any) -> jax.Array:
        return self.fn(x, **{**self.params, **params})

    def __reduce__(self) -> tuple[Any, ...]:
        # Specs hold lambdas, which do not pickle: a Spec pickles as its name and unpickles as the
        # registry's own Spec of that name.
        return (spec, (self.name,))


class _Functions(Mapping[str, Spec]):
    """A read-only name -> Spec mapping that pickles (a ``mappingproxy`` does not)."""

    def __init__(self, specs: tuple[Spec, ...]) -> None:
        self._d = {s.name: s for s in specs}

    def __getitem__(self, name: str) -> Spec:
        return self._d[name]

    def __iter__(self) -> Any:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"jrelu.FUNCTIONS({', '.join(self._d)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_functions, ())


def _where_leaky(x: jax.Array, negative_slope: Any) -> jax.Array:
    # broadcast_to: a (C,) slope against (N, C) input without rank promotion (which strict mode refuses).
    return jnp.where(x >= 0, x, jnp.broadcast_to(negative_slope, x.shape) * x)


def _where_rrelu(x: jax.Array, lower: Any = 1 / 8, upper: Any = 1 / 3) -> jax.Array:
    return jnp.where(x >= 0, x, jnp.broadcast_to((lower + upper) / 2, x.shape) * x)


def _relu_nan(b: NDArray) -> NDArray:
    """relu with NaN in, NaN out (float64)."""
    return np.where(b > 0, b, np.where(np.isnan(b), np.nan, 0.0))


def _halves(x: Any, axis: int) -> tuple[NDArray, NDArray]:
    x = np.asarray(x, np.float64)
    if x.ndim == 0 or x.shape[axis] % 2:
        raise ValueError(f"reglu reference: x of shape {x.shape} has no even axis {axis} to split")
    a, b = np.split(x, 2, axis=axis)
    return a, b


def _reglu_value(x: Any, axis: int = -1) -> NDArray:
    """a * relu(b) in IEEE float64: NaN where either half is NaN, and inf * 0 = NaN (as every peer)."""
    a, b = _halves(x, axis)
    with np.errstate(over="ignore", invalid="ignore"):  # a * b may overflow to inf
        return a * _relu_nan(b)


def _reglu_derivative(x: Any, axis: int = -1) -> NDArray:
    """The gradient of sum(reglu(x)): [relu(b), a * 1{b > 0}] (0 at the kink b = 0, and 0 where a = 0
    even for b = inf), NaN in both halves wherever the output is NaN (jrelu's keep-NaN rule)."""
    a, b = _halves(x, axis)
    nan = np.isnan(_reglu_value(x, axis))
    da = np.where(nan, np.nan, np.where(b > 0, b, 0.0))
    db = np.where(nan, np.nan, np.where((b > 0) & (a != 0), a, 0.0))
    return np.concatenate([da, db], axis=axis)


def _jnp_reglu(x: jax.Array, axis: int = -1) -> jax.Array:
    a, b = jnp.split(x, 2, axis=axis)
    return a * jax.nn.relu(b)


def _torch_reglu(F: Any, x: Any, axis: int = -1) -> Any:
    a, b = x.chunk(2, dim=axis)  # the split of F.glu: first half the value, second the gate
    return a * F.relu(b)


# alpha_dropout's reference: the keep mask re-computed in NumPy from the hash documented in
# jrelu/_random.py (MurmurHash3's fmix32 over the key's words and a per-function stream constant, then
# one lowbias32 round of the element's row-major position offset and mixed by that digest), and the
# affine map in extended precision.
_M32 = 0xFFFFFFFF
_SA = np.longdouble(SELU_SCALE_EXACT) * np.longdouble(SELU_ALPHA_EXACT)  # -alpha' = lambda alpha


def _xorshift_multiply(h: Any, c1: int, s2: int, c2: int) -> NDArray:
    h = np.asarray(h, np.uint64)
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(c1)) & np.uint64(_M32)
    h = h ^ (h >> np.uint64(s2))
    h = (h * np.uint64(c2)) & np.uint64(_M32)
    return h ^ (h >> np.uint64(16))


def _fmix(h: Any) -> NDArray:  # MurmurHash3's finaliser
    return _xorshift_multiply(h, 0x85EBCA6B, 13, 0xC2B2AE35)


def _lowbias32(h: Any) -> NDArray:  # Wellons' lowbias32
    return _xorshift_multiply(h, 0x7FEB352D, 15, 0x846CA68B)


def _np_keep(key: Any, shape: tuple[int, ...], rate: Any, dims: Any = ()) -> NDArray:
    """The keep mask of ``alpha_dropout`` for ``key`` over ``shape``: uniform numbers in [0, 1) (24
    bits) at least ``rate``, one number shared along ``dims``."""
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    )
    words = [int(w) for w in np.asarray(data, np.uint32).reshape(-1)]
    stream = zlib.crc32(b"jrelu.alpha_dropout")
    golden = 0x9E3779B9
    a: NDArray = np.asarray(stream, np.uint64)
    b = _fmix((stream + len(words) * golden) & _M32)
    for w in words:
        a, b = b, _fmix(a ^ np.uint64(w))
    dims = tuple(d % len(shape) for d in ((dims,) if isinstance(dims, int) else dims))
    small = tuple(1 if i in dims else n for i, n in enumerate(shape))
    index = np.arange(math.prod(small), dtype=np.uint64).reshape(small)
    h = _lowbias32((((index + b) * np.uint64(golden)) & np.uint64(_M32)) ^ a)
    u = (h >> np.uint64(8)).astype(np.float64) * 2.0**-24
    return np.broadcast_to(u >= np.asarray(rate, np.float64), shape)


def _dropout_affine(rate: Any) -> tuple[NDArray, NDArray, NDArray]:
    """(a, b, dropped) in extended precision: kept units a x + b, dropped ones a alpha' + b."""
    p = np.asarray(rate, np.float64).astype(np.longdouble)
    with np.errstate(divide="ignore"):
        a = 1 / np.sqrt((1 - p) * (1 + p * _SA * _SA))
    return a, a * _SA * p, -_SA * np.sqrt((1 - p) / (1 + p * _SA * _SA))


def _dropout_value(
    x: Any,
    *,
    key: Any,
    rate: Any,
    broadcast_dims: Any = (),
    exact: bool = False,
    mask_rate: Any = None,
) -> NDArray:
    """a x + b where kept, a alpha' + b where dropped; NaN stays NaN even where dropped. The mask is
    drawn at ``mask_rate`` (default ``rate``): held fixed there, finite differences in ``rate`` give
    the pathwise derivative jrelu takes (the mask is a step function of the rate)."""
    x = np.asarray(x, np.float64)
    a, b, off = _dropout_affine(rate)
    keep = _np_keep(key, x.shape, rate if mask_rate is None else mask_rate, broadcast_dims)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(keep, a * x.astype(np.longdouble) + b, off)
        out = out if exact else out.astype(np.float64)
    return np.where(np.isnan(x), np.nan, out)


def _dropout_derivative(
    x: Any, *, key: Any, rate: Any, broadcast_dims: Any = (), exact: bool = False
) -> NDArray:
    """a where kept, 0 where dropped, read off the mask alone (a NaN input too: jrelu's rule reads
    neither x nor y)."""
    x = np.asarray(x, np.float64)
    a, _, _ = _dropout_affine(rate)
    out = np.where(_np_keep(key, x.shape, rate, broadcast_dims), a, np.longdouble(0))
    return out if exact else out.astype(np.float64)


def _where_dropout_train(x: jax.Array, key: Any, rate: Any) -> jax.Array:
    """The obvious JAX alpha dropout: a jax.random.bernoulli mask (as flax.linen.Dropout draws)."""
    a, b, off = (float(v) for v in _dropout_affine(rate))
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, a * x + b, jnp.asarray(off, x.dtype))


def _where_rrelu_train(x: jax.Array, key: Any, lower: Any, upper: Any) -> jax.Array:
    """The obvious JAX formulation of training-mode rrelu: per-element slopes from jax.random.uniform."""
    r = jax.random.uniform(key, x.shape, x.dtype, lower, upper)
    return jnp.where(x >= 0, x, r * x)


_SPECS = (
    Spec(
        name="relu",
        fn=relu,
        family="piecewise-linear",
        params={},
        value=_nan_aware(lambda x: np.where(x > 0, x, 0.0)),
        derivative=_nan_aware(lambda x: np.where(x > 0, 1.0, 0.0)),
        kinks=(0.0,),
        kink_rule="relu'(0) = 0",
        baseline=jax.nn.relu,
        baseline_name="jax.nn",
        torch=lambda F, x: F.relu(x),
        integer_ok=True,
    ),
    Spec(
        name="relu6",
        fn=relu6,
        family="piecewise-linear",
        params={},
        value=_nan_aware(lambda x: np.clip(x, 0.0, 6.0)),
        derivative=_nan_aware(lambda x: np.where((x > 0) & (x < 6), 1.0, 0.0)),
        kinks=(0.0, 6.0),
        kink_rule="relu6'(0) = relu6'(6) = 0",
        baseline=jax.nn.relu6,
        baseline_name="jax.nn",
        torch=lambda F, x: F.relu6(x),
        integer_ok=True,
    ),
    Spec(
        name="leaky_relu",
        fn=leaky_relu,
        family="piecewise-linear",
        params={"negative_slope": 0.01},
        value=_nan_aware(lambda x, negative_slope: np.where(x > 0, x, _times(negative_slope, x))),
        derivative=_nan_aware(lambda x, negative_slope: np.where(x > 0, 1.0, negative_slope)),
        kinks=(0.0,),
        kink_rule="leaky_relu'(0) = negative_slope (jax.nn: 1)",
        baseline=jax.nn.leaky_relu,
        baseline_name="jax.nn",
        torch=lambda F, x, negative_slope: F.leaky_relu(x, negative_slope),
        variants=(
            {"negative_slope": 0.01},
            {"negative_slope": -0.2},
            {"negative_slope": 0.0},
            {"negative_slope": 1.5},
        ),
    ),
    Spec(
        name="prelu",
        fn=prelu,
        family="piecewise-linear",
        params={"negative_slope": 0.25},
        value=_nan_aware(lambda x, negative_slope: np.where(x > 0, x, negative_slope * x)),
        derivative=_nan_aware(lambda x, negative_slope: np.where(x > 0, 1.0, negative_slope)),
        kinks=(0.0,),
        kink_rule="d/dx = negative_slope and d/dslope = 0 at 0 (Flax, Equinox: d/dx = 1)",
        baseline=_where_leaky,
        baseline_name="jnp.where",
        torch=lambda F, x, negative_slope: F.prelu(x, x.new_tensor([negative_slope])),
        required=("negative_slope",),
        variants=({"negative_slope": 0.25}, {"negative_slope": -0.1}),
    ),
    Spec(
        name="rrelu",
        fn=rrelu,
        family="random",
        params={"lower": 1 / 8, "upper": 1 / 3},
        value=_nan_aware(lambda x, lower, upper: np.where(x > 0, x, (lower + upper) / 2 * x)),
        derivative=_nan_aware(lambda x, lower, upper: np.where(x > 0, 1.0, (lower + upper) / 2)),
        kinks=(0.0,),
        kink_rule="rrelu'(0) = the slope ((lower + upper) / 2 without a key)",
        baseline=_where_rrelu,
        baseline_name="jnp.where",
        torch=lambda F, x, lower, upper: F.rrelu(x, lower, upper, training=False),
        random=True,
        variants=({"lower": 1 / 8, "upper": 1 / 3}, {"lower": -0.2, "upper": 0.1}),
        train_baseline=_where_rrelu_train,
        train_torch=lambda F, x, lower, upper: F.rrelu(x, lower, upper, training=True),
    ),
    Spec(
        name="alpha_dropout",
        fn=alpha_dropout,
        family="random",
        params={"rate": 0.2},
        required=("rate",),
        value=_dropout_value,
        derivative=_dropout_derivative,
        kinks=(),
        kink_rule="no kink in x: d/dx = a where kept, 0 where dropped (the mask from the key)",
        baseline=_where_dropout_train,
        baseline_name="jnp.where",
        torch=lambda F, x, rate: F.alpha_dropout(x, rate, training=True),
        random=True,
        needs_key=True,
        variants=({"rate": 0.2}, {"rate": 0.5}, {"rate": 0.0}),
        static={"broadcast_dims": ()},
        train_baseline=_where_dropout_train,
        train_torch=lambda F, x, rate: F.alpha_dropout(x, rate, training=True),
        value_floor=lambda rate, **_: float(_dropout_affine(rate)[1]),
        not_applicable={
            "deterministic": "alpha_dropout has no form without a key (its key is required): the "
            "tables bind a fixed one (Spec.with_key), and the peers draw other masks, so values are "
            "compared with the NumPy reference of the mask (the documented hash), not with a peer",
            "NaN gradient": "the derivative reads neither x nor y (a where kept, 0 where dropped: the "
            "mask is re-drawn from the key), so a NaN input gets a finite gradient; NaN in still gives "
            "NaN out",
            "per-element hyperparameters": "rate is one scalar for the whole array (a traced rate "
            "must be a scalar): d/drate is the gradient of sum(f) with respect to that scalar",
            "integer input": "x must be floating point",
            "vmap over scalars": "the mask depends on each element's position in x: vmapped or "
            "scanned over scalars, every element sits at position 0 and draws the same number (as "
            "rrelu's slopes with a key), so the tables map over rows (x[None]) instead",
            "kinks": "no kink in x: the derivative is piecewise constant in the mask, not in x",
            "golden data": "PyTorch draws its own masks: no committed golden values (the dropped "
            "value and the moments are compared with PyTorch's formula in tests/test_flax_golden.py)",
        },
    ),
    Spec(
        name="elu",
        fn=elu,
        family="exponential",
        grad_off_output=True,
        params={"alpha": 1.0},
        value=_nan_aware(lambda x, alpha: np.where(x > 0, x, _neg_exp(x, alpha))),
        derivative=_nan_aware(
            lambda x, alpha: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))
        ),
        kinks=(0.0,),
        kink_rule="elu'(0) = alpha",
        baseline=jax.nn.elu,
        baseline_name="jax.nn",
        torch=lambda F, x, alpha: F.elu(x, alpha),
        variants=(
            {"alpha": 1.0},
            {"alpha": 0.5},
            {"alpha": -0.5},
            {"alpha": 1.0, "precise": True},
            {"alpha": -0.5, "precise": True},
        ),
        static={"precise": False},
    ),
    Spec(
        name="celu",
        fn=celu,
        family="exponential",
        grad_off_output=True,
        params={"alpha": 1.0},
        value=_nan_aware(lambda x, alpha: np.where(x > 0, x, _celu_neg(x, alpha))),
        derivative=_nan_aware(lambda x, alpha: np.where(x > 0, 1.0, _celu_neg(x, alpha, d=True))),
        kinks=(0.0,),
        kink_rule="celu'(0) = 1 (continuous)",
        baseline=jax.nn.celu,
        baseline_name="jax.nn",
        variants=(
            {"alpha": 1.0},
            {"alpha": 2.0},
            {"alpha": -1.0},
            {"alpha": 2.0, "precise": True},
            {"alpha": -1.0, "precise": True},
        ),
        static={"precise": False},
        torch=lambda F, x, alpha: F.celu(x, alpha),
        shown={"alpha": 2.0},  # alpha = 1 is elu: alpha = 2 shows the x / alpha in the exponent
    ),
    Spec(
        name="selu",
        fn=selu,
        family="exponential",
        grad_off_output=True,
        params={},
        value=_nan_aware(lambda x: _SELU_SCALE * np.where(x > 0, x, _neg_exp(x, _SELU_ALPHA))),
        derivative=_nan_aware(
            lambda x: _SELU_SCALE * np.where(x > 0, 1, _SELU_ALPHA * np.exp(np.minimum(x, 0)))
        ),
        kinks=(0.0,),
        kink_rule="selu'(0) = scale * alpha ≈ 1.7581",
        baseline=jax.nn.selu,
        baseline_name="jax.nn",
        torch=lambda F, x: F.selu(x),
        variants=({}, {"precise": True}),
        static={"precise": False},
    ),
    Spec(
        name="squared_relu",
        fn=squared_relu,
        family="transformer",
        params={},
        value=_nan_aware(lambda x: np.where(x > 0, x * x, 0.0)),
        derivative=_nan_aware(lambda x: np.where(x > 0, 2.0 * x, 0.0)),
        kinks=(0.0,),
        kink_rule="squared_relu'(0) = 0, squared_relu''(0) = 0",
        baseline=lambda x: jnp.square(jax.nn.relu(x)),
        baseline_name="jax.nn",
        torch=lambda F, x: F.relu(x) ** 2,
        grad_off_output=True,
    ),
    Spec(
        name="reglu",
        fn=reglu,
        family="transformer",
        params={},
        value=_reglu_value,
        derivative=_reglu_derivative,
        kinks=(0.0,),
        kink_rule="d/db = 0 at the gate's kink b = 0 (a, b = split(x, 2, axis))",
        baseline=_jnp_reglu,
        baseline_name="jax.nn",
        torch=_torch_reglu,
        gated=True,
        static={"axis": -1},
        not_applicable={
            "scalar input": "reglu splits an axis into two halves: a scalar or an odd size is "
            "refused (ValueError), so elementwise derivatives (vmap of grad over scalars) do not "
            "exist; the gradient of sum(reglu(x)) and the Jacobian's two diagonal blocks are "
            "checked instead",
            "same shape": "the output has half of x's size along axis",
            "sharding": "the elementwise sharding test (no collectives on any placement) does not "
            "apply: splitting a sharded axis brings the gate half to the value half's devices, so "
            "collectives are inherent there; tests/test_sharding.py checks reglu under jax.set_mesh "
            "on its own (no collectives where the split axis is unsharded, the sharding kept and the "
            "one-device result everywhere)",
        },
    ),
)

FUNCTIONS: Mapping[str, Spec] = _Functions(_SPECS)
"""Every activation by name, in a fixed order: the table the tests, CLI, benchmarks and plots use."""


def _functions() -> Mapping[str, Spec]:
    return FUNCTIONS


def _snake(name: str) -> str:
    """``LeakyReLU`` -> ``leaky_relu``, ``ReLU6`` -> ``relu6``, ``CELU`` -> ``celu``."""
    name = name.strip().replace("-", "_")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return name.replace("re_lu", "relu")


def close_names(name: str) -> list[str]:
    """The table names close to ``name`` (a CamelCase class name, a typo), best first: suggested,
    never silently accepted."""
    key = name.strip().lower().replace("-", "_")
    snake = [k for k in (_snake(name),) if k in FUNCTIONS]
    return snake or difflib.get_close_matches(key, list(FUNCTIONS), n=3)


def spec(name: str) -> Spec:
    """The :class:`Spec` of ``name``; ValueError listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"jrelu.get: name must be a string, got {type(name).__name__}.")
    key = name.strip().lower().replace("-", "_")
    if key not in FUNCTIONS:
        close = close_names(name)[:1]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"jrelu.get: unknown activation {name!r}; {hint}known names: {', '.join(FUNCTIONS)}."
        )
    return FUNCTIONS[key]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Activation:
    """An activation with bound hyperparameters: what :func:`get` returns.

    A value: frozen, picklable (by name), equal and hashed by ``(name, params)``, so two identical
    ``get`` calls give equal objects (one ``jax.jit``/``eqx.filter_jit`` trace for both as a static
    argument). Called as ``act(x, **override)``.

    Array parameters (NumPy or JAX arrays, tracers): equality compares them by identity (never
    element-wise, so ``==`` never raises), and hashing raises a clear TypeError, as an array's own
    hash does; bind a Python number to get a hashable activation.
    """

    name: str
    params: Mapping[str, Any]

    def __call__(self, x: ArrayLike, **override: Any) -> jax.Array:
        return FUNCTIONS[self.name].fn(x, **{**self.params, **override})

    @property
    def __name__(self) -> str:  # read like the function's (Flax and Equinox reprs use it)
        return self.name

    def _key(self) -> tuple[Any, ...]:
        return (self.name, tuple(sorted((k, _hashable(v)) for k, v in self.params.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activation):
            return NotImplemented
        if self.name != other.name or set(self.params) != set(other.params):
            return False
        return all(_same(self.params[k], other.params[k]) for k in self.params)

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"jrelu.get({self.name!r}{args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_activation, (self.name, dict(self.params)))

    def get_config(self) -> dict[str, Any]:
        """The name and the bound hyperparameters: what Keras saves of an activation (jrelu registers
        this class with Keras' serialization; see ``jrelu/_keras.py``)."""
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Activation:
        """The activation :meth:`get_config` describes, checked again by :func:`get`."""
        return get(config["name"], **config["params"])


def _activation(name: str, params: dict[str, Any]) -> Activation:
    return Activation(name, MappingProxyType(dict(params)))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # an option (precise=True): True is not 1.0
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        # 0.0 and -0.0 are different slopes (the output's sign differs); NaN cannot be bound.
        return bool(a == b) and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a is b


def _hashable(v: Any) -> Any:
    if isinstance(v, bool):
        return ("option", v)
    if _is_number(v):
        return (float(v), math.copysign(1.0, v))
    raise TypeError(
        f"jrelu.get: an activation with the array parameter {type(v).__name__} is not hashable "
        "(arrays are not); bind a Python number instead, e.g. jrelu.get('leaky_relu', "
        "negative_slope=0.2), to use it as a static argument."
    )


def get(name: str, **params: Any) -> Activation:
    # The docstring is written from FUNCTIONS below (_get_doc), so it cannot miss a function.
    s = spec(name)
    allowed = set(s.params) | set(s.static) | ({"key"} if s.random else set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(
            f"jrelu.get: {s.name} takes no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(sorted(allowed)) or 'none'}."
        )
    missing = [p for p in s.required if p not in params]
    if missing:
        raise ValueError(
            f"jrelu.get: {s.name} needs {', '.join(missing)}, e.g. "
            f"jrelu.get({s.name!r}, {missing[0]}={s.params[missing[0]]})."
        )
    concrete = {
        k: v
        for k, v in params.items()
        if k != "key" and k not in s.static and not isinstance(v, jax.core.Tracer)
    }
    for k, default in s.static.items():  # an axis's type now (its range needs an x)
        if k in _OPTIONS:  # checked by the function itself, below, with its own message
            continue
        v = params.get(k, default)
        if isinstance(default, tuple):  # axes (alpha_dropout's broadcast_dims): ints
            ok = isinstance(v, tuple) and all(
                isinstance(d, int) and not isinstance(d, bool) for d in v
            )
            if not ok:
                raise TypeError(
                    f"jrelu.get: {s.name}'s {k} must be a tuple of ints, got {type(v).__name__} {v!r}."
                )
        elif not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(
                f"jrelu.get: {s.name}'s {k} must be an int, got {type(v).__name__} {v!r}."
            )
    options = {k: params[k] for k in _OPTIONS if k in params and k in s.static}
    if concrete or options:  # check the values now, with the function's own messages
        shape = np.broadcast_shapes(*(np.shape(v) for v in s.hyper(concrete).values()))
        # a function that needs a key is checked with a stand-in (the key is checked below)
        stand_in = {"key": jax.random.key(0)} if s.needs_key else {}
        with jax.ensure_compile_time_eval():
            s.fn(
                np.zeros(shape, jax.dtypes.canonicalize_dtype(np.float64)),
                **concrete,
                **options,
                **stand_in,
            )
    if "key" in params and params["key"] is not None:
        check_key(s.name, params["key"])  # the function's own check, with its message
    return _activation(s.name, params)


def _get_doc() -> str:
    """:func:`get`'s docstring, its list of names and parameters written from :data:`FUNCTIONS`."""
    names = ", ".join(FUNCTIONS)

    def joined(words: list[str]) -> str:
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

    lines = []
    for s in FUNCTIONS.values():
        takes = [f"``{k}``" for k in s.params if k not in s.required]
        takes += [f"``{k}`` (required)" for k in s.required]
        takes += [f"``{k}`` (static)" for k in s.static]
        takes += ["``key`` (required)" if s.needs_key else "``key``"] if s.random else []
        lines.append(f"        ``{s.name}``: {joined(takes) if takes else 'none'}.")
    table = "\n".join(lines)
    return f"""Look up an activation by name, optionally binding its hyperparameters.

    Args:
      name: one of ``{names}`` (case-insensitive, ``-`` or ``_``).
      **params: hyperparameters to bind (e.g. ``negative_slope=0.2``), and the static arguments
        (``precise``, a bool: derivatives from ``x``; ``axis``; ``broadcast_dims``) and key the
        function takes. Concrete values are checked now. By function:

{table}

    Returns:
      An :class:`Activation`: called as ``act(x, **override)`` (keyword arguments override the bound
      ones); frozen, picklable, equal and hashed by name and parameters, shown as
      ``jrelu.get('leaky_relu', negative_slope=0.2)``.

    Raises:
      ValueError: for an unknown name (the message lists the known ones), a missing required
        hyperparameter, or a bad value.
      TypeError: for a hyperparameter the function does not take.

    Examples:
      >>> import jax.numpy as jnp, jrelu
      >>> act = jrelu.get("leaky_relu", negative_slope=0.2)
      >>> act(jnp.array([-1.0, 1.0]))
      Array([-0.2,  1. ], dtype=float32)
      >>> act
      jrelu.get('leaky_relu', negative_slope=0.2)
      >>> act == jrelu.get("leaky_relu", negative_slope=0.2)
      True
    """


get.__doc__ = _get_doc()


# Keras (an optional dependency, never imported here): register the table with its serialization once
# both are imported, so that a saved model reloads jrelu's functions and not Keras' of the same names.
_keras.watch()
