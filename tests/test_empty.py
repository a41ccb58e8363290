"""Zero-size arrays: every function, every rule (constant, negative and traced hyperparameters, keys),
any zero-size axis -- values, grad, jvp, hessian and the hyperparameters' gradients -- against the peer
formulation, which returns empty results of the same shapes and dtypes and a zero gradient for a
hyperparameter that met no element; and the modules on an empty batch."""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, KEY
from flax import nnx

from jrelu import equinox as jeqx
from jrelu import linen as jlinen
from jrelu import nnx as jnnx

# A zero-size leading axis (the empty batch), middle axis and last axis (the one the mask packs along).
SHAPES = [(0, 6), (2, 0, 4), (2, 3, 0)]


def _programs(f, hyper):
    """What is compared: the value, grad, jvp and hessian in x, and the gradient in each hyperparameter,
    for each shape; traced and lowered as one program (shapes and dtypes from the lowering, nothing
    compiled), and the hyperparameters' gradients run."""

    def run(hyper):
        out = {}
        for shape in SHAPES:
            x = jnp.zeros(shape, jnp.float32)
            out[shape] = {
                "value": f(x, hyper),
                "grad": jax.grad(lambda v: f(v, hyper).sum())(x),
                "jvp": jax.jvp(lambda v: f(v, hyper), (x,), (x,))[1],
                "hessian": jax.hessian(lambda v: f(v, hyper).sum())(x),
            }
        return out

    def dh(hyper):
        return {
            s: jax.grad(lambda h, s=s: f(jnp.zeros(s, jnp.float32), h).sum())(hyper) for s in SHAPES
        }

    out = jax.jit(run).lower(hyper).out_info
    grads = jax.jit(dh)(hyper) if hyper else {s: {} for s in SHAPES}
    return {s: {**out[s], "dh": grads[s]} for s in SHAPES}


def _cases():
    for param in CASES:
        spec, params = param.values
        yield pytest.param(spec, params, False, id=param.id)
        if spec.random and not spec.needs_key:
            yield pytest.param(spec, params, True, id=param.id + "-key")


@pytest.mark.parametrize(("spec", "params", "with_key"), list(_cases()))
def test_empty_arrays_as_the_peer(spec, params, with_key):
    """Hyperparameters as arrays (the masked rules: a jax.Array slope is never read on the host),
    then as the variant's numbers; every output's shape and dtype, and the hyperparameters' gradients
    (0: nothing met them), equal to the peer's."""
    hyper = spec.hyper(params)
    static = {k: v for k, v in params.items() if k not in hyper}
    kw = {"key": KEY} if with_key else {}

    def ours(x, h):
        return spec.fn(x, **h, **static, **kw)

    if (
        spec.needs_key
    ):  # the peer draws with jax.random (another mask; shapes and zeros are what count)
        peer_fn = spec.train_baseline
        h_peer = {}
        peer = lambda x, h: peer_fn(x, KEY, **hyper)  # noqa: E731
    elif with_key:
        peer_fn = spec.train_baseline
        h_peer = {k: jnp.float32(v) for k, v in hyper.items()}
        peer = lambda x, h: peer_fn(x, KEY, **h)  # noqa: E731
    else:
        h_peer = {k: jnp.float32(v) for k, v in hyper.items()}
        peer = lambda x, h: spec.baseline(x, **h)  # noqa: E731
    want = _programs(peer, h_peer)
    arrays = {k: jnp.float32(v) for k, v in hyper.items()}
    constant = lambda x, h: spec.fn(x, **hyper, **static, **kw)  # noqa: E731
    for f, h in ((ours, arrays), (constant, {})):
        got = _programs(f, h)
        for shape in SHAPES:
            for what in ("value", "grad", "jvp", "hessian"):
                a, b = got[shape][what], want[shape][what]
                assert (a.shape, a.dtype) == (b.shape, b.dtype), (shape, what)
            for name, g in got[shape]["dh"].items():
                assert g.dtype == jnp.float32 and float(g) == 0.0, (shape, name)
                if name in want[shape]["dh"]:
                    assert float(want[shape]["dh"][name]) == 0.0
    # The reported case, eagerly: the gradient of a masked rule (a negative, or array, slope).
    x = jnp.zeros((0, 6), jnp.float32)
    g = jax.grad(lambda v: ours(v, arrays).sum())(x)
    assert g.shape == x.shape and g.dtype == x.dtype


def _keys():
    return {"params": jax.random.key(0), "dropout": jax.random.key(1), "rrelu": jax.random.key(2)}


@pytest.mark.parametrize("shape", [(0, 6), (2, 0, 6)])
def test_modules_on_an_empty_batch_as_flax(shape):
    """PReLU (per channel and shared), RReLU and AlphaDropout in training mode, in nnx, linen and
    Equinox: the output's shape and the slope's gradient (0) as Flax's own PReLU gives them."""
    x = jnp.zeros(shape, jnp.float32)
    ref = nn.PReLU()
    ref_vars = ref.init(_keys(), x)
    want = jax.grad(lambda v: ref.apply(v, x).sum())(ref_vars)["params"]["negative_slope"]
    assert float(want) == 0.0 and ref.apply(ref_vars, x).shape == shape

    for module in (jnnx.PReLU(6), jnnx.PReLU()):
        grads = nnx.grad(lambda m: m(x).sum())(module)
        np.testing.assert_array_equal(
            grads.negative_slope[...], np.zeros_like(module.negative_slope)
        )
        assert module(x).shape == shape
    for module in (jnnx.RReLU(rngs=nnx.Rngs(0)), jnnx.AlphaDropout(0.2, rngs=nnx.Rngs(0))):
        assert module(x).shape == shape
    for module in (jlinen.PReLU(axis=-1), jlinen.PReLU()):
        variables = module.init(_keys(), x)
        g = jax.grad(lambda v, m=module: m.apply(v, x).sum())(variables)["params"]["negative_slope"]
        np.testing.assert_array_equal(g, np.zeros_like(g))
        assert module.apply(variables, x).shape == shape
    for module in (
        jlinen.RReLU(deterministic=False),
        jlinen.AlphaDropout(0.2, deterministic=False),
    ):
        variables = module.init(_keys(), x)
        assert module.apply(variables, x, rngs=_keys()).shape == shape
    for module in (jeqx.PReLU(), jeqx.PReLU(6, axis=-1)):
        g = eqx.filter_grad(lambda m: m(x).sum())(module).negative_slope
        np.testing.assert_array_equal(g, np.zeros_like(g))
    for module in (jeqx.RReLU(), jeqx.AlphaDropout(0.2)):
        assert module(x, key=jax.random.key(3)).shape == shape
