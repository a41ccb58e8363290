"""PReLU, RReLU and AlphaDropout modules against PyTorch 2.13 (CPU), from committed golden data.

The data (tests/golden/torch_modules.npz, made by tests/golden/make_golden_modules.py) holds PyTorch's
outputs and gradients -- with respect to the input *and the slopes* -- for ``nn.PReLU`` on NCHW input;
here the same numbers must come out of jrelu's modules on NHWC input (and, for linen, on NCHW input with
``axis=1``). Then RReLU's evaluation mode, AlphaDropout's dropped value and affine map, and the moments
AlphaDropout preserves.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jrelu
from jrelu import linen as jl
from jrelu import nnx as jx

GOLDEN = pathlib.Path(__file__).parent / "golden"
META = json.loads((GOLDEN / "torch_modules.json").read_text())


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "torch_modules.npz") as data:
        return {k: data[k] for k in data.files}


def _nhwc(a):
    return np.moveaxis(a, 1, -1) if a.ndim == 4 else a


def _nchw(a):
    return np.moveaxis(a, -1, 1) if a.ndim == 4 else a


# case -> (linen axis, nnx num_channels from the weight's shape, nnx axis); the input is NHWC here.
PRELU = {
    "channels": (-1, lambda w: w.shape[0], -1),
    "shared": (None, lambda w: None, -1),
    "dense": (-1, lambda w: w.shape[0], -1),
    "elements": ((-3, -2, -1), lambda w: (w.shape[1], w.shape[2], w.shape[0]), (-3, -2, -1)),
}


def _weight_nhwc(case, w):
    if case == "shared":
        return w.reshape(())
    if case == "elements":
        return np.moveaxis(w, 0, -1)  # (C, H, W) -> (H, W, C)
    return w


@pytest.mark.parametrize("case", list(PRELU))
@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_prelu_matches_torch(golden, case, api):
    g = {k: golden[f"prelu/{case}/{k}"] for k in ("x", "g", "weight", "y", "dx", "dweight")}
    x, cot = jnp.asarray(_nhwc(g["x"])), jnp.asarray(_nhwc(g["g"]))
    w = jnp.asarray(_weight_nhwc(case, g["weight"]))
    axis, num, nnx_axis = PRELU[case]
    if api == "linen":
        mod = jl.PReLU(axis=axis)
        assert mod.init(jax.random.key(0), x)["params"]["negative_slope"].shape == w.shape

        def f(x, w):
            return mod.apply({"params": {"negative_slope": w}}, x)

        y, pullback = jax.vjp(f, x, w)
        dx, dw = pullback(cot)
    else:
        mod = jx.PReLU(num(g["weight"]), axis=nnx_axis)
        assert mod.negative_slope[...].shape == w.shape
        mod.negative_slope[...] = w
        graphdef, state = nnx.split(mod)
        y, pullback = jax.vjp(lambda x, s: nnx.merge(graphdef, s)(x), x, state)
        dx, ds = pullback(cot)
        dw = ds["negative_slope"][...]
    np.testing.assert_array_equal(_nchw(np.asarray(y)), g["y"])
    np.testing.assert_array_equal(_nchw(np.asarray(dx)), g["dx"])
    # The slope gradient is a sum over the batch (and space): equal up to summation order.
    dw_torch = _weight_nhwc(case, g["dweight"])
    np.testing.assert_allclose(np.asarray(dw), dw_torch, rtol=2e-6, atol=1e-6)


def test_prelu_channels_first_like_torch(golden):
    # linen with axis=1 takes PyTorch's own layout.
    g = {k: golden[f"prelu/channels/{k}"] for k in ("x", "g", "weight", "y", "dx", "dweight")}
    mod = jl.PReLU(axis=1)
    x = jnp.asarray(g["x"])
    assert mod.init(jax.random.key(0), x)["params"]["negative_slope"].shape == (3,)
    y, pullback = jax.vjp(
        lambda x, w: mod.apply({"params": {"negative_slope": w}}, x), x, g["weight"]
    )
    dx, dw = pullback(jnp.asarray(g["g"]))
    np.testing.assert_array_equal(y, g["y"])
    np.testing.assert_array_equal(dx, g["dx"])
    np.testing.assert_allclose(dw, g["dweight"], rtol=2e-6, atol=1e-6)


def test_prelu_default_init_is_torchs(golden):
    x = jnp.ones((2, 3))
    linen = jl.PReLU(axis=-1).init(jax.random.key(0), x)["params"]["negative_slope"]
    np.testing.assert_array_equal(linen, np.broadcast_to(golden["prelu/default_init"], (3,)))
    np.testing.assert_array_equal(jx.PReLU().negative_slope[...], golden["prelu/default_init"][0])
    shared = jl.PReLU().init(jax.random.key(0), x)["params"]["negative_slope"]
    np.testing.assert_array_equal(shared, golden["prelu/default_init"][0])  # torch's PReLU(): one


@pytest.mark.parametrize("case", ["default", "custom", "negative"])
def test_rrelu_eval_matches_torch(golden, case):
    lower, upper = META["cases"][f"rrelu/{case}"]["lower"], META["cases"][f"rrelu/{case}"]["upper"]
    x = jnp.asarray(golden[f"rrelu/{case}/x"])
    lin = jl.RReLU(lower, upper, deterministic=True)
    mod = jx.RReLU(lower, upper)
    mod.eval()
    for f in (lambda x: lin.apply({}, x), mod, lambda x: jrelu.rrelu(x, lower, upper)):
        y, pullback = jax.vjp(f, x)
        (dx,) = pullback(jnp.ones_like(y))
        np.testing.assert_allclose(y, golden[f"rrelu/{case}/y"], rtol=1e-7, atol=0)
        np.testing.assert_allclose(dx, golden[f"rrelu/{case}/dx"], rtol=1e-7, atol=0)


def test_rrelu_training_slopes():
    x = -jnp.ones(20_000)
    lower, upper = 0.1, 0.3
    lin = jl.RReLU(lower, upper, deterministic=False)
    a = -lin.apply({}, x, rngs={"dropout": jax.random.key(0)})
    b = -lin.apply({}, x, rngs={"dropout": jax.random.key(1)})
    for s in (a, b):
        assert float(s.min()) >= lower and float(s.max()) <= upper
        # Uniform on [lower, upper]: mean and spread (5 sigma).
        assert abs(float(s.mean()) - 0.2) < 5 * 0.2 / np.sqrt(12 * 20_000)
        assert float(s.min()) < lower + 1e-3 and float(s.max()) > upper - 1e-3
    assert float(jnp.mean(a != b)) > 0.99  # the rng changes the slopes
    # The gradient is the drawn slope.
    mod = jx.RReLU(lower, upper)
    key = jax.random.key(4)
    y, pullback = jax.vjp(lambda x: mod(x, rngs=key), x)
    (dx,) = pullback(jnp.ones_like(y))
    np.testing.assert_array_equal(dx, -y)


def test_alpha_dropout_constants_match_torch(golden):
    rates = golden["alpha_dropout/rates"]
    for i, rate in enumerate(rates.tolist()):
        key = jax.random.key(i)
        for f in (
            lambda x, rate=rate, key=key: jrelu.alpha_dropout(x, rate, key=key),
            lambda x, rate=rate, key=key: jl.AlphaDropout(rate).apply(
                {}, x, deterministic=False, rng=key
            ),
            lambda x, rate=rate, key=key: jx.AlphaDropout(rate)(x, rngs=key),
        ):
            y0 = np.asarray(f(jnp.zeros(4096)))
            y1 = np.asarray(f(jnp.ones(4096)))
            dropped, kept = y0.min(), y0.max()
            # jrelu rounds the exact value once; PyTorch computes -a*alpha + a*alpha*rate in float32,
            # which cancels: it is within 2 ulp of a*alpha of the exact value.
            sa = jrelu.SELU_SCALE * jrelu.SELU_ALPHA
            exact = -sa * np.sqrt((1 - rate) / (1 + rate * sa**2))
            assert dropped == np.float32(exact)
            a_sa = np.float32(sa / np.sqrt((1 - rate) * (1 + rate * sa**2)))
            atol = 2 * float(np.spacing(a_sa))
            np.testing.assert_allclose(
                dropped, golden["alpha_dropout/dropped"][i], atol=atol, rtol=0
            )
            np.testing.assert_allclose(kept, golden["alpha_dropout/kept_shift"][i], rtol=3e-7)
            scale = y1.max() - kept
            np.testing.assert_allclose(scale, golden["alpha_dropout/kept_scale"][i], rtol=1e-6)
            assert set(np.unique(y0).tolist()) == {float(dropped), float(kept)}


def test_alpha_dropout_keep_fraction(golden):
    n = 2**16
    for i, rate in enumerate(golden["alpha_dropout/rates"].tolist()):
        y = np.asarray(jrelu.alpha_dropout(jnp.zeros(n), rate, key=jax.random.key(100 + i)))
        kept = np.mean(y != y.min())
        sigma = np.sqrt(rate * (1 - rate) / n)
        assert abs(kept - (1 - rate)) < 5 * sigma
        assert abs(golden["alpha_dropout/keep_fraction"][i] - (1 - rate)) < 5 * sigma


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(rate):
    n = 2**20
    key = jax.random.key(11)
    # Any standardised input: the moments depend only on the input's first two.
    normal = jax.random.normal(jax.random.key(1), (n,))
    uniform = (jax.random.uniform(jax.random.key(2), (n,)) - 0.5) * np.sqrt(12.0)
    for x in (normal, uniform):
        y = jrelu.alpha_dropout(x, rate, key=key)
        mean, var = float(jnp.mean(y)), float(jnp.var(y))
        assert abs(mean) < 5 / np.sqrt(n)
        assert abs(var - 1.0) < 5 * np.sqrt(4.0 / n)
    # A plain inverted dropout would not: its variance is 1 / (1 - rate).
    plain = jnp.where(jax.random.bernoulli(key, 1 - rate, (n,)), normal / (1 - rate), 0.0)
    assert float(jnp.var(plain)) > 1.0 + 0.04
