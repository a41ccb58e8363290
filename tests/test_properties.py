"""Property tests (hypothesis): any shape, dtype and hyperparameter, against the float64 reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from conftest import EPS, gated_input, table_spec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jrelu
from jrelu.testing import ulp

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
}


def _params(name: str, draw) -> dict:
    slope = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-6]), st.floats(-5, 5, width=32))
    alpha = st.one_of(st.sampled_from([1e-3, 1.0, 50.0]), st.floats(-3, 3, width=32))
    if name in ("leaky_relu", "prelu"):
        return {"negative_slope": draw(slope)}
    if name == "elu":
        return {"alpha": draw(alpha)}
    if name == "celu":
        return {"alpha": draw(alpha.filter(lambda a: abs(a) > 1e-3))}
    if name == "rrelu":
        lo, hi = sorted([draw(st.floats(-1, 1, width=32)), draw(st.floats(-1, 1, width=32))])
        return {"lower": lo, "upper": hi}
    if name == "alpha_dropout":  # with conftest's key bound (table_spec)
        return {
            "rate": draw(st.one_of(st.sampled_from([0.0, 0.5]), st.floats(0, 0.9375, width=32)))
        }
    return {}


@st.composite
def cases(draw):
    name = draw(st.sampled_from(list(jrelu.FUNCTIONS)))
    dtype = draw(st.sampled_from(list(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=7, min_side=0, max_side=3))
    x = draw(
        hnp.arrays(
            np.float32,
            shape,
            elements=st.floats(-30, 30, width=32, allow_subnormal=False),
        )
    )
    transpose = draw(st.booleans()) and x.ndim >= 2
    if jrelu.FUNCTIONS[name].gated:  # [a, b] along the last axis, the one it splits
        x = gated_input(jrelu.FUNCTIONS[name], x.reshape(x.shape or (1,)))
        transpose = False
    return name, dtype, x, _params(name, draw), transpose


@SETTINGS
@given(cases())
def test_values_shapes_and_dtypes(case):
    name, dtype, x, params, transpose = case
    spec = table_spec(jrelu.FUNCTIONS[name])
    npdt = DTYPES[dtype]
    with jax.enable_x64(dtype == "float64"):
        xj = jnp.asarray(x.astype(npdt))
        if transpose:
            xj = xj.T
        y = spec.fn(xj, **params)
        want = (*xj.shape[:-1], xj.shape[-1] // 2) if spec.gated else xj.shape
        assert y.shape == want and y.dtype == xj.dtype
        x64 = np.asarray(xj).astype(np.float64)
        ref = spec.value(x64, **params)
        y = np.asarray(y).astype(np.float64)
    fin = (
        np.isfinite(ref) & (np.abs(ref) < float(ml_dtypes.finfo(npdt).max)) & (np.abs(ref) > 1e-30)
    )
    # float32 / float64: 2 ulp. Halves: rounded once, so 1 ulp of the result. celu with an unusual
    # alpha is the documented exception (README): alpha * expm1(x / alpha) rounds twice, up to 2.3 ulp
    # for alpha > 0 and up to 6 ulp for alpha < 0 where alpha * e^(x / alpha) nears float max.
    wide = 1.0
    if name == "celu" and npdt in (np.float32, np.float64):
        wide = 1.5 if params["alpha"] > 0 else 3.0
    # alpha_dropout's a x + b cancels near x = -b / a: ulps of max(|f|, b) there (Spec.value_floor).
    floor = spec.value_floor(**params) if spec.value_floor else 0.0
    scale = np.maximum(np.abs(ref[fin]), floor)
    tol = (2.0 if npdt in (np.float32, np.float64) else 1.0) * wide * ulp(scale, npdt)
    assert np.all(np.abs(y[fin] - ref[fin]) <= tol), (x64[fin], y[fin], ref[fin])


@SETTINGS
@given(cases())
def test_gradients_match_the_reference_away_from_kinks(case):
    name, dtype, x, params, _ = case
    spec = table_spec(jrelu.FUNCTIONS[name])
    assume(dtype in ("float32", "float64") and x.size > 0)
    with jax.enable_x64(dtype == "float64"):
        xj = jnp.asarray(x.astype(DTYPES[dtype]))
        _, vjp = jax.vjp(lambda x: spec.fn(x, **params), xj)
        (dx,) = vjp(
            jnp.ones((*xj.shape[:-1], xj.shape[-1] // 2) if spec.gated else xj.shape, xj.dtype)
        )
        dx = np.asarray(dx, np.float64)
    x64 = x.astype(np.float64)
    away = np.all([np.abs(x64 - k) > 1e-3 for k in spec.kinks], axis=0)
    dref = spec.derivative(x64, **params)
    fin = away & np.isfinite(dref) & (np.abs(dref) < 1e30)
    bound = np.maximum(4 * EPS[dtype] * np.abs(dref[fin]), 1e-6)
    assert np.all(np.abs(dx[fin] - dref[fin]) <= bound)
