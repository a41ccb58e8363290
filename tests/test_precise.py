"""``precise=True`` of elu, celu, selu: derivatives computed from x, accurate relative to themselves.

The default rule reads the derivative off the output (``alpha e^x = y + alpha``), accurate to an ulp of
alpha in absolute terms: 0 in float32 for x <= -16.98. The precise rule keeps x instead. Judged here
against references computed independently in ``np.longdouble`` from the closed forms, on a dense grid
that reaches where the derivatives underflow; its memory cost against XLA's compiled figures.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu
from jrelu.testing import (
    correctly_rounded,  # float64 -> half, whatever ml_dtypes does
    extra_tensors_per_layer,
    ulp,  # of the smallest normal below the normal range, of the largest above
)

L = np.longdouble
SELU_ALPHA = L("1.6732632423543772848170429916717")
SELU_SCALE = L("1.0507009873554804934193349852946")

# (function, alpha): alpha = 0.3 and 2.5 make x / alpha inexact (the compensated path of celu).
CASES = [
    ("elu", 1.0),
    ("elu", 0.3),
    ("elu", -0.5),
    ("celu", 1.0),
    ("celu", 0.3),
    ("celu", 2.5),
    ("celu", -1.0),
    ("selu", None),
]
IDS = [f"{n}" + ("" if a is None else f"-{a:g}") for n, a in CASES]


def _fn(name, alpha, precise=True):
    f = getattr(jrelu, name)
    return (
        functools.partial(f, precise=precise)
        if alpha is None
        else (lambda x: f(x, alpha, precise=precise))
    )


def _reference(name, alpha, x, order):
    """f' (order 1) or f'' (order 2) in longdouble, with alpha as the compute dtype holds it, and the
    left-hand value at the kink (jrelu's convention)."""
    x = np.asarray(x).astype(L)
    neg = np.minimum(x, 0)
    if name == "selu":
        d, pos = SELU_SCALE * SELU_ALPHA * np.exp(neg), SELU_SCALE
    elif name == "elu":
        d, pos = alpha * np.exp(neg), L(1)
    else:
        d, pos = np.exp(neg / alpha), L(1)
        d = d if order == 1 else d / alpha
    return np.where(x > 0, pos if order == 1 else L(0), d)


def _ulps(got, want, dtype):
    """|got - want| in ulps of want (of the smallest normal below the normal range: XLA flushes)."""
    fi = np.finfo(dtype)
    got = np.asarray(got).astype(L)
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want) / ulp(want, dtype)
    err[(np.abs(want) < L(float(fi.tiny))) & (got == 0)] = 0.0  # flushed to zero
    over = np.abs(want) > L(float(fi.max))  # overflows: must be the infinity of its sign
    err[over] = np.where(got[over] == np.sign(want[over]) * L(np.inf), 0.0, np.inf)
    return err


def _grid(dtype):
    """400,001 points from below the underflow of e^x (and of e^(x/alpha)) to 10, the kink and its
    neighbours, and -16.98 / -20, where the default derivative is 0 in float32."""
    lo = -110.0 if dtype == np.float32 else -760.0
    extra = [0.0, -0.0, -1e-30, 1e-30, -16.98, -20.0, -100.0]
    return np.concatenate([np.linspace(lo, 10.0, 400_001), extra]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "alpha"), CASES, ids=IDS)
def test_first_and_second_derivative_within_2_ulp_relative(name, alpha, dtype, x64):
    # Measured (CPU, jax 0.10.2), worst of first and second order over these cases: float32 1.27 ulp
    # (selu), float64 1.20 ulp (celu alpha=2.5). The default rule: up to 1.7e7 ulp (float32) and 9e15
    # (float64), 70-98% of the grid over 2 ulp.
    with x64():
        x = _grid(dtype)
        a = None if alpha is None else L(float(dtype(alpha)))
        f = _fn(name, alpha)
        d1 = jax.jit(jax.vmap(jax.grad(f)))(x)
        d2 = jax.jit(jax.vmap(jax.grad(jax.grad(f))))(x)
        for order, got in ((1, d1), (2, d2)):
            assert got.dtype == dtype
            want = _reference(name, a, x, order)
            err = _ulps(got, want, dtype)
            worst = int(np.argmax(err))
            assert err[worst] <= 2.0, (order, x[worst], np.asarray(got)[worst], want[worst])


