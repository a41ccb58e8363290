"""jrelu.linen and jrelu.nnx: the same values and gradients as the functions, in both APIs.

Every module is compared with the function it wraps (outputs, input gradients and, for PReLU, slope
gradients must be *equal*, since no formula is written twice), across input dtypes and PReLU's
param_dtype; then shapes, modes, errors and the randomness plumbing (rng collections, .train()/.eval()).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import nnx

import jrelu
from jrelu import linen as jl
from jrelu import nnx as jx
from jrelu.testing import is_subnormal

# The table drives the module lists: every function without learned (required) or random parameters
# has a stateless module in each API (found by the function it wraps); the others are written out.
STATELESS = [name for name, s in jrelu.FUNCTIONS.items() if not s.required and not s.random]
EXPLICIT = {"PReLU": "prelu", "RReLU": "rrelu", "AlphaDropout": "alpha_dropout"}


def _stateless_classes(api):
    """Function name -> the stateless module class that wraps it, in ``api`` (jrelu.linen or .nnx)."""
    return {
        c.function.__name__: c
        for c in vars(api).values()
        if isinstance(c, type) and issubclass(c, api._Stateless) and c is not api._Stateless
    }


STATELESS_CASES = [
    pytest.param(fname, dict(params), dtype, id=f"{fname}-{params}-{dtype.__name__}")
    for fname in STATELESS
    for i, params in enumerate(jrelu.FUNCTIONS[fname].variants)
    for dtype in ((jnp.float32, jnp.bfloat16) if i == 0 else (jnp.float32,))
]


def _x(shape=(3, 4, 5), dtype=jnp.float32, seed=0):
    x = 3 * jax.random.normal(jax.random.key(seed), shape)
    return x.at[..., 0].set(0.0).astype(dtype)  # exact kinks


def _vjp(f, *args):
    """f(*args) and the gradients for a fixed, non-trivial cotangent."""
    y, pullback = jax.vjp(f, *args)
    g = jax.random.normal(jax.random.key(42), y.shape).astype(y.dtype)
    return y, pullback(g)


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))
    assert a.dtype == b.dtype


def test_exports():
    for api in (jl, jx):
        classes = _stateless_classes(api)
        assert sorted(classes) == sorted(STATELESS)  # one stateless module per such function
        names = [c.__name__ for c in classes.values()] + list(EXPLICIT)
        assert sorted(api.__all__) == sorted(names)
        assert all(hasattr(api, n) for n in names)
        for fname, cls in classes.items():
            assert cls.function is jrelu.FUNCTIONS[fname].fn
    assert sorted(jl.__all__) == sorted(jx.__all__)
    # Every function that has no stateless module has an explicit one.
    assert set(jrelu.FUNCTIONS) - set(STATELESS) <= set(EXPLICIT.values())


@pytest.mark.parametrize("fname", STATELESS)
def test_stateless_attributes_are_the_functions_arguments(fname):
    """Names, defaults and kinds (nnx: positional or keyword-only) as the function's own, after x."""
    fn = jrelu.FUNCTIONS[fname].fn
    want = list(inspect.signature(fn).parameters.values())[1:]
    lin = _stateless_classes(jl)[fname]
    fields = [f for f in dataclasses.fields(lin) if f.name not in ("parent", "name")]
    assert [(f.name, f.default) for f in fields] == [(p.name, p.default) for p in want]
    got = list(inspect.signature(_stateless_classes(jx)[fname]).parameters.values())
    assert [(p.name, p.default, p.kind) for p in got] == [(p.name, p.default, p.kind) for p in want]
    mod = _stateless_classes(jx)[fname]()
    assert {p.name: getattr(mod, p.name) for p in want} == {p.name: p.default for p in want}


def test_stateless_module_bodies_are_checked():
    with pytest.raises(TypeError, match=r"^jrelu\.linen\.Bad: the class attributes"):

        class Bad(jl._Stateless):
            function = jrelu.elu
            alpha: float = 2.0  # not elu's default
            precise: bool = False

    with pytest.raises(TypeError, match=r"^jrelu\.nnx\.Bad: the class attributes"):

        class Bad(jx._Stateless):
            function = jrelu.elu
            alpha: float  # precise missing

    with pytest.raises(TypeError, match=r"^jrelu\.nnx\.Bad: function=.* is not a stateless"):

        class Bad(jx._Stateless):
            function = jrelu.prelu
            negative_slope: float


