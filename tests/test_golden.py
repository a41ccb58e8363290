"""Values and reverse-mode gradients against PyTorch 2.13 (CPU), from committed golden data.

The data (tests/golden/, made by tests/golden/make_golden.py) covers every function with several
hyperparameters, in float32 and float64 on a grid with the special points, and in float16 and bfloat16 on
*every* representable value in [-8, 8]. Documented, deliberate differences from PyTorch are excluded by
name below and checked separately in test_kinks.py:

* a NaN input that reaches the loss gets a NaN gradient here (PyTorch gives 0, 1 or the slope,
  depending on the kernel); a masked-out one gets 0 (tests/test_nan_masking.py);
* leaky_relu with slope 0 at x = -inf gives 0 here (PyTorch: 0 * -inf = NaN);
* subnormal inputs and outputs: XLA on CPU flushes them to zero (PyTorch keeps them); inputs and outputs
  within a factor 16 of the smallest normal number are left out, since x / alpha or slope * x may be
  subnormal there before rounding;
* squared_relu where x**2 overflows: jrelu reads the derivative off the (infinite) output, so it is inf
  there (documented); PyTorch's is the finite 2 x. Checked separately below (inf exactly there);
* reglu (``a, b = x.chunk(2, axis)``, rows of (a, b) pairs): where the output is NaN (a NaN half, or
  inf * 0) jrelu's gradient is NaN in both halves of the pair (its keep-NaN rule), PyTorch's per half;
  those pairs are left out of the gradient comparison (their values, NaN, are compared).
"""

from __future__ import annotations

import json
import pathlib

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from conftest import EPS, HALF, value_and_grad

import jrelu
from jrelu.testing import is_subnormal, ulp

GOLDEN = pathlib.Path(__file__).parent / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text())
DTYPES = ["float32", "float64", "float16", "bfloat16"]
NP_DTYPE = {"float32": np.float32, "float64": np.float64, **HALF}


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "torch_golden.npz") as data:
        yield {k: data[k] for k in data.files}


def _load(golden, case, dtype):
    key = f"{case['case']}/{dtype}"
    arrays = {k: golden[f"{key}/{k}"] for k in ("x", "y", "dx") if f"{key}/{k}" in golden}
    if dtype == "bfloat16":
        arrays = {k: v.view(ml_dtypes.bfloat16) for k, v in arrays.items()}
    params = dict(case["params"])
    if case["fn"] == "prelu":
        slope = golden[f"{key}/slope"]  # the slope exactly as torch used it (rounded to dtype)
        params["negative_slope"] = slope.view(ml_dtypes.bfloat16) if dtype == "bfloat16" else slope
        if slope.shape == (1,):
            params["negative_slope"] = params["negative_slope"].reshape(())
    return arrays, params


def _excluded(case, x, y_torch, dtype):
    """Inputs where jrelu deliberately differs (see the module docstring)."""
    x = np.asarray(x, np.float64)
    # The subnormal band: a subnormal input, or an output (or x / alpha) that is subnormal before
    # rounding -- within a factor 16 of the smallest normal number.
    out = (
        np.isnan(x)
        | is_subnormal(x, NP_DTYPE[dtype], band=16)
        | is_subnormal(y_torch, NP_DTYPE[dtype], band=16)
    )
    if case["fn"] == "leaky_relu" and case["params"]["negative_slope"] == 0:
        out |= np.isneginf(x)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_matches_pytorch(golden, case, dtype, x64):
    arrays, params = _load(golden, case, dtype)
    fn = jrelu.FUNCTIONS[case["fn"]].fn
    with x64():
        y, dx = value_and_grad(fn, jnp.asarray(arrays["x"]), **params)
        assert y.dtype == arrays["x"].dtype and dx.dtype == arrays["x"].dtype
        y, dx = np.asarray(y, np.float64), np.asarray(dx, np.float64)
    y_t, dx_t = arrays["y"].astype(np.float64), arrays["dx"].astype(np.float64)
    x_in = np.asarray(arrays["x"], np.float64)
    if case["fn"] == "reglu":  # a pair is left out if either of its inputs is
        axis = case["params"]["axis"]
        keep = ~np.logical_or(*np.split(_excluded(case, x_in, x_in, dtype), 2, axis=axis))
        keep &= ~is_subnormal(y_t, NP_DTYPE[dtype], band=16)
        gkeep = np.concatenate([keep & ~np.isnan(y_t)] * 2, axis=axis)
    else:
        keep = ~_excluded(case, x_in, y_t, dtype)
        gkeep = keep.copy()
        if case["fn"] == "squared_relu":  # the derivative read off an overflowing output
            over = keep & np.isinf(y_t) & np.isfinite(x_in)
            assert np.all(np.isposinf(dx[over])), "squared_relu: finite gradient at an inf output"
            gkeep &= ~over
    dx, dx_t, gx = dx[gkeep], dx_t[gkeep], x_in[gkeep]
    y, y_t = y[keep], y_t[keep]
    same_nan = np.isnan(y) == np.isnan(y_t)
    assert same_nan.all(), "NaN outputs differ from PyTorch"
    fin = np.isfinite(y_t)
    assert np.array_equal(y[~fin & ~np.isnan(y_t)], y_t[~fin & ~np.isnan(y_t)]), (
        "infinite outputs differ"
    )

    if dtype in HALF:
        # Computed in float32 and rounded once: bit for bit with PyTorch's CPU half kernels.
        equal = (y == y_t) | (np.isnan(y) & np.isnan(y_t))
        assert equal.mean() >= 0.999, f"only {equal.mean():.4%} bit-equal to PyTorch"
        assert np.all(np.abs(y[fin] - y_t[fin]) <= ulp(y_t[fin], NP_DTYPE[dtype])), "over 1 ulp"
        # Gradients of the exponential family are read off the rounded output: allow 2 ulp of
        # max(1, |alpha|) absolute (documented in the README); the others are exact.
        scale = max(1.0, abs(float(np.max(np.abs(case["params"].get("alpha", 1.0))))))
        tol = 2 * EPS[dtype] * scale
    else:
        err = np.abs(y[fin] - y_t[fin])
        assert np.all(err <= 2 * ulp(y_t[fin], NP_DTYPE[dtype])), f"value off by {err.max()}"
        tol = 1e-6 if dtype == "float32" else 1e-12
    same = (dx == dx_t) | (np.isnan(dx) & np.isnan(dx_t))
    gerr = np.abs(np.where(same, 0.0, dx) - np.where(same, 0.0, dx_t))
    bound = tol + 2 * EPS[dtype] * np.abs(dx_t)
    bad = ~(gerr <= bound)
    assert not bad.any(), (
        f"gradient mismatches at x={gx[bad][:5]}: {dx[bad][:5]} vs {dx_t[bad][:5]}"
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [c for c in CASES if c["fn"] == "prelu"], ids=lambda c: c["case"])
def test_prelu_slope_gradient_matches_pytorch(golden, case, dtype, x64):
    arrays, params = _load(golden, case, dtype)
    key = f"{case['case']}/{dtype}"
    subset = golden[f"{key}/subset"]
    want = golden[f"{key}/dslope_subset"].astype(np.float64)
    slope = params.pop("negative_slope")
    with x64():
        import jax

        x = jnp.asarray(arrays["x"][subset])
        got = jax.grad(lambda a: jrelu.prelu(x, a).sum())(jnp.asarray(slope))
    got = np.asarray(got, np.float64).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)