def test_the_default_rule_is_what_precise_fixes():
    """The premise: the default float32 derivative is 0 far out, where e^x is still a normal number."""
    x = np.float32(-20.0)
    assert float(jax.grad(jrelu.elu)(x)) == 0.0
    want = float(np.exp(L(-20)))  # 2.06e-9
    got = float(jax.grad(lambda v: jrelu.elu(v, precise=True))(x))
    assert abs(got - want) <= 2 * np.spacing(np.float32(want))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(("name", "alpha"), CASES, ids=IDS)
def test_half_precision_is_the_float32_derivative_rounded_once(name, alpha, dtype):
    """Every bit pattern: the derivative (first and second) is the correctly rounded exact one, but
    for a neighbour on at most 0.1% of the inputs (the float32 result is rounded once more)."""
    bits = np.arange(2**16, dtype=np.uint16).view(jnp.dtype(dtype))
    with np.errstate(invalid="ignore"):  # NaN payloads
        x64 = bits.astype(np.float64)
    keep = np.isfinite(x64) & ((x64 == 0) | (np.abs(x64) >= np.finfo(np.float32).tiny))
    x = bits[keep]
    a = None if alpha is None else L(float(np.float32(alpha)))
    f = _fn(name, alpha)
    for order, g in ((1, jax.grad(f)), (2, jax.grad(jax.grad(f)))):
        got = np.asarray(jax.jit(jax.vmap(g))(jnp.asarray(x)))
        assert got.dtype == x.dtype
        with np.errstate(over="ignore"):
            want = correctly_rounded(_reference(name, a, x, order).astype(np.float64), dtype)
        got64 = got.astype(np.float64)
        tiny = np.abs(want) < np.finfo(np.float32).tiny  # flushed in the float32 compute
        finite = np.isfinite(want)
        assert np.array_equal(np.isfinite(got64), finite)
        off = finite & ~tiny & (got64 != want)
        with np.errstate(invalid="ignore", over="ignore"):
            step = np.abs(np.nextafter(want.astype(x.dtype), np.inf).astype(np.float64) - want)
            assert np.all(np.abs(got64 - want)[off] <= step[off]), order
        assert np.count_nonzero(off) <= 1e-3 * x.size, (order, np.count_nonzero(off))


@pytest.mark.parametrize(("name", "alpha"), CASES, ids=IDS)
def test_kink_convention_first_and_second_order(name, alpha):
    """The left-hand values at 0 (and -0.0), as the default rule: elu alpha, alpha; celu 1, 1/alpha;
    selu scale*alpha, scale*alpha. The second derivative is 0 for x > 0."""
    a = np.float32(1.0 if alpha is None else alpha)
    sa = np.float32(SELU_SCALE * SELU_ALPHA)
    want1 = {"elu": a, "celu": np.float32(1), "selu": sa}[name]
    want2 = {"elu": a, "celu": np.float32(1) / a, "selu": sa}[name]
    f = _fn(name, alpha)
    for zero in (0.0, -0.0):
        assert float(jax.grad(f)(np.float32(zero))) == pytest.approx(float(want1), rel=1e-7)
        assert float(jax.grad(jax.grad(f))(np.float32(zero))) == pytest.approx(
            float(want2), rel=2e-7
        )
        assert float(jax.grad(f)(np.float32(zero))) == float(
            jax.grad(_fn(name, alpha, precise=False))(np.float32(zero))
        )
    assert float(jax.grad(jax.grad(f))(np.float32(3.0))) == 0.0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