def test_nnx_stateless_arguments_name_the_module():
    with pytest.raises(TypeError, match=r"^jrelu\.nnx\.ELU: too many positional arguments"):
        jx.ELU(1.0, True)
    with pytest.raises(TypeError, match=r"^jrelu\.nnx\.LeakyReLU: .*unexpected keyword.*alpha"):
        jx.LeakyReLU(alpha=0.1)


def test_import_jrelu_and_jrelu_sparse_do_not_import_flax():
    code = (
        "import jrelu, jrelu.sparse, sys; "
        "assert not {'flax', 'optax', 'equinox'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------
# Parity with the functions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fname", "params", "dtype"), STATELESS_CASES)
def test_stateless_parity(fname, params, dtype):
    fn = jrelu.FUNCTIONS[fname].fn
    x = _x((3, 4, 6) if jrelu.FUNCTIONS[fname].gated else (3, 4, 5), dtype=dtype)  # reglu: even
    y, (dx,) = _vjp(lambda x: fn(x, **params), x)
    lin = _stateless_classes(jl)[fname](**params)
    y_l, (dx_l,) = _vjp(lambda x: lin.apply({}, x), x)
    y_n, (dx_n,) = _vjp(_stateless_classes(jx)[fname](**params), x)
    for a, b in ((y_l, y), (y_n, y), (dx_l, dx), (dx_n, dx)):
        _same(a, b)


@pytest.mark.parametrize("params", jrelu.FUNCTIONS["rrelu"].variants, ids=str)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=lambda d: d.__name__)
def test_rrelu_parity(params, dtype):
    x = _x(dtype=dtype)
    key = jax.random.key(7)
    for k in (None, key):  # evaluation, then training with the same key everywhere
        y, (dx,) = _vjp(lambda x, k=k: jrelu.rrelu(x, **params, key=k), x)
        lin, mod = jl.RReLU(**params), jx.RReLU(**params)
        if k is None:
            f_l = lambda x, lin=lin: lin.apply({}, x, deterministic=True)  # noqa: E731
            f_n = lambda x, mod=mod: mod(x, deterministic=True)  # noqa: E731
        else:
            f_l = lambda x, k=k, lin=lin: lin.apply({}, x, deterministic=False, rng=k)  # noqa: E731
            f_n = lambda x, k=k, mod=mod: mod(x, rngs=k)  # noqa: E731
        y_l, (dx_l,) = _vjp(f_l, x)
        y_n, (dx_n,) = _vjp(f_n, x)
        for a, b in ((y_l, y), (y_n, y), (dx_l, dx), (dx_n, dx)):
            _same(a, b)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=lambda d: d.__name__)
def test_alpha_dropout_parity(dtype):
    x = _x(dtype=dtype)
    key = jax.random.key(3)
    y, (dx,) = _vjp(lambda x: jrelu.alpha_dropout(x, 0.3, key=key), x)
    lin = jl.AlphaDropout(0.3)
    y_l, (dx_l,) = _vjp(lambda x: lin.apply({}, x, deterministic=False, rng=key), x)
    mod = jx.AlphaDropout(0.3)
    y_n, (dx_n,) = _vjp(lambda x: mod(x, rngs=key), x)
    for a, b in ((y_l, y), (y_n, y), (dx_l, dx), (dx_n, dx)):
        _same(a, b)


# (layout name, input shape, linen axis, nnx num_channels, nnx axis)
LAYOUTS = [
    ("channels_last", (2, 4, 5, 3), -1, 3, -1),
    ("channels_first", (2, 3, 4, 5), 1, 3, 1),
    ("shared", (2, 4, 5, 3), None, None, -1),
    ("elements", (2, 4, 5, 3), (-3, -2, -1), (4, 5, 3), (-3, -2, -1)),
    ("two_axes_reordered", (2, 4, 5, 3), (-1, 1), (3, 4), (-1, 1)),
]
DTYPES = [  # (input dtype, param_dtype)
    (jnp.float32, jnp.float32),
    (jnp.bfloat16, jnp.float32),
    (jnp.bfloat16, jnp.bfloat16),
    (jnp.float16, jnp.float32),
]


