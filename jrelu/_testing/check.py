""":func:`jrelu.testing.check` (``jrelu check``): verify every activation on the backend at hand.

Researchers run jrelu on accelerators and compilers its authors never see. These checks answer, in one
run of well under a minute, whether jrelu keeps its promises *there*. For every function in
:data:`jrelu.FUNCTIONS`, each of its registered hyperparameter ``variants`` (between them they reach
every code path: negative slopes and alphas switch the rules to their 1-bit-mask mode) and every float
dtype the backend supports:

* **values** and **gradients** against the registry's NumPy references, computed on the host (in
  extended precision, ``np.longdouble``, rounded to float64 -- and left unrounded to judge float64):
  float32/float64 within 2 ulp (gradients measured in ulps of ``max(|f'|, s)``, where ``s`` is the size of
  the derivative at the kink -- 1, the slope, alpha or scale*alpha -- so a gradient that is tiny next to
  ``s`` is held to an absolute error of 2 ulp of ``s``). bfloat16 and float16 are computed in float32 and
  rounded once, so every finite output must equal the correctly rounded float64 value (a neighbour is
  fine where the exact value is a tie to within float32 rounding; at most 0.1 % of other inputs may be
  1 ulp off); the half-precision gradients of the exponential family are read off the rounded output
  and are held to 2 ulp of ``max(|f'|, s)``. Half precision is checked on *every* bit pattern (65,536
  inputs, NaN and infinities included); float32 and float64 on special values, the kinks and their
  neighbours, and ~2,600 log-uniform magnitudes of both signs.
* **kinks**: the derivative at each kink is the registry's convention (to the gradients' accuracy: a
  wrong convention is off by O(1)), in every dtype; so is the derivative with respect to each
  hyperparameter at the kink.
* **NaN/inf**: NaN in gives NaN out and a NaN gradient; a NaN that a loss masks out (``where(isnan(x), 0,
  f(x))``) gets a zero gradient, and the gradient elsewhere is unchanged (a zero cotangent contributes
  zero); ``±inf`` give the limits (value and gradient); no NaN or infinite gradient at a finite input
  unless the true derivative overflows the dtype.
* **transformations** (float32): ``jit``, ``vmap`` (over inputs, and over hyperparameters, which are then
  traced), ``jvp``, ``jacfwd``, ``jacrev``, ``hessian`` and grad-of-grad (second derivatives against finite
  differences of the float64 derivative, one-sided at a kink, on the side the kink convention belongs to),
  gradients with respect to every hyperparameter (against finite differences of the float64 value), and
  for ``rrelu`` with a key: slopes within bounds, gradient equal to the drawn slope, determinism, vmap
  over keys.
* **a function that needs a key** (alpha_dropout, ``Spec.needs_key``) is checked with a fixed key: its
  NumPy reference re-computes the keep mask from the documented hash, so values, gradients, NaN/inf
  and the transformations are checked as above (values in ulps of ``max(|f|, Spec.value_floor)``: the
  rounded shift ``b`` of ``a x + b`` cancels near ``x = -b / a``; d/drate with the mask held fixed,
  as a scalar); plus the share kept (1 - rate), the moments kept, determinism and vmap over keys.
* **float8** (``float8_e4m3fn``, ``float8_e5m2``) on request (``--dtypes``): all 256 bit patterns,
  held to the correctly rounded value as half precision is.
* **gated functions** (reglu, ``Spec.gated``): the grid above is the gate half ``b``; the value half ``a``
  is the same grid in a fixed random order, so every special value meets many partners. Values, the
  gradient of ``sum(f(x))`` (both halves), kinks (of the gate) and NaN/inf are checked as above; the
  Jacobian is checked block by block (its two diagonal blocks against the references, every other entry
  zero), the Hessian of ``sum(f)`` in full and "grad of grad" as the gradient of ``sum(grad)`` (the
  Hessian's row sums), there being no elementwise derivative (``Spec.not_applicable``); memory is held
  to the jax.nn composition (``Spec.baseline``) measured the same way on the same compiler.
* **memory**: the backward-pass memory slope of a compiled MLP training step on this backend's compiler
  (:func:`jrelu.testing.extra_tensors_per_layer`), for each kind of rule -- default hyperparameters,
  traced ones (sign unknown at compile time: the masked rule), a PRNG key: at most 1/32 of an
  activation per layer (the 1-bit mask); at most 1 + 1/32 when a *required* hyperparameter (prelu's
  slope, meant to be learned) is learned per channel; at most 1 with ``precise=True`` (``x`` is kept).
  ``precise`` variants have their first and second derivatives held to 2 ulp *relative* (no floor ``s``;
  half precision: correctly rounded).

float64 is checked inside a scoped ``jax.enable_x64(True)`` block (thread-local: the process-wide setting,
and so the float32 and half-precision checks, stay as the user has them); ``--no-x64`` skips it.
Inputs whose magnitude is below the smallest *normal* number of the compute dtype are skipped, since XLA
flushes them to zero on CPU (XLA:GPU does not by default; skipping them everywhere keeps one input set
for every backend); outputs that small may be flushed to zero.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from importlib.metadata import version
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu import _registry
from jrelu._cli import fn_names
from jrelu._registry import Spec
from jrelu._testing.memory import extra_tensors_per_layer
from jrelu._testing.oracle import (
    F32_ULP,
    compare,
    correctly_rounded,
    f64,
    finfo,
    grid,
    is_subnormal,
    reference,
)
from jrelu._version import __version__

#: The dtypes :func:`check` checks by default (those the backend supports).
DTYPES = ("float64", "float32", "bfloat16", "float16")
#: The float8 dtypes, checked on request (``dtypes=``): computed in float32 and rounded once.
FLOAT8 = ("float8_e4m3fn", "float8_e5m2")
MEMORY_MASK = 1 / 32  # one bit per float32 element
MEMORY_LEARNED = 1 + 1 / 32  # x itself (for the parameter's gradient) plus the mask
MEMORY_PRECISE = 1.0  # precise=True keeps x itself
MEMORY_SLACK = 1e-3  # rounding in XLA's byte counts
MEMORY_SHAPE = (128, 256)  # (batch, width) of the MLP whose compiled memory is measured

#: The columns of the report: what each :class:`Result` verifies.
COLUMNS = ("values", "gradients", "kinks", "nan_inf", "transforms", "memory")


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One verified property: a function, a column of the table, a dtype and a parameter set.

    Attributes:
      function: the name in :data:`jrelu.FUNCTIONS`.
      column: one of :data:`COLUMNS`.
      check: what was checked, e.g. ``"values"``, ``"jacfwd"``, ``"memory (learned negative_slope)"``.
      dtype: the dtype checked (None where none applies).
      params: the hyperparameters.
      passed: whether it held.
      worst: the figure measured, in ``unit`` (None where there is no number to show).
      limit: the most ``worst`` may be.
      unit: e.g. ``"ulp"``, ``"tensors/layer"``.
      detail: on failure, where and what.
    """

    function: str
    column: str  # one of COLUMNS
    check: str  # e.g. "values", "jacfwd", "memory (learned negative_slope)"
    dtype: str | None
    params: dict[str, float]
    passed: bool
    worst: float | None = None  # in ``unit``; None where there is no number to show
    limit: float | None = None
    unit: str = ""
    detail: str = ""  # on failure: where and what

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready values (non-finite numbers as strings)."""
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class Report:
    """Everything :func:`check` found: the environment, every result, the time taken.

    Attributes:
      environment: the backend, device, device count and versions (jax, jaxlib, jrelu, Python).
      dtypes: the dtypes checked.
      skipped_dtypes: the dtypes asked for but not checked, with the reason.
      functions: the functions checked, in order.
      results: every :class:`Result`.
      seconds: the time the run took.
    """

    environment: dict[str, Any]
    dtypes: list[str]
    skipped_dtypes: dict[str, str]
    functions: list[str]
    results: list[Result]
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(r.passed for r in self.results)

    def by_function(self, name: str) -> list[Result]:
        """The results of one function."""
        return [r for r in self.results if r.function == name]

    def to_json(self) -> dict[str, Any]:
        """The report as ``jrelu check --json`` writes it: per function whether it passed, the worst
        figure of each column and the failures; a summary; every result."""
        functions = {}
        for name in self.functions:
            rs = self.by_function(name)
            functions[name] = {
                "passed": all(r.passed for r in rs),
                "worst": {c: _jsonable(_worst(rs, c)[0]) for c in COLUMNS},
                "failures": [r.to_json() for r in rs if not r.passed],
            }
        return {
            "passed": self.passed,
            "environment": self.environment,
            "dtypes": self.dtypes,
            "skipped_dtypes": self.skipped_dtypes,
            "functions": functions,
            "summary": {
                "functions": len(self.functions),
                "functions_failed": sum(not functions[n]["passed"] for n in self.functions),
                "checks": len(self.results),
                "checks_failed": sum(not r.passed for r in self.results),
                "seconds": round(self.seconds, 2),
            },
            "results": [r.to_json() for r in self.results],
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else str(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _worst(results: Sequence[Result], column: str) -> tuple[float | None, str | None]:
    """The largest ``worst`` figure of a column and the dtype it came from."""
    best: tuple[float | None, str | None] = (None, None)
    for r in results:
        if r.column == column and r.worst is not None and (best[0] is None or r.worst > best[0]):
            best = (r.worst, r.dtype)
    return best


def _fmt(v: Any) -> str:
    v = float(v)
    return repr(v) if not math.isfinite(v) else f"{v:.9g}"


def _where(x: np.ndarray, got: np.ndarray, ref: np.ndarray, i: int | None, what: str) -> str:
    if i is None:
        return ""
    x, got, ref = (np.asarray(a).reshape(-1) for a in (x, got, ref))
    return f"worst at x={_fmt(x[i])}: {what} {_fmt(got[i])}, expected {_fmt(ref[i])}"


# --------------------------------------------------------------------------------------------------
# Inputs and references
# --------------------------------------------------------------------------------------------------


def _scale(spec: Spec, params: Mapping[str, float]) -> float:
    """The size of the derivative at the kinks (1, the slope, alpha, scale*alpha): gradients much
    smaller than this are held to an absolute error in ulps of it."""
    if spec.gated:  # at a = 1, gate b = k: d/da = relu(k), d/db = 1 or 0
        d = [
            float(np.max(np.abs(spec.derivative(np.array([1.0, k]), **params)))) for k in spec.kinks
        ]
    else:
        d = [abs(float(spec.derivative(np.float64(k), **params))) for k in spec.kinks]
    return max([1.0, *d])


def _companion(b: np.ndarray) -> np.ndarray:
    """A gated function's value half for the gate half ``b``: the same values in a fixed random
    order, so that every special value meets many partners."""
    return np.random.default_rng(1).permutation(b)


def _hessian_gated(spec: Spec, x: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """The Hessian of sum(f) for a gated function, by finite differences of the float64 gradient
    column by column: central away from the gate's kinks, second-order one-sided at a kink (on the
    side the kink's convention belongs to, as :func:`_second`)."""
    x = np.asarray(x, np.float64)
    n = x.size // 2

    def d(z: np.ndarray) -> np.ndarray:
        return spec.derivative(z, **params)

    cols = []
    for j, xj in enumerate(x):
        h = 2.0**-20 * max(1.0, abs(xj))
        e = np.zeros_like(x)
        e[j] = h
        if j >= n and xj in spec.kinks:
            dk = d(x)
            side = -1.0 if np.allclose(dk, d(x - e), rtol=1e-4, atol=1e-4) else 1.0
            cols.append(side * (3 * dk - 4 * d(x + side * e) + d(x + 2 * side * e)) / (-2 * h))
        else:
            cols.append((d(x + e) - d(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def _second(spec: Spec, x: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """f'' by finite differences of the float64 derivative: central away from the kinks; at a kink,
    second-order one-sided on the side the kink's derivative belongs to (left if it agrees with it)."""

    def d(z: Any) -> np.ndarray:
        return spec.derivative(np.asarray(z, np.float64), **params)

    out = []
    for xi in np.asarray(x, np.float64):
        h = 2.0**-20 * max(1.0, abs(xi))
        if xi in spec.kinks:
            dk = float(d(xi))
            side = -1.0 if abs(dk - float(d(xi - h))) <= 1e-4 * max(1.0, abs(dk)) else 1.0
            out.append(
                side
                * (3 * dk - 4 * float(d(xi + side * h)) + float(d(xi + 2 * side * h)))
                / (-2 * h)
            )
        else:
            out.append(float(d(xi + h) - d(xi - h)) / (2 * h))
    return np.asarray(out)


def _dparam(spec: Spec, x: np.ndarray, params: Mapping[str, float], name: str) -> np.ndarray:
    """d value / d params[name] by central differences of the float64 reference."""
    p = float(params[name])
    h = 2.0**-20 * max(1.0, abs(p))
    held = {"mask_rate": p} if spec.needs_key else {}  # the mask held fixed (Spec.needs_key)
    hi = spec.value(x, **{**params, name: p + h}, **held)
    lo = spec.value(x, **{**params, name: p - h}, **held)
    return (hi - lo) / (2 * h)


def _param_sets(spec: Spec) -> list[dict[str, float]]:
    """The registry's hyperparameter variants (they reach every code path), defaults filled in."""
    sets = [{**spec.params, **v} for v in (spec.variants or ({},))]
    if dict(spec.params) not in sets:
        sets.insert(0, dict(spec.params))
    return sets


def _transform_points(spec: Spec) -> np.ndarray:
    pts = {-8.0, -3.0, -1.0, -0.25, -1e-3, 1e-3, 0.5, 2.0, 10.0}
    for k in spec.kinks:
        pts |= {float(k), float(k) - 0.5, float(k) + 0.5}
    return np.asarray(sorted(pts), np.float32)


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------


class _Checker:
    """Runs the checks of one function and collects their results."""

    def __init__(self, spec: Spec, x64_scope: Callable[[], Any]):
        self.spec = spec
        self.results: list[Result] = []
        self.x64_scope = x64_scope

    def add(
        self, column: str, check: str, dtype: str | None, params: Mapping[str, float], **kw: Any
    ) -> None:
        self.results.append(Result(self.spec.name, column, check, dtype, dict(params), **kw))

    @contextlib.contextmanager
    def guard(
        self, column: str, check: str, dtype: str | None, params: Mapping[str, float]
    ) -> Iterator[None]:
        """A check that raises fails with the exception as its detail (and the others still run)."""
        try:
            yield
        except Exception as e:
            msg = f"raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            self.add(column, check, dtype, params, passed=False, detail=msg)

    def bound(self, params: Mapping[str, float]) -> Callable[[Any], jax.Array]:
        fn = self.spec.fn

        def f(x: Any) -> jax.Array:
            return fn(x, **params)

        return f

    # ---- values, gradients, kinks, NaN/inf in one dtype ---------------------------------------

    def accuracy(self, dtype: str, params: Mapping[str, float]) -> None:
        s, name = self.spec, self.spec.name
        f = self.bound(params)
        x = grid(dtype, s.kinks)
        if s.gated:  # x is the gate half b; the input is [a, b]
            a = _companion(x)
            keep = ~is_subnormal(a, dtype) & ~is_subnormal(x, dtype)
            a, x = a[keep], x[keep]
            xin = np.concatenate([a, x])
        else:
            x = x[~is_subnormal(x, dtype)]
            xin = x
        x64 = f64(x)
        scope = self.x64_scope if dtype == "float64" else contextlib.nullcontext
        with self.guard("values", "values", dtype, params), scope():
            xj = jnp.asarray(xin)

            # value, gradient and the gradient of a loss that masks the NaN outputs out, as one
            # program: one compilation per dtype and variant
            def masked(u: Any) -> Any:
                v = f(u)
                hide = jnp.isnan(jax.lax.stop_gradient(v))
                return jnp.sum(jnp.where(hide, jnp.zeros((), v.dtype), v))

            y, g, gm = jax.jit(
                lambda v: (f(v), jax.grad(lambda u: jnp.sum(f(u)))(v), jax.grad(masked)(v))
            )(xj)
            y, g, gm = np.asarray(y), np.asarray(g), np.asarray(gm)
            if y.dtype != x.dtype or g.dtype != x.dtype:
                self.add(
                    "values",
                    "dtype kept",
                    dtype,
                    params,
                    passed=False,
                    detail=f"{name}({dtype}) gave value {y.dtype}, gradient {g.dtype}",
                )
            # float64 is judged against the unrounded (longdouble) reference: a float64 one carries
            # its own rounding (up to 2.8 ulp for selu's, from its two rounded constants).
            ref, dref = reference(s, xin, exact=dtype == "float64", **params)
            half = np.dtype(x.dtype).itemsize <= 2  # half precision and float8: rounded once
            precise = bool(params.get("precise"))
            # precise derivatives are relative (no floor); the others are absolute near 0 (see above)
            floor = 0.0 if precise else _scale(s, params)
            finite = np.isfinite(x64)
            at = np.isin(x64, np.asarray(s.kinks, np.float64))
            # the gradient's masks and labels: per input (for a gated function both halves of a pair
            # follow the pair: its gate's kink, its finiteness)
            xg, fin_g, at_g = x, finite, at
            if s.gated:
                finite &= np.isfinite(f64(a))
                xg, fin_g, at_g = xin, np.tile(finite, 2), np.tile(at & finite, 2)
            # A derivative read off the output is infinite where the rounded output overflows, even
            # where the true derivative is finite (squared_relu: x**2 overflows long before 2 x; its
            # docstring says so). Where such a gradient is infinite it must have the true sign, in a
            # check of its own, and is left out of the accuracy and finiteness checks; a finite one
            # (selu reads its x > 0 slope off no output) is held to the accuracy as everywhere.
            over = np.zeros(g.shape, bool)
            if s.grad_off_output and not s.gated:
                over = (
                    finite
                    & np.isinf(correctly_rounded(ref, dtype))
                    & np.isfinite(correctly_rounded(dref, dtype))
                )
                over &= ~np.isfinite(g)
                fin_g = fin_g & ~over

            vfloor = s.value_floor(**s.hyper(params)) if s.value_floor else 0.0
            c = compare(y[finite], ref[finite], dtype, floor=vfloor, rounded_once=half)
            self.add(
                "values",
                "values",
                dtype,
                params,
                passed=c.passed,
                worst=c.worst,
                limit=1.0 if half else F32_ULP,
                unit="ulp",
                detail=_join(c.note, _where(x[finite], y[finite], ref[finite], c.index, "got")),
            )

            # gradients: half precision is rounded once, except where it is read off the rounded output
            once = half and (not s.grad_off_output or precise)
            c = compare(g[fin_g], dref[fin_g], dtype, floor=floor, rounded_once=once)
            self.add(
                "gradients",
                "gradients",
                dtype,
                params,
                passed=c.passed,
                worst=c.worst,
                limit=1.0 if once else F32_ULP,
                unit="ulp",
                detail=_join(c.note, _where(xg[fin_g], g[fin_g], dref[fin_g], c.index, "gradient")),
            )

            # kinks: the convention, to the gradients' accuracy (a wrong convention is off by O(1))
            c = compare(g[at_g], dref[at_g], dtype, floor=floor, rounded_once=once, share=0.0)
            self.add(
                "kinks",
                "derivative at the kinks",
                dtype,
                params,
                passed=c.passed,
                detail=_where(xg[at_g], g[at_g], dref[at_g], c.index, "derivative"),
            )

            # NaN and infinities: exact; and no non-finite gradient where the true one is finite
            odd, odd_g = ~finite, ~fin_g & ~over
            cy = compare(y[odd], ref[odd], dtype)
            cg = compare(g[odd_g], dref[odd_g], dtype, floor=floor)
            msg = _join(
                _where(x[odd], y[odd], ref[odd], cy.index, "value") if not cy.passed else "",
                _where(xg[odd_g], g[odd_g], dref[odd_g], cg.index, "gradient")
                if not cg.passed
                else "",
            )
            self.add(
                "nan_inf",
                "NaN and ±inf inputs",
                dtype,
                params,
                passed=cy.passed and cg.passed,
                detail=msg,
            )
            # a zero cotangent contributes zero: a NaN the loss never sees gives 0 there (both inputs
            # of a gated pair), and the gradient elsewhere is the unmasked one
            nan = np.isnan(f64(y))
            nan = np.tile(nan, 2) if s.gated else nan
            bad = np.flatnonzero(
                np.where(nan, gm != 0, ~((gm == g) | (np.isnan(gm) & np.isnan(g))))
            )
            self.add(
                "nan_inf",
                "masked-out NaN contributes 0",
                dtype,
                params,
                passed=bad.size == 0,
                worst=float(bad.size),
                limit=0.0,
                unit="inputs",
                detail=_where(
                    xg,
                    gm,
                    np.where(nan, 0.0, g.astype(np.float64)),
                    int(bad[0]) if bad.size else None,
                    "masked gradient",
                ),
            )
            if np.any(over):
                n_over = int(np.count_nonzero(over))
                ok = bool(np.all(np.isinf(g[over]) & (np.sign(g[over]) == np.sign(dref[over]))))
                self.add(
                    "nan_inf",
                    "infinite gradient only where the output overflows (read off it), signed",
                    dtype,
                    params,
                    passed=ok,
                    worst=float(n_over),
                    unit="inputs",
                    detail=""
                    if ok
                    else "a NaN or wrongly signed gradient at an overflowing output",
                )
            rounded = correctly_rounded(dref[fin_g], dtype)
            blowup = np.flatnonzero(~np.isfinite(g[fin_g]) & np.isfinite(rounded))
            self.add(
                "nan_inf",
                "finite gradient at finite inputs",
                dtype,
                params,
                passed=blowup.size == 0,
                worst=float(blowup.size),
                limit=0.0,
                unit="inputs",
                detail=_where(
                    xg[fin_g],
                    g[fin_g],
                    dref[fin_g],
                    int(blowup[0]) if blowup.size else None,
                    "gradient",
                ),
            )

    # ---- transformations (float32) ---------------------------------------------------------------

    def transforms(self, params: Mapping[str, float]) -> None:
        s = self.spec
        f = self.bound(params)
        x = _transform_points(s)
        if s.gated:  # the points are the gate half; a companion value half, zero included
            x = np.concatenate([np.roll(x, 3) * np.float32(-1.5), x])
        x64 = f64(x)
        dt = "float32"
        n = x.size
        ref, dref = s.value(x64, **params), s.derivative(x64, **params)
        if s.gated:
            hess = _hessian_gated(s, x64, params)
            d2ref = hess.sum(axis=1)  # d/dx of sum(grad): what "grad of grad" computes
        else:
            d2ref = _second(s, x64, params)
        floor = _scale(s, params)
        at_kink = np.isin(x64, s.kinks)
        floor2 = max(floor, float(np.max(np.abs(d2ref[at_kink]), initial=1.0)))
        if params.get("precise"):  # first and second derivatives relative to themselves
            floor = floor2 = 0.0
        t = np.asarray([(-2.0) ** (i % 5 - 2) for i in range(n)], np.float32)  # exact scalings
        rows = np.stack([x, -x, 2 * x])

        def with_param(pname: str, p: Any) -> jax.Array:
            return s.fn(jnp.asarray(x), **{**params, pname: p})

        # Every transformation, each a function of its own inputs; compiled together as one program
        # (one compilation instead of a dozen), or one by one if that fails, to say which one.
        programs: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "jit": (f, (x,)),
            "vmap": (jax.vmap(f), (rows,)),
            "jvp": (lambda v, w: jax.jvp(f, (v,), (w,)), (x, t)),
            "jacfwd": (jax.jacfwd(f), (x,)),
            "jacrev": (jax.jacrev(f), (x,)),
            "hessian": (jax.hessian(lambda v: jnp.sum(f(v))), (x,)),
            "grad of grad": (jax.vmap(jax.grad(jax.grad(f))), (x,)),
        }
        if s.gated:  # no scalar derivative (Spec.not_applicable): the gradient of sum(grad)
            programs["grad of grad"] = (
                jax.grad(lambda v: jnp.sum(jax.grad(lambda u: jnp.sum(f(u)))(v))),
                (x,),
            )
        for pname in s.params:  # traced hyperparameters: vmap over them, and their gradients
            vals = np.asarray(
                sorted({p[pname] for p in _param_sets(s)} | {params[pname]}), np.float32
            )
            programs[f"vmap over {pname}"] = (jax.vmap(partial(with_param, pname)), (vals,))
            # one value per element, unless the function takes a scalar only (Spec.not_applicable)
            per_element = "per-element hyperparameters" not in s.not_applicable
            p0 = np.full(x.shape if per_element else (), params[pname], np.float32)
            programs[f"d/d{pname}"] = (
                jax.grad(lambda p, pname=pname: jnp.sum(with_param(pname, p))),
                (p0,),
            )
        try:
            everything = jax.jit(lambda args: {k: programs[k][0](*a) for k, a in args.items()})
            out = everything({k: a for k, (_, a) in programs.items()})
            out = jax.tree_util.tree_map(np.asarray, out)
        except Exception:
            out = {}
            for k, (fn, a) in programs.items():
                with self.guard("transforms", k, dt, params):
                    out[k] = jax.tree_util.tree_map(np.asarray, jax.jit(fn)(*a))

        # the values' floor (Spec.value_floor), the largest over the hyperparameters vmapped over
        vfloor = max(
            (s.value_floor(**s.hyper(p)) for p in [params, *_param_sets(s)] if s.value_floor),
            default=0.0,
        )

        def record(check: str, got: Any, want: np.ndarray, fl: float, what: str) -> None:
            got = np.asarray(got)
            c = compare(got, want, dt, floor=max(fl, vfloor) if what == "value" else fl)
            self.add(
                "transforms",
                check,
                dt,
                params,
                passed=c.passed,
                worst=c.worst,
                limit=F32_ULP,
                unit="ulp",
                detail=_where(np.resize(x, got.size), got, want, c.index, what),
            )

        def offdiag_zero(check: str, m: np.ndarray) -> None:
            off = m[~np.eye(n, dtype=bool)]
            ok = bool(np.all(off == 0))
            self.add(
                "transforms",
                check + " (off-diagonal zero)",
                dt,
                params,
                passed=ok,
                detail="" if ok else f"largest off-diagonal entry {_fmt(np.max(np.abs(off)))}",
            )

        def blocks_diagonal(check: str, m: np.ndarray) -> None:
            # a gated function's Jacobian (n/2, n) is [diag(d/da), diag(d/db)]: output i reads a[i], b[i]
            h = n // 2
            mask = np.tile(np.eye(h, dtype=bool), 2)
            record(check, np.concatenate([np.diag(m[:, :h]), np.diag(m[:, h:])]), dref, floor, what)
            off = m[~mask]
            ok = bool(np.all(off == 0))
            self.add(
                "transforms",
                check + " (off the two diagonal blocks zero)",
                dt,
                params,
                passed=ok,
                detail="" if ok else f"largest other entry {_fmt(np.max(np.abs(off)))}",
            )

        what = "derivative"
        if "jit" in out:
            record("jit", out["jit"], ref, 0.0, "value")
        if "vmap" in out:
            want = np.stack([s.value(r.astype(np.float64), **params) for r in rows])
            record("vmap", out["vmap"], want, 0.0, "value")
        if "jvp" in out:
            record("jvp (primal)", out["jvp"][0], ref, 0.0, "value")
            tangent = dref * t
            if s.gated:  # J t = d/da * ta + d/db * tb
                tangent = tangent.reshape(2, -1).sum(axis=0)
            record("jvp (tangent)", out["jvp"][1], tangent, floor * 4, "tangent")  # t: powers of 2
        for k in ("jacfwd", "jacrev"):
            if k in out and s.gated:
                blocks_diagonal(k, out[k])
            elif k in out:
                record(k, np.diag(out[k]), dref, floor, "derivative")
                offdiag_zero(k, out[k])
        if "hessian" in out and s.gated:
            record("hessian", out["hessian"].reshape(-1), hess.reshape(-1), floor2, "entry")
        elif "hessian" in out:
            record("hessian", np.diag(out["hessian"]), d2ref, floor2, "second derivative")
            offdiag_zero("hessian", out["hessian"])
        if "grad of grad" in out:
            record("grad of grad", out["grad of grad"], d2ref, floor2, "second derivative")
        for pname in s.params:
            k = f"vmap over {pname}"
            if k in out:
                vals = programs[k][1][0]
                want = np.stack([s.value(x64, **{**params, pname: float(v)}) for v in vals])
                record(k, out[k], want, 0.0, "value")
            k = f"d/d{pname}"
            if k in out and "per-element hyperparameters" in s.not_applicable:
                want = _dparam(s, x64, params, pname)
                scale = float(np.sum(np.abs(want)))  # a sum of n terms: ulps of its terms' size
                record(k + " (scalar)", out[k], np.sum(want), max(1.0, scale), k)
            elif k in out:
                want = _dparam(s, x64, params, pname)
                record(k, out[k], want, 1.0, k)
                c = compare(out[k][at_kink], want[at_kink], dt, floor=1.0)
                self.add(
                    "kinks",
                    f"d/d{pname} at the kinks",
                    dt,
                    params,
                    passed=c.passed,
                    detail=_where(x[at_kink], out[k][at_kink], want[at_kink], c.index, k),
                )

        if s.random and s.needs_key:
            self.dropout(params)
        elif s.random:
            self.random(params)

    def dropout(self, params: Mapping[str, float]) -> None:
        """A function that drops units with a key (alpha_dropout): the share kept is 1 - rate to
        within 5 standard deviations, an input of mean 0 and variance 1 keeps them (to 5 standard
        errors), determinism, different keys drawing differently, vmap over keys."""
        s, dt = self.spec, "float32"
        rate = float(params["rate"])
        n = 1 << 16
        with self.guard("transforms", "random (key)", dt, params):
            key, key2 = jax.random.key(0), jax.random.key(1)
            x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
            xj = jnp.asarray(x)
            f = jax.jit(lambda v, k: s.fn(v, **params, key=k))
            y = np.asarray(f(xj, key)).astype(np.float64)
            problems = []
            g = np.asarray(jax.jit(jax.grad(lambda v: jnp.sum(f(v, key))))(xj))
            kept = float(np.mean(g != 0))  # the derivative is 0 exactly where a unit is dropped
            sd = math.sqrt(max(rate * (1 - rate), 1e-12) / n)
            if abs(kept - (1 - rate)) > 5 * sd:
                problems.append(f"kept share {kept:.4f}, expected {1 - rate:.4f} ± {5 * sd:.4f}")
            if abs(y.mean()) > 5 / math.sqrt(n) or abs(y.var() - 1) > 5 * math.sqrt(2 / n) * 2:
                problems.append(f"mean {y.mean():.4f} and variance {y.var():.4f}, not 0 and 1")
            if not np.array_equal(np.asarray(f(xj, key)), y.astype(np.float32)):
                problems.append("same key, different result")
            if rate not in (0.0, 1.0) and np.array_equal(np.asarray(f(xj, key2)), y):
                problems.append("different keys, same result")
            keys = jax.random.split(key, 3)
            batched = np.asarray(jax.jit(jax.vmap(lambda k: s.fn(xj, **params, key=k)))(keys))
            # to the values' accuracy: XLA may contract a x + b into one fused multiply-add in one
            # program and not in the other
            floor = s.value_floor(**s.hyper(params)) if s.value_floor else 0.0
            if not all(
                compare(batched[i], np.asarray(f(xj, keys[i])), dt, floor=floor).passed
                for i in range(3)
            ):
                problems.append("vmap over keys differs from one key at a time")
            self.add(
                "transforms",
                "random (key)",
                dt,
                params,
                passed=not problems,
                detail="; ".join(problems),
            )

    def random(self, params: Mapping[str, float]) -> None:
        """With a key: slopes between the bounds (the hyperparameters), gradient = the drawn slope,
        determinism, different keys drawing differently, vmap over keys."""
        s, dt = self.spec, "float32"
        lo, hi = min(params.values(), default=0.0), max(params.values(), default=0.0)
        x = -np.abs(grid(dt, s.kinks)[:1024].astype(np.float64))
        x = x[np.isfinite(x) & (np.abs(x) > 1e-3) & (np.abs(x) < 1e3)].astype(np.float32)
        x = np.concatenate([x, np.abs(x), np.zeros(4, np.float32)])
        with self.guard("transforms", "random (key)", dt, params):
            key, key2 = jax.random.key(0), jax.random.key(1)
            xj = jnp.asarray(x)
            f = jax.jit(lambda v, k: s.fn(v, **params, key=k))
            y = np.asarray(f(xj, key)).astype(np.float64)
            g = np.asarray(
                jax.jit(jax.grad(lambda v, k: jnp.sum(s.fn(v, **params, key=k))))(xj, key)
            )
            neg, pos, zero = x < 0, x > 0, x == 0
            r = y[neg] / x[neg].astype(np.float64)
            slack = 4 * float(finfo(dt).eps) * max(abs(lo), abs(hi), 1.0)
            problems = []
            if not np.all((r >= lo - slack) & (r <= hi + slack)):
                problems.append(f"slopes outside [{lo:g}, {hi:g}]: {r.min():.6g}..{r.max():.6g}")
            if not np.array_equal(y[pos], x[pos].astype(np.float64)):
                problems.append("positive inputs not passed through")
            c = compare(g[neg], r, dt, floor=max(abs(lo), abs(hi), 1.0))
            if not c.passed:
                problems.append(f"gradient differs from the drawn slope by {c.worst:.3g} ulp")
            if not (
                np.all(g[pos] == 1) and np.all((g[zero] >= lo - slack) & (g[zero] <= hi + slack))
            ):
                problems.append("gradient is not 1 for x > 0 or not a slope at 0")
            if not np.array_equal(np.asarray(f(xj, key)), y.astype(np.float32)):
                problems.append("same key, different result")
            if lo != hi and np.array_equal(np.asarray(f(xj, key2)), y.astype(np.float32)):
                problems.append("different keys, same result")
            keys = jax.random.split(key, 3)
            batched = np.asarray(jax.jit(jax.vmap(lambda k: s.fn(xj, **params, key=k)))(keys))
            if not all(np.array_equal(batched[i], np.asarray(f(xj, keys[i]))) for i in range(3)):
                problems.append("vmap over keys differs from one key at a time")
            self.add(
                "transforms",
                "random (key)",
                dt,
                params,
                passed=not problems,
                detail="; ".join(problems),
            )

    # ---- compiled memory -------------------------------------------------------------------------

    def memory(self) -> None:
        """The compiled backward-pass memory of each kind of rule: concrete default hyperparameters,
        traced ones (the sign unknown at compile time: the masked rule every negative variant uses), a
        PRNG key, and a learned per-channel hyperparameter for a function that requires one."""
        s, fn, params = self.spec, self.spec.fn, dict(self.spec.params)
        batch, width = MEMORY_SHAPE
        limit = MEMORY_MASK
        if s.gated:  # x @ W makes both halves; held to the jax.nn composition on this compiler
            with self.guard("memory", "memory (default)", "float32", params):
                limit = extra_tensors_per_layer(s.baseline, batch=batch, width=width, gated=True)
        cases: list[tuple[str, Callable[..., Any], dict[str, Any], float]] = [
            ("default", lambda z: fn(z, **params), {}, limit)
        ]
        if params:
            hyper = {k: np.float32(v) for k, v in params.items()}
            cases.append(
                (
                    f"traced {', '.join(params)}",
                    lambda z, h: fn(z, **h),
                    {"hyper": hyper},
                    MEMORY_MASK,
                )
            )
        if s.random:
            key = jax.random.key(0)
            cases.append(("key", lambda z: fn(z, **params, key=key), {}, MEMORY_MASK))
        if "precise" in s.static:  # derivatives from x: x is kept
            cases.append(("precise", lambda z: fn(z, **params, precise=True), {}, MEMORY_PRECISE))
        for pname in s.required:  # a required hyperparameter is one meant to be learned
            if "per-element hyperparameters" in s.not_applicable:  # a scalar (alpha_dropout's rate)
                continue
            learned = np.full((width,), params[pname], np.float32)
            cases.append(
                (
                    f"learned {pname}",
                    lambda z, a, pname=pname: fn(z, **{**params, pname: a}),
                    {"learned": learned},
                    MEMORY_LEARNED,
                )
            )
        for label, act, kw, limit in cases:
            with self.guard("memory", f"memory ({label})", "float32", params):
                fig = extra_tensors_per_layer(act, batch=batch, width=width, gated=s.gated, **kw)
                ok = fig <= limit + MEMORY_SLACK
                self.add(
                    "memory",
                    f"memory ({label})",
                    "float32",
                    params,
                    passed=ok,
                    worst=fig,
                    limit=limit,
                    unit="tensors/layer",
                    detail=""
                    if ok
                    else f"the backward pass keeps {fig:.3f} activation-sized tensors per layer",
                )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------


def _x64_scope() -> Callable[[], Any]:
    return lambda: jax.enable_x64(True)  # jax >= 0.8.0; pyproject.toml requires 0.8.2


def _supported(dtype: str, x64: Callable[[], Any]) -> str | None:
    """None if the backend computes in ``dtype``; otherwise why not."""
    scope = x64 if dtype == "float64" else contextlib.nullcontext
    try:
        with scope():
            v = jnp.exp(jnp.arange(4, dtype=dtype))
            v.block_until_ready()
            if str(v.dtype) != dtype:
                return f"computes {v.dtype} instead"
    except Exception as e:  # e.g. no float64 on TPU
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def _environment(device: Any) -> dict[str, Any]:
    try:
        jaxlib = version("jaxlib")
    except Exception:
        jaxlib = "unknown"
    return {
        "backend": device.platform,
        "device": str(getattr(device, "device_kind", device)),
        "devices": jax.device_count(device.platform),
        "jax": jax.__version__,
        "jaxlib": jaxlib,
        "jrelu": __version__,
        "python": platform.python_version(),
        "x64_global": bool(jax.config.read("jax_enable_x64")),
    }


def _function_name(name: Any) -> str:
    """``name`` as a key of :data:`jrelu.FUNCTIONS` (any case, ``-`` or ``_``); ValueError naming
    ``jrelu check`` (this tool, not :func:`jrelu.get`) and the known names otherwise."""
    if not isinstance(name, str):
        raise ValueError(
            f"jrelu check: --fns: a function name is a string, got {type(name).__name__}; valid "
            f"names: {', '.join(_registry.FUNCTIONS)} (see `jrelu list`)."
        )
    return fn_names([name], "check")[0]  # type: ignore[index]


def _validate(
    fns: Sequence[str] | None, backend: str | None, dtypes: Sequence[str] | None
) -> tuple[list[str], Any, list[str]]:
    """The function names, the device and the dtypes to check; ValueError/RuntimeError if unknown."""
    names = (
        list(_registry.FUNCTIONS)
        if not fns
        else list(dict.fromkeys(_function_name(n) for n in fns))
    )
    wanted = list(dtypes) if dtypes else list(DTYPES)
    for d in wanted:
        if d not in DTYPES + FLOAT8:
            raise ValueError(
                f"jrelu check: --dtypes: unknown dtype {d!r}; choose from "
                f"{', '.join(DTYPES + FLOAT8)}."
            )
    device = jax.devices(backend)[0] if backend else jax.devices()[0]
    return names, device, wanted


def check(
    fns: Sequence[str] | None = None,
    *,
    backend: str | None = None,
    dtypes: Sequence[str] | None = None,
    x64: bool = True,
    memory: bool = True,
    transforms: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run every check of ``jrelu check`` on this backend and return a :class:`Report`.

    What is checked, for each function of :data:`jrelu.FUNCTIONS`, each of its registered variants
    and each dtype: values and gradients against the float64 oracle (:func:`reference`; 2 ulp in
    float32/float64, correctly rounded in half precision and float8, judged with :func:`compare` on
    :func:`grid`), the derivative chosen at each kink, NaN and infinities, the transformations (jit,
    vmap, jvp, jacfwd, jacrev, hessian, grad of grad, gradients with respect to the hyperparameters,
    keys), and the backward-pass memory of a compiled training step (:func:`extra_tensors_per_layer`).
    The command line prints the report as a table (``jrelu check``) or writes it as JSON.

    Args:
      fns: function names (default: every function in :data:`jrelu.FUNCTIONS`).
      backend: a JAX platform name (``"cpu"``, ``"gpu"``, ``"tpu"``, ...); default JAX's default.
      dtypes: the float dtypes to check (default: those in :data:`DTYPES` the backend supports).
      x64: check float64 (inside a scoped ``jax.enable_x64(True)``; the global setting is untouched).
      memory: measure the compiled backward-pass memory.
      transforms: check the transformations.
      progress: called with each function's name before it is checked.

    Returns:
      A :class:`Report`; ``report.passed`` says whether everything held.

    Raises:
      ValueError: an unknown function name or dtype (the message names ``jrelu check``, as the
        command's does).
      RuntimeError: an unknown backend.
    """
    start = time.perf_counter()
    names, device, wanted = _validate(fns, backend, dtypes)
    scope = _x64_scope()
    skipped: dict[str, str] = {}
    results: list[Result] = []
    with jax.default_device(device):
        use = []
        for d in wanted:
            why = "skipped (--no-x64)" if d == "float64" and not x64 else _supported(d, scope)
            if why:
                skipped[d] = why
            else:
                use.append(d)
        for name in names:
            if progress:
                progress(name)
            s = _registry.FUNCTIONS[name]
            # a function with no form without a key (alpha_dropout) is checked with a fixed one, its
            # references re-drawing the mask from the same key
            c = _Checker(s.with_key(jax.random.key(0)) if s.needs_key else s, scope)
            for params in _param_sets(c.spec):
                for d in use:
                    c.accuracy(d, params)
                if transforms and "float32" in use:
                    c.transforms(params)
            if memory:
                c.memory()
            results += c.results
    return Report(_environment(device), use, skipped, names, results, time.perf_counter() - start)