@pytest.mark.parametrize(("name", "alpha"), CASES, ids=IDS)
def test_no_nan_at_any_order_and_nan_where_x_is_nan(name, alpha, dtype):
    f = _fn(name, alpha)
    alpha = 1.0 if alpha is None else alpha
    big = float(jnp.finfo(dtype).max)
    x = jnp.asarray([-big, -1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 100.0, 1e4, big], dtype)
    g = jax.grad(lambda v: f(v).astype(jnp.float32).sum())
    for d in (g, jax.grad(lambda v: g(v).astype(jnp.float32).sum())):
        out = np.asarray(d(x), np.float64)
        # e^(x/alpha) does overflow for x -> -inf with a negative alpha
        overflows = (name == "celu" and alpha < 0) & (
            np.asarray(x, np.float64) < np.log(float(jnp.finfo(dtype).max)) * alpha
        )
        assert np.all(np.isfinite(out) | overflows), out
    third = jax.grad(jax.grad(jax.grad(lambda v: f(v).astype(jnp.float32))))
    for v in (-1e4, -20.0, 0.0, 20.0):
        third_v = float(third(jnp.asarray(v, dtype)))
        assert np.isfinite(third_v) or (name == "celu" and alpha < 0 and v < 0), (v, third_v)
    assert np.isnan(
        float(jax.grad(lambda v: f(v).astype(jnp.float32))(jnp.asarray(jnp.nan, dtype)))
    )


@pytest.mark.parametrize(("name", "alpha"), CASES, ids=IDS)
def test_zero_derivative_times_infinite_cotangent_is_zero(name, alpha):
    x = jnp.asarray([-1e30, 3.0], jnp.float32)
    if name == "celu" and alpha < 0:
        pytest.skip("e^(x/alpha) is infinite at -1e30 for a negative alpha")
    y, vjp = jax.vjp(_fn(name, alpha), x)
    (dx,) = vjp(jnp.full_like(y, jnp.inf))
    assert float(dx[0]) == 0.0 and float(dx[1]) == np.inf


@pytest.mark.parametrize(("name", "alpha"), [c for c in CASES if c[1] is not None])
def test_gradient_with_respect_to_alpha_is_unchanged(name, alpha):
    """d/dalpha and the mixed second derivative d/dalpha d/dx, against float64 finite differences."""
    x = np.linspace(-8, 3, 45).astype(np.float32)
    f = getattr(jrelu, name)
    ga = jax.grad(lambda a: f(x, a, precise=True).sum())(np.float32(alpha))
    h = 1e-6
    ref = (_reference_value(name, x, alpha + h) - _reference_value(name, x, alpha - h)) / (2 * h)
    assert float(ga) == pytest.approx(float(ref.sum()), rel=1e-5)
    mixed = jax.vmap(jax.grad(jax.grad(lambda v, a: f(v, a, precise=True)), argnums=1), (0, None))
    got = np.asarray(mixed(x, np.float32(alpha)))
    a = L(float(np.float32(alpha)))
    d1 = (_reference(name, a + L(h), x, 1) - _reference(name, a - L(h), x, 1)) / (2 * L(h))
    np.testing.assert_allclose(got, d1.astype(np.float64), rtol=1e-5, atol=1e-7)


def _reference_value(name, x, alpha):
    x = x.astype(np.float64)
    z = np.minimum(x, 0) / (alpha if name == "celu" else 1.0)
    return np.where(x > 0, x, alpha * np.expm1(z))


# --------------------------------------------------------------------------------------------------
# Memory: what precise costs
# --------------------------------------------------------------------------------------------------