def _broadcast_slope(a, shape, axes):
    """The slope laid out against an input of ``shape``, written independently of jrelu."""
    if axes is None:
        return a
    axes = [ax % len(shape) for ax in ((axes,) if isinstance(axes, int) else axes)]
    order = np.argsort(axes)
    a = jnp.transpose(a, order)
    full = [1] * len(shape)
    for ax in axes:
        full[ax] = shape[ax]
    return a.reshape(full)


PRELU_CASES = [
    pytest.param(*layout, *dtypes, id=f"{layout[0]}-{dtypes[0].__name__}-{dtypes[1].__name__}")
    for layout in LAYOUTS
    for dtypes in (DTYPES if layout[0] == "channels_last" else DTYPES[:2])
]


@pytest.mark.parametrize(
    ("layout", "shape", "axis", "num", "nnx_axis", "dtype", "param_dtype"), PRELU_CASES
)
def test_prelu_parity(layout, shape, axis, num, nnx_axis, dtype, param_dtype):
    x = _x(shape, dtype)
    lin = jl.PReLU(axis=axis, param_dtype=param_dtype)
    params = lin.init(jax.random.key(0), x)["params"]
    slope = params["negative_slope"]
    assert slope.shape == (() if num is None else tuple(np.atleast_1d(num)))
    assert slope.dtype == param_dtype
    # Non-uniform slopes of both signs, so that the layout is actually tested.
    slope = jnp.linspace(-0.5, 0.75, slope.size).reshape(slope.shape).astype(param_dtype)

    mod = jx.PReLU(num, axis=nnx_axis, param_dtype=param_dtype)
    assert mod.negative_slope[...].shape == slope.shape

    mod.negative_slope[...] = slope
    graphdef, state = nnx.split(mod)

    y, (dx, da) = _vjp(lambda x, a: jrelu.prelu(x, _broadcast_slope(a, shape, axis)), x, slope)
    y_l, (dx_l, da_l) = _vjp(lambda x, a: lin.apply({"params": {"negative_slope": a}}, x), x, slope)
    y_n, (dx_n, dstate) = _vjp(lambda x, st: nnx.merge(graphdef, st)(x), x, state)
    da_n = dstate["negative_slope"][...]
    for a, b in ((y_l, y), (y_n, y), (dx_l, dx), (dx_n, dx), (da_l, da), (da_n, da)):
        _same(a, b)
    assert y.dtype == dtype and dx.dtype == dtype and da.dtype == param_dtype


def test_prelu_dtype_attribute():
    x = _x((4, 3), jnp.float32)
    for mod, params in (
        (jl.PReLU(axis=-1, dtype=jnp.bfloat16), None),
        (jx.PReLU(3, dtype=jnp.bfloat16), None),
    ):
        if params is None and isinstance(mod, nn.Module):
            params = mod.init(jax.random.key(0), x)
            y = mod.apply(params, x)
            assert params["params"]["negative_slope"].dtype == jnp.float32
        else:
            y = mod(x)
            assert mod.negative_slope[...].dtype == jnp.float32
        assert y.dtype == jnp.bfloat16
        _same(y, jrelu.prelu(x.astype(jnp.bfloat16), jnp.full(3, 0.25)))


def test_prelu_bf16_uses_float32_slopes():
    # Every bfloat16 x <= 0 with a float32 slope that bfloat16 cannot hold: jrelu rounds once (as
    # PyTorch does for a float32 model autocast to bfloat16); Flax's PReLU rounds the slope first.
    bits = np.arange(0x8000, 0xFF80, dtype=np.uint16)  # -0 ... -max, finite
    x = jnp.asarray(bits.view(ml_dtypes.bfloat16))
    slope = np.float32(0.3)
    ref = (np.asarray(x, np.float64) * np.float64(slope)).astype(ml_dtypes.bfloat16)
    lin = jl.PReLU(axis=None)
    y = lin.apply({"params": {"negative_slope": jnp.asarray(slope)}}, x)
    # XLA on CPU flushes subnormals (see test_golden.py); leave that band out.
    normal = ~is_subnormal(x, ml_dtypes.bfloat16, band=16) & ~is_subnormal(
        ref, ml_dtypes.bfloat16, 16
    )
    mismatches = int(np.sum((np.asarray(y) != ref) & normal))
    flax_y = nn.PReLU().apply({"params": {"negative_slope": jnp.asarray(slope)}}, x)
    flax_mismatches = int(np.sum((np.asarray(flax_y) != ref) & normal))
    assert mismatches == 0
    assert flax_mismatches > 1000  # the comparison has teeth


