"""A user who runs with strict promotion -- ``jax_numpy_rank_promotion="raise"`` and
``jax_numpy_dtype_promotion="strict"``, as Equinox's tests do -- gets no error from any function, mode
or module, and the values it gets are the float64 references'. conftest.py sets both for the whole suite;
the tests here state it, and hit the paths that used to promote: the packed mask of the masked rules, and
hyperparameters of lower rank than ``x`` (a ``(C,)`` slope on ``(N, C)`` input, PReLU's default layout).
Also: the messages of bad calls that used to name NumPy's internals.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, STRICT, jvp_of_ones, value_and_grad

import jrelu

X = np.linspace(-3.0, 3.0, 6 * 16).reshape(6, 16).astype(np.float32)  # both sides of the kink


def test_suite_runs_strict():
    for name, value in STRICT.items():
        assert getattr(jax.config, name) == value
    with pytest.raises(ValueError, match="rank_promotion"):
        jnp.ones((2, 3)) * jnp.ones(3)  # what jrelu must never do inside
    # TypePromotionError (a ValueError) is not public in jax 0.8 (jax.dtypes has no TypePromotionError there).
    with pytest.raises(ValueError, match="promotion"):
        jnp.ones(3, jnp.float32) + jnp.ones(3, jnp.bfloat16)


def test_subprocesses_run_strict():
    # The sharding workers and CLI runs are subprocesses: they get the settings from the environment.
    code = "import jax; print(jax.config.jax_numpy_rank_promotion, jax.config.jax_numpy_dtype_promotion)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["raise", "strict"]


def _params(spec, params, shape):
    """The variant's hyperparameters as float32 arrays of ``shape`` (``()`` or lower rank than x); its
    options (``precise``: Python bools) as they are."""
    return {k: jnp.full(shape, v, jnp.float32) for k, v in spec.hyper(params).items()}


def _reference(spec, params):
    p = {k: np.float64(v) for k, v in spec.hyper(params).items()}
    return spec.value(X, **p), spec.derivative(X, **p)


@pytest.mark.parametrize(("spec", "params"), CASES)
@pytest.mark.parametrize("pshape", [None, (), (16,), (1, 16)], ids=["python", "0d", "C", "1C"])
def test_every_function_forward_grad_jvp(spec, params, pshape):
    if pshape not in (None, ()) and "per-element hyperparameters" in spec.not_applicable:
        with pytest.raises(TypeError, match="rate must be a real scalar"):  # as the table says
            spec.fn(jnp.asarray(X), **_params(spec, params, pshape))
        return
    opts = {k: v for k, v in params.items() if k in spec.static}  # static: never traced
    fn = functools.partial(spec.fn, **opts)
    p = spec.hyper(params) if pshape is None else _params(spec, params, pshape)
    ref_y, ref_d = _reference(spec, params)
    x = jnp.asarray(X)
    y, d = value_and_grad(fn, x, **p)
    _, t = jax.jvp(lambda x: fn(x, **p), (x,), (jnp.ones_like(x),))
    jy, jd = jax.jit(lambda x, p: value_and_grad(fn, x, **p))(x, p)
    # Derivatives read off the output are accurate to about an ulp of the hyperparameter, absolutely.
    cases = (
        (y, ref_y, 1e-7),
        (d, ref_d, 5e-7),
        (t, jvp_of_ones(spec, ref_d), 5e-7),  # J @ ones (for reglu d/da + d/db)
        (jy, ref_y, 1e-7),
        (jd, ref_d, 5e-7),
    )
    for got, want, atol in cases:
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=2e-6, atol=atol)
    # jax.nn itself promotes ranks (a (C,) slope against (N, C) raises under "raise"): same rank only.
    if spec.baseline_name == "jax.nn" and (pshape is None or len(pshape) in (0, X.ndim)):
        away = np.abs(X) > 1e-3  # jax.nn's kink convention differs for leaky_relu
        np.testing.assert_allclose(y, spec.baseline(x, **p), rtol=2e-6, atol=1e-7)
        bd = jax.grad(lambda x: spec.baseline(x, **p).sum())(x)
        np.testing.assert_allclose(np.asarray(d)[away], np.asarray(bd)[away], rtol=2e-6)
    if (
        p and pshape is not None
    ):  # the gradient with respect to every hyperparameter, against float64
        gp = jax.grad(lambda p: fn(x, **p).sum())(p)
        eps = 1e-3
        for k in p:
            held = {"mask_rate": params[k]} if spec.needs_key else {}  # the mask held fixed
            up = dict(params, **{k: params[k] + eps}, **held)
            dn = dict(params, **{k: params[k] - eps}, **held)
            fd = (spec.value(X, **up) - spec.value(X, **dn)) / (
                2 * eps
            )  # float64 central difference
            want = fd.sum() if pshape == () else fd.sum(axis=0).reshape(pshape)
            assert gp[k].shape == pshape
            np.testing.assert_allclose(np.asarray(gp[k], np.float64), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("spec", "params"), [c for c in CASES if c.values[0].random and not c.values[0].needs_key]
)  # random slopes (rrelu); alpha_dropout's key: tests/test_random.py, test_registry.py, jrelu check
@pytest.mark.parametrize("pshape", [(), (16,)], ids=["0d", "C"])
def test_random_with_key(spec, params, pshape):
    p = _params(spec, params, pshape)
    x = jnp.asarray(X)
    y, d = value_and_grad(lambda x, **p: spec.fn(x, **p, key=jax.random.key(3)), x, **p)
    _, t = jax.jvp(lambda x: spec.fn(x, **p, key=jax.random.key(3)), (x,), (jnp.ones_like(x),))
    neg = X < 0
    slope = np.asarray(y, np.float64)[neg] / X[neg]  # the drawn slopes, in [lower, upper]
    assert np.all(slope >= params["lower"] - 1e-6) and np.all(slope <= params["upper"] + 1e-6)
    np.testing.assert_allclose(np.asarray(y)[~neg], X[~neg])
    np.testing.assert_allclose(np.asarray(d)[neg], slope, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(t), np.asarray(d))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(("spec", "params"), CASES)
def test_half_precision_masked_rules(spec, params, dtype, x64):
    # Half precision computes in float32; with x64 on, no float64 constant may meet a float32 array.
    kw = dict(params, **({"key": jax.random.key(0)} if spec.random else {}))
    x = jnp.asarray(X, dtype)
    for scope in (lambda: jax.enable_x64(False), x64):
        with scope():
            d = jax.grad(lambda x: spec.fn(x, **kw).astype(jnp.float32).sum())(x)
            assert d.dtype == x.dtype
            if not spec.random:
                want = spec.derivative(np.asarray(x, np.float64), **params)
                np.testing.assert_allclose(np.asarray(d, np.float64), want, rtol=1e-2, atol=1e-2)


def test_traced_float64_and_integer_hyperparameters(x64):
    # A traced hyperparameter is cast to x's compute dtype, as a concrete one is (no float32 * float64).
    with x64():
        x = jnp.asarray(X)
        for a in (jnp.float64(-0.5), jnp.int32(2)):
            y = jax.jit(jrelu.elu)(x, a)
            assert y.dtype == jnp.float32
            np.testing.assert_allclose(
                y, jrelu.FUNCTIONS["elu"].value(X, alpha=float(a)), rtol=2e-6
            )


def test_alpha_dropout_strict():
    x = jnp.asarray(X)
    rate = 0.25
    y, d = value_and_grad(lambda x: jrelu.alpha_dropout(x, rate, key=jax.random.key(1)), x)
    scale = 1 / np.sqrt((1 - rate) * (1 + rate * jrelu.SELU_SCALE**2 * jrelu.SELU_ALPHA**2))
    kept = np.asarray(d) != 0
    np.testing.assert_allclose(np.asarray(d)[kept], scale, rtol=1e-6)
    shift = scale * jrelu.SELU_SCALE * jrelu.SELU_ALPHA * rate
    np.testing.assert_allclose(np.asarray(y)[kept], scale * X[kept] + shift, rtol=1e-5, atol=1e-6)
    yb = jrelu.alpha_dropout(x, jnp.float32(rate), key=jax.random.key(1), broadcast_dims=(0,))
    kept_b = np.isclose(np.asarray(yb), scale * X + shift, rtol=1e-5, atol=1e-6)
    assert 0 < kept_b.mean() < 1
    assert np.all(kept_b == kept_b[:1])  # one mask entry per column, shared along axis 0


# --------------------------------------------------------------------------------------------------
# Flax modules, default construction
# --------------------------------------------------------------------------------------------------

STATELESS = [("ReLU", "relu", {}), ("ReLU6", "relu6", {}), ("LeakyReLU", "leaky_relu", {})]
STATELESS += [("ELU", "elu", {}), ("CELU", "celu", {}), ("SELU", "selu", {})]
STATELESS += [("RReLU", "rrelu", {"deterministic": True})]


def _check_module_output(y, dx, fname, slope=None):
    spec = jrelu.FUNCTIONS[fname]
    p = dict(spec.params) if slope is None else {"negative_slope": slope}
    np.testing.assert_allclose(np.asarray(y, np.float64), spec.value(X, **p), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(
        np.asarray(dx, np.float64), spec.derivative(X, **p), rtol=2e-6, atol=1e-7
    )


@pytest.mark.parametrize(("cls", "fname", "kw"), STATELESS, ids=[c for c, _, _ in STATELESS])
def test_linen_modules_default(cls, fname, kw):
    from jrelu import linen as jln

    m = getattr(jln, cls)(**kw)
    x = jnp.asarray(X)
    variables = m.init(jax.random.key(0), x)
    y, vjp = jax.vjp(lambda x: m.apply(variables, x), x)
    _check_module_output(y, vjp(jnp.ones_like(y))[0], fname)


@pytest.mark.parametrize(("cls", "fname", "kw"), STATELESS, ids=[c for c, _, _ in STATELESS])
def test_nnx_modules_default(cls, fname, kw):
    from jrelu import nnx as jnn

    m = getattr(jnn, cls)(**kw)
    x = jnp.asarray(X)
    y, vjp = jax.vjp(m, x)
    _check_module_output(y, vjp(jnp.ones_like(y))[0], fname)


def _prelu_grads(apply, slope):
    """d/dx and d/dslope of sum(prelu(x)), against float64: dslope = sum of x where x <= 0."""
    x = jnp.asarray(X)
    y, vjp = jax.vjp(apply, x, slope)
    dx, ds = vjp(jnp.ones_like(y))
    s = np.broadcast_to(np.asarray(slope, np.float64), X.shape)
    _check_module_output(y, dx, "prelu", slope=s)
    want = np.where(X > 0, 0.0, X.astype(np.float64))
    want = want.sum() if np.ndim(slope) == 0 else want.sum(axis=0)
    np.testing.assert_allclose(np.asarray(ds, np.float64), want, rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"axis": -1}, {"axis": None}], ids=["default", "-1", "None"])
def test_linen_prelu(kw):
    from jrelu import linen as jln

    m = jln.PReLU(**kw)
    variables = m.init(jax.random.key(0), jnp.asarray(X))
    (name,) = variables["params"]
    slope = variables["params"][name]

    def apply(x, s):
        return m.apply({"params": {name: s}}, x)

    _prelu_grads(apply, slope)


@pytest.mark.parametrize("kw", [{}, {"num_channels": 16}], ids=["default", "C"])
def test_nnx_prelu(kw):
    from flax import nnx

    from jrelu import nnx as jnn

    m = jnn.PReLU(**kw)
    graphdef, state = nnx.split(m)
    (slope,) = jax.tree.leaves(state)  # the module's one parameter

    def apply(x, s):
        return nnx.merge(graphdef, jax.tree.map(lambda _: s, state))(x)

    _prelu_grads(apply, slope)


def test_random_modules_train():
    from flax import nnx

    from jrelu import linen as jln
    from jrelu import nnx as jnn

    x = jnp.asarray(X)
    neg = X < 0
    for m, call in (
        (jln.RReLU(), lambda m, x: m.apply({}, x, deterministic=False, rng=jax.random.key(0))),
        (jnn.RReLU(rngs=nnx.Rngs(0)), lambda m, x: m(x, rngs=jax.random.key(0))),
    ):
        y, vjp = jax.vjp(lambda x, m=m, call=call: call(m, x), x)
        (dx,) = vjp(jnp.ones_like(y))
        slope = np.asarray(y, np.float64)[neg] / X[neg]
        assert np.all((slope >= 1 / 8 - 1e-6) & (slope <= 1 / 3 + 1e-6))
        np.testing.assert_allclose(np.asarray(dx)[neg], slope, rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(dx)[~neg], 1.0)
    rate = 0.2
    scale = 1 / np.sqrt((1 - rate) * (1 + rate * (jrelu.SELU_SCALE * jrelu.SELU_ALPHA) ** 2))
    for m, call in (
        (jln.AlphaDropout(rate), lambda m, x: m.apply({}, x, False, jax.random.key(0))),
        (jnn.AlphaDropout(rate), lambda m, x: m(x, rngs=jax.random.key(0))),
    ):
        y, vjp = jax.vjp(lambda x, m=m, call=call: call(m, x), x)
        (dx,) = vjp(jnp.ones_like(y))
        kept = np.asarray(dx) != 0
        assert 0 < kept.mean() < 1
        np.testing.assert_allclose(np.asarray(dx)[kept], scale, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------

XS = jnp.ones((2, 3))
OBJ = np.array([1.0, None], dtype=object)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda: jrelu.leaky_relu(XS, None),
            r"jrelu\.leaky_relu: negative_slope .* got None; pass a",
        ),
        (lambda: jrelu.prelu(XS, negative_slope=None), r"jrelu\.prelu: negative_slope .* got None"),
        (lambda: jrelu.elu(XS, alpha=None), r"jrelu\.elu: alpha must be a real number .* got None"),
        (
            lambda: jrelu.relu(OBJ),
            r"jrelu\.relu: x must be .* got a NumPy array of dtype object .* shape \(2,\); "
            r"convert it",
        ),
        (
            lambda: jrelu.leaky_relu(XS, np.array([0.1, 0.2, None], dtype=object)),
            r"jrelu\.leaky_relu: negative_slope .* got a NumPy array of dtype object",
        ),
        (
            lambda: jrelu.diagnostics.summary(None),
            r"jrelu\.diagnostics\.summary: activations must be an array of real numbers, got None",
        ),
        (
            lambda: jrelu.diagnostics.summary(OBJ),
            r"jrelu\.diagnostics\.summary: activations .* got a NumPy array of dtype object",
        ),
    ],
)
def test_messages_say_what_was_given(call, pattern):
    import jrelu.diagnostics  # noqa: F401

    with pytest.raises(TypeError, match=pattern):
        call()


def test_nnx_modules_take_a_key_at_construction():
    # A key seeds the module's own stream, as nnx.Rngs(key) does: each call draws a fresh key from it.
    from flax import nnx

    from jrelu import nnx as jnn

    x = -jnp.ones(64)
    for cls, args in ((jnn.RReLU, ()), (jnn.AlphaDropout, (0.5,))):
        m = cls(*args, rngs=jax.random.key(0))
        ref = cls(*args, rngs=nnx.Rngs(dropout=jax.random.key(0)))
        a, b = m(x), m(x)
        np.testing.assert_array_equal(a, ref(x))
        assert not np.array_equal(a, b)
    m = jnn.RReLU(rngs=jax.random.PRNGKey(0))  # a legacy key too
    assert np.all((-m(x) >= 1 / 8) & (-m(x) <= 1 / 3))
    with pytest.raises(TypeError, match=r"jrelu\.nnx\.RReLU: rngs must be .* a PRNG key or None"):
        jnn.RReLU(rngs=3)


def test_check_cli_names_itself():
    from jrelu.testing import check

    with pytest.raises(
        ValueError, match=r"jrelu check: --fns: unknown function 'foo'\. Valid names: relu, relu6"
    ):
        check(["foo"], memory=False, transforms=False)
    out = subprocess.run(
        [sys.executable, "-m", "jrelu", "check", "--fns", "foo"], capture_output=True, text=True
    )
    assert out.returncode == 2
    text = " ".join(out.stdout.split())
    assert (
        "jrelu check: --fns: unknown function 'foo'. Valid names: relu, relu6, leaky_relu" in text
    )
    assert "jrelu.get" not in out.stdout + out.stderr