SMALL = {"batch": 128, "width": 256}


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
def test_precise_keeps_x_one_tensor_and_still_less_than_jax_nn(name):
    """Extra activation-sized float32 tensors per MLP layer, beyond the identity network (XLA's compiled
    figures). Measured (CPU, jax 0.10.2): default 0.0, precise 1.0 (x), jax.nn 2.0; with a traced alpha
    precise stays 1.0 (no mask: x gives the sign)."""
    f = getattr(jrelu, name)
    default = extra_tensors_per_layer(f, **SMALL)
    precise = extra_tensors_per_layer(functools.partial(f, precise=True), **SMALL)
    peer = extra_tensors_per_layer(getattr(jax.nn, name), **SMALL)
    assert default <= 1e-3, default
    assert precise <= 1 + 1e-3, precise
    assert precise <= peer - 1 + 1e-3, (precise, peer)
    if name != "selu":
        traced = extra_tensors_per_layer(
            lambda z, a: f(z, a, precise=True), hyper=jnp.float32(0.3), **SMALL
        )
        assert traced <= 1 + 1e-3, traced


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
def test_precise_bfloat16_memory_is_no_more_than_the_default(name):
    """bfloat16 MLP: measured 0.516 for default and precise alike (jax.nn: 1.516 elu/selu, 3.516 celu)."""
    f = getattr(jrelu, name)
    kw = dict(SMALL, dtype=jnp.bfloat16)
    default = extra_tensors_per_layer(f, **kw)
    precise = extra_tensors_per_layer(functools.partial(f, precise=True), **kw)
    peer = extra_tensors_per_layer(getattr(jax.nn, name), **kw)
    assert precise <= max(default, 1.0) + 1e-3, (precise, default)
    assert precise <= peer + 1e-3, (precise, peer)


# --------------------------------------------------------------------------------------------------
# The option itself
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
@pytest.mark.parametrize("bad", [1, 0.0, "yes", None, np.bool_(True), jnp.asarray(True)])
def test_precise_must_be_a_python_bool(name, bad):
    f = getattr(jrelu, name)
    with pytest.raises(
        TypeError,
        match=rf"jrelu\.{name}: precise must be a Python bool.*got .*"
        r"pass precise=True or precise=False",
    ):
        f(jnp.ones(3), precise=bad)
    with pytest.raises(TypeError, match=rf"jrelu\.{name}: precise must be a Python bool.*tracer"):
        jax.jit(lambda x, p: f(x, precise=p))(jnp.ones(3), True)
    with pytest.raises(TypeError, match=rf"jrelu\.{name}: precise"):
        jrelu.get(name, precise=bad)


def test_precise_through_get():
    act = jrelu.get("elu", alpha=0.5, precise=True)
    assert repr(act) == "jrelu.get('elu', alpha=0.5, precise=True)"
    assert act == jrelu.get("elu", alpha=0.5, precise=True)
    assert hash(act) == hash(jrelu.get("elu", alpha=0.5, precise=True))
    assert act != jrelu.get("elu", alpha=0.5) and act != jrelu.get("elu", alpha=0.5, precise=False)
    x = np.float32(-20.0)
    want = float(0.5 * np.exp(L(-20)))
    assert float(jax.grad(act)(x)) == pytest.approx(want, rel=2e-7)
    assert float(jax.grad(jrelu.get("selu", precise=True))(x)) > 0
    import pickle

    assert pickle.loads(pickle.dumps(act)) == act
    with pytest.raises(TypeError, match=r"relu takes no parameter 'precise'"):
        jrelu.get("relu", precise=True)


@pytest.mark.parametrize("cls", ["ELU", "CELU", "SELU"])
def test_flax_modules_take_precise(cls):
    from jrelu import linen, nnx

    x = jnp.asarray([-30.0, -20.0, -1.0, 0.0, 2.0])
    fn = {"ELU": jrelu.elu, "CELU": jrelu.celu, "SELU": jrelu.selu}[cls]
    want = jax.grad(lambda v: fn(v, precise=True).sum())(x)
    lin = getattr(linen, cls)(precise=True)
    got_l = jax.grad(lambda v: lin.apply({}, v).sum())(x)
    got_n = jax.grad(lambda v: getattr(nnx, cls)(precise=True)(v).sum())(x)
    np.testing.assert_array_equal(got_l, want)
    np.testing.assert_array_equal(got_n, want)
    assert float(want[0]) > 0  # e^-30 kept, not 0
    for mod, owner in ((linen, "jrelu.linen"), (nnx, "jrelu.nnx")):
        with pytest.raises(TypeError, match=rf"{owner}\.{cls}: precise must be a Python bool"):
            getattr(mod, cls)(precise="yes")