def test_prelu_initializers():
    x = _x((2, 6))
    init = nn.initializers.uniform(0.5)
    lin = jl.PReLU(axis=-1, negative_slope_init=init)
    a = lin.init(jax.random.key(0), x)["params"]["negative_slope"]
    assert a.shape == (6,) and bool(jnp.all((a >= 0) & (a < 0.5))) and len(set(a.tolist())) == 6
    b = jx.PReLU(6, negative_slope_init=init, rngs=nnx.Rngs(0)).negative_slope[...]
    assert b.shape == (6,) and bool(jnp.all((b >= 0) & (b < 0.5)))
    assert float(
        jl.PReLU(negative_slope_init=-0.1).init(jax.random.key(0), x)["params"]["negative_slope"]
    ) == pytest.approx(-0.1)
    # Flax metadata boxes pass through (sharding annotations).
    boxed = jl.PReLU(axis=-1, negative_slope_init=nn.with_partitioning(init, ("model",)))
    v = boxed.init(jax.random.key(0), x)
    assert v["params"]["negative_slope"].names == ("model",)
    assert boxed.apply(v, x).shape == x.shape
    # The defaults: 0.25 (He et al., PyTorch), not Flax's 0.01.
    assert jx.PReLU().negative_slope[...].item() == 0.25
    assert jl.PReLU(axis=None).init(jax.random.key(0), x)["params"]["negative_slope"].item() == 0.25


def test_prelu_no_argument_constructors_agree_one_shared_slope():
    """linen and nnx PReLU() both learn one shared slope, as Flax's nn.PReLU / nnx.PReLU and PyTorch's
    nn.PReLU() do; per-channel is one argument away (linen axis=-1, nnx num_channels=C)."""
    x = _x((2, 5, 3))
    lin = jl.PReLU().init(jax.random.key(0), x)["params"]["negative_slope"]
    flax_lin = nn.PReLU().init(jax.random.key(0), x)["params"]["negative_slope"]
    assert lin.shape == flax_lin.shape == () == jx.PReLU().negative_slope[...].shape
    assert nnx.PReLU().negative_slope[...].shape == ()
    per_lin = jl.PReLU(axis=-1).init(jax.random.key(0), x)["params"]["negative_slope"]
    assert per_lin.shape == (3,) == jx.PReLU(3).negative_slope[...].shape
    slope = 0.3
    want = np.where(np.asarray(x) > 0, np.asarray(x), slope * np.asarray(x))
    got_lin = jl.PReLU().apply({"params": {"negative_slope": jnp.float32(slope)}}, x)
    mod = jx.PReLU()
    mod.negative_slope[...] = jnp.float32(slope)
    np.testing.assert_allclose(got_lin, want, rtol=1e-6)
    np.testing.assert_allclose(mod(x), want, rtol=1e-6)


def test_prelu_params_from_the_old_default_name_the_change_and_axis():
    """A params tree made by linen PReLU() before 0.2.0 (one slope per channel of the last axis) on
    today's PReLU() (one shared slope) raises, naming the change and axis=-1; with axis=-1 it applies
    as the peer's per-channel jnp.where."""
    x = _x((2, 5, 3))
    old = {"params": {"negative_slope": jnp.asarray([0.25, 0.5, -0.1], jnp.float32)}}
    with pytest.raises(
        ValueError, match=r"changed in jrelu 0\.2\.0.*create the module as PReLU\(axis=-1\)"
    ):
        jl.PReLU().apply(old, x)
    want = jrelu.FUNCTIONS["prelu"].baseline(x, old["params"]["negative_slope"])
    np.testing.assert_array_equal(jl.PReLU(axis=-1).apply(old, x), want)


def test_prelu_negative_axes_survive_batching():
    lin = jl.PReLU(axis=(-3, -2, -1))
    v = lin.init(jax.random.key(0), _x((2, 4, 5, 3)))
    assert lin.apply(v, _x((4, 5, 3))).shape == (4, 5, 3)
    mod = jx.PReLU(3)
    assert mod(_x((3,))).shape == (3,) and mod(_x((2, 7, 3))).shape == (2, 7, 3)


def test_prelu_in_a_jitted_model():
    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(4)(x)
            x = jl.PReLU(axis=-1)(x)
            return jl.PReLU(axis=(-3, -2, -1))(x).mean()

    x = _x((2, 6, 6, 3))
    v = CNN().init(jax.random.key(0), x)
    assert v["params"]["PReLU_0"]["negative_slope"].shape == (4,)
    assert v["params"]["PReLU_1"]["negative_slope"].shape == (6, 6, 4)
    g = jax.jit(jax.grad(lambda v: CNN().apply(v, x)))(v)
    assert g["params"]["PReLU_1"]["negative_slope"].shape == (6, 6, 4)

    model = nnx.Sequential(nnx.Linear(3, 4, rngs=nnx.Rngs(0)), jx.PReLU(4))
    grads = nnx.jit(nnx.grad(lambda m: m(x[0, 0]).sum()))(model)
    assert grads["layers"][1]["negative_slope"].shape == (4,)


# --------------------------------------------------------------------------------------------------
# Random modules: modes and rng plumbing
# --------------------------------------------------------------------------------------------------


def test_linen_rng_collections():
    x = -jnp.ones(64)
    rr = jl.RReLU()
    a = rr.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    b = rr.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    assert not np.array_equal(a, b)
    c = jl.RReLU(rng_collection="noise").apply(
        {}, x, deterministic=False, rngs={"noise": jax.random.key(0)}
    )
    assert c.shape == x.shape
    with pytest.raises(Exception, match="noise"):  # Flax's own error names the missing collection
        jl.RReLU(rng_collection="noise").apply(
            {}, x, deterministic=False, rngs={"dropout": jax.random.key(0)}
        )

    # Two calls in one model draw different keys from the same collection.
    class Two(nn.Module):
        @nn.compact
        def __call__(self, x):
            return jl.RReLU(deterministic=False)(x), jl.AlphaDropout(0.5, deterministic=False)(x)

    y1, y2 = Two().apply({}, x, rngs={"dropout": jax.random.key(0)})
    assert y1.shape == y2.shape == x.shape


def test_nnx_train_eval_view():
    x = -jnp.ones(64)
    for mod in (jx.RReLU(rngs=nnx.Rngs(0)), jx.AlphaDropout(0.5, rngs=nnx.Rngs(0))):
        model = nnx.Sequential(mod)
        a, b = model(x), model(x)
        assert not np.array_equal(a, b)  # the stream advances
        model.eval()
        assert mod.deterministic is True
        e = model(x)
        expected = x if isinstance(mod, jx.AlphaDropout) else jrelu.rrelu(x)
        _same(e, expected)
        model.train()
        assert not np.array_equal(model(x), e)
        view = nnx.view(model, deterministic=True)
        _same(view(x), expected)
        _same(mod(x, deterministic=True), expected)  # the call's flag wins
    # Same seed, same draws.
    _same(jx.RReLU(rngs=nnx.Rngs(3))(x), jx.RReLU(rngs=nnx.Rngs(3))(x))
    # A stream other than "dropout".
    y = jx.AlphaDropout(0.5, rng_collection="noise", rngs=nnx.Rngs(noise=1))(x)
    assert y.shape == x.shape


def test_nnx_rng_state_advances_under_jit():
    model = nnx.Sequential(jx.AlphaDropout(0.5, rngs=nnx.Rngs(0)))
    traces = []

    @nnx.jit
    def f(m, x):
        traces.append(1)
        return m(x)

    x = jnp.zeros(32)
    a, b = f(model, x), f(model, x)
    assert not np.array_equal(a, b)
    assert len(traces) == 1  # a new key does not recompile


def test_alpha_dropout_modes():
    x = _x((4, 8))
    _same(jl.AlphaDropout(0.5, deterministic=True).apply({}, x), x)
    _same(jl.AlphaDropout(0.0).apply({}, x, deterministic=False, rng=jax.random.key(0)), x)
    _same(jrelu.alpha_dropout(x, 0.0, key=jax.random.key(0)), x)
    z = jrelu.alpha_dropout(x, 1.0, key=jax.random.key(0))
    _same(z, jnp.zeros_like(x))
    _same(jax.grad(lambda x: jrelu.alpha_dropout(x, 1.0, key=jax.random.key(0)).sum())(x), z)
    # broadcast_dims: one mask entry per (batch, channel) of NHWC input.
    img = jnp.ones((2, 5, 6, 3))
    y = jx.AlphaDropout(0.5, broadcast_dims=(1, 2), rngs=nnx.Rngs(0))(img)
    assert bool(jnp.all(y == y[:, :1, :1, :])) and len(np.unique(np.asarray(y))) == 2
    # NaN stays NaN, even where dropped; inf is dropped or scaled.
    y = jrelu.alpha_dropout(jnp.full(64, jnp.nan), 0.5, key=jax.random.key(0))
    assert bool(jnp.all(jnp.isnan(y)))


def test_alpha_dropout_gradient_and_traced_rate():
    x = _x((1000,))
    key = jax.random.key(5)
    y, (dx,) = _vjp(lambda x: jrelu.alpha_dropout(x, 0.2, key=key), x)
    g = jax.random.normal(jax.random.key(42), y.shape)
    kept = np.asarray(y) != np.float32(-1.2361598)
    scale = np.float32(1 / np.sqrt(0.8 * (1 + 0.2 * 1.7580993408473766**2)))
    np.testing.assert_allclose(dx, np.where(kept, scale * g, 0.0), rtol=1e-6)
    # jvp works too (custom_jvp rule), and a traced rate does not recompile.
    _, t = jax.jvp(lambda x: jrelu.alpha_dropout(x, 0.2, key=key), (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(t, np.where(kept, scale, 0.0), rtol=1e-6)
    f = jax.jit(lambda x, r: jrelu.alpha_dropout(x, r, key=key))
    _same(f(x, 0.2), y)
    f(x, 0.3)
    assert f._cache_size() == 1


# --------------------------------------------------------------------------------------------------
# Errors: at construction, or at the first call, with the module's name
# --------------------------------------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (
        lambda m: m.LeakyReLU(negative_slope=float("nan")),
        ValueError,
        r"LeakyReLU: negative_slope must be finite",
    ),
    (lambda m: m.LeakyReLU(negative_slope="a"), TypeError, r"LeakyReLU: negative_slope must be"),
    (lambda m: m.ELU(alpha=float("inf")), ValueError, r"ELU: alpha must be finite"),
    (lambda m: m.CELU(alpha=0.0), ValueError, r"CELU: alpha must be nonzero, got 0.0"),
    (lambda m: m.RReLU(0.5, 0.1), ValueError, r"RReLU: lower must be <= upper"),
    (lambda m: m.RReLU(deterministic="yes"), TypeError, r"RReLU: deterministic must be True"),
    (lambda m: m.AlphaDropout(1.5), ValueError, r"AlphaDropout: rate must be in \[0, 1\].*got 1.5"),
    (lambda m: m.AlphaDropout(-0.1), ValueError, r"AlphaDropout: rate must be in \[0, 1\]"),
    (lambda m: m.AlphaDropout("0.5"), TypeError, r"AlphaDropout: rate must be a real number"),
    (lambda m: m.AlphaDropout(0.5, broadcast_dims="x"), TypeError, r"AlphaDropout: broadcast_dims"),
    (
        lambda m: m.PReLU(negative_slope_init=float("nan")),
        ValueError,
        r"PReLU: negative_slope_init must be finite",
    ),
    (lambda m: m.PReLU(negative_slope_init="a"), TypeError, r"PReLU: negative_slope_init must be"),
    (lambda m: m.PReLU(param_dtype=jnp.int32), TypeError, r"PReLU: param_dtype must be a floating"),
    (lambda m: m.PReLU(dtype="foo"), TypeError, r"PReLU: dtype must be a floating"),
    (lambda m: m.PReLU(axis="channels"), TypeError, r"PReLU: axis must be an int"),
]


@pytest.mark.parametrize("api", [jl, jx], ids=["linen", "nnx"])
@pytest.mark.parametrize(("make", "exc", "match"), CONSTRUCTION_ERRORS)
def test_construction_errors(api, make, exc, match):
    with pytest.raises(exc, match=rf"^jrelu\.{api.__name__.split('.')[-1]}\.{match}"):
        make(api)


def test_nnx_prelu_errors():
    with pytest.raises(ValueError, match=r"jrelu.nnx.PReLU: num_channels=\(4, 3\) gives 2 size"):
        jx.PReLU((4, 3))
    with pytest.raises(ValueError, match=r"num_channels must be positive"):
        jx.PReLU(0)
    with pytest.raises(TypeError, match=r"num_channels must be None"):
        jx.PReLU(3.0)
    with pytest.raises(ValueError, match=r"needs the axis it runs along"):
        jx.PReLU(3, axis=None)
    with pytest.raises(TypeError, match=r"initializer, which needs a key; pass rngs="):
        jx.PReLU(3, negative_slope_init=nn.initializers.uniform())


def test_call_errors():
    x = _x((2, 5))
    # The channel axis does not match the slopes: both shapes in the message.
    v = jl.PReLU(axis=-1).init(jax.random.key(0), _x((2, 3)))
    msg = r"jrelu.linen.PReLU: input of shape \(2, 5\) has sizes \(5,\) on axis=-1, but the slopes have shape \(3,\)"
    with pytest.raises(ValueError, match=msg):
        jl.PReLU(axis=-1).apply(v, x)
    with pytest.raises(ValueError, match=msg.replace("linen", "nnx")):
        jx.PReLU(3)(x)
    # NCHW input to a channels-last module (PyTorch's layout): the message names the module to
    # create, as jrelu.prelu's names axis=1 -- and that module applies the same slopes there.
    nchw = _x((2, 3, 4, 5))
    for module, make in (
        (lambda: jx.PReLU(3)(nchw), "PReLU(3, axis=1)"),
        (lambda: jl.PReLU(axis=-1).apply(v, nchw), "PReLU(axis=1)"),
    ):
        with pytest.raises(ValueError, match=rf"axis 1 has 3 entries: .* as {re.escape(make)}\."):
            module()
    want = jnp.where(nchw > 0, nchw, 0.25 * nchw)  # every slope starts at 0.25
    np.testing.assert_array_equal(jl.PReLU(axis=1).apply(v, nchw), want)
    np.testing.assert_array_equal(jx.PReLU(3, axis=1)(nchw), want)
    with pytest.raises(
        ValueError, match=r"jrelu.linen.PReLU: axis 2 is out of range for an input with 2"
    ):
        jl.PReLU(axis=2).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"names the same input axis twice"):
        jl.PReLU(axis=(1, -1)).init(jax.random.key(0), x)
    # Input errors name the module, not the function.
    with pytest.raises(TypeError, match=r"^jrelu.nnx.ELU: x has integer dtype int32"):
        jx.ELU()(jnp.ones(3, jnp.int32))
    with pytest.raises(TypeError, match=r"^jrelu.linen.AlphaDropout: x has integer dtype"):
        jl.AlphaDropout(0.5).apply({}, jnp.ones(3, jnp.int32), deterministic=True)
    with pytest.raises(
        ValueError, match=r"^jrelu.nnx.AlphaDropout: broadcast_dims \(3,\) is out of range"
    ):
        jx.AlphaDropout(0.5, broadcast_dims=(3,), rngs=nnx.Rngs(0))(x)
    # Randomness: no mode, both modes, no rngs.
    with pytest.raises(ValueError, match=r"^jrelu.linen.RReLU: deterministic is not set"):
        jl.RReLU().apply({}, x)
    with pytest.raises(
        ValueError, match=r"^jrelu.linen.AlphaDropout: deterministic was given both"
    ):
        jl.AlphaDropout(0.5, deterministic=True).apply({}, x, deterministic=False)
    with pytest.raises(ValueError, match=r"^jrelu.nnx.RReLU: deterministic is False but no rngs"):
        jx.RReLU()(x)
    with pytest.raises(TypeError, match=r"^jrelu.nnx.AlphaDropout: rngs must be"):
        jx.AlphaDropout(0.5, rngs=0)
    # The function's own checks.
    with pytest.raises(TypeError, match=r"^jrelu.alpha_dropout: key must be a PRNG key"):
        jrelu.alpha_dropout(x, 0.5, key=0)
    with pytest.raises(ValueError, match=r"^jrelu.alpha_dropout: rate must be in \[0, 1\]"):
        jrelu.alpha_dropout(x, float("nan"), key=jax.random.key(0))
