"""NaN semantics that do not break masking.

The rule, the twin of "a zero derivative times an infinite cotangent is 0": **a zero cotangent
contributes zero**. A NaN input at a position the loss never sees (masked out, padding) leaves the
gradient of that finite loss finite -- what ``jax.nn`` gives; a NaN the loss does see still gives a NaN
gradient, exactly at its position. In forward mode a zero tangent gives a zero output tangent.

References: the float64 NumPy derivatives of the registry, ``jax.nn``, finite differences of the
float64 derivative, and (for the random rules, whose slopes only jrelu knows) the gradient of the same
loss with the masked-out NaN replaced by a finite number: the loss does not see that position, so the
gradient must not change.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES

import jrelu

N = 64
NAN_AT = (5, 17, 40)  # positions holding a NaN


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal inputs (away from the kinks) with NaN at NAN_AT, and the mask that hides them."""
    x = np.random.default_rng(seed).normal(size=N)
    x = np.where(np.abs(x) < 1e-2, 0.5, x)  # keep clear of the kink at 0 (conventions differ)
    x[list(NAN_AT)] = np.nan
    return x, ~np.isnan(x)


def _clean(x: np.ndarray) -> np.ndarray:
    """The same input with every NaN replaced by a finite number the loss does not see either."""
    return np.where(np.isnan(x), 0.75, x)


def _fn(spec, params, with_key: bool):
    kw = {"key": jax.random.key(3)} if with_key else {}
    return functools.partial(spec.fn, **params, **kw)


MODES = [
    pytest.param(spec, params, with_key, id=f"{p.id}{'-key' if with_key else ''}")
    for p in CASES
    for spec, params in [p.values]
    for with_key in ((False, True) if spec.random else (False,))
    if not spec.gated  # reglu's pairs: tested below with a mask per pair, and by jrelu check
]

# The functions outside FUNCTIONS, as f(x) on a 1-D input of even length.
EXTRA = {
    "squared_relu": jrelu.squared_relu,
    "reglu": jrelu.reglu,
    "alpha_dropout": lambda x: jrelu.alpha_dropout(x, 0.3, key=jax.random.key(4)),
}


def _masked_loss(f, mask):
    m = jnp.asarray(mask)
    return lambda x, b: jnp.sum(jnp.where(m[: f(x).shape[0]], f(x + b), 0.0))


# --------------------------------------------------------------------------------------------------
# The example: a masked-out NaN, d/db
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "params", "with_key"), MODES)
def test_masked_nan_leaves_the_gradient_finite_and_right(spec, params, with_key):
    x, mask = _inputs()
    f = _fn(spec, params, with_key)
    loss = _masked_loss(f, mask)
    b = jnp.float32(0.1)
    gx, gb = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x, jnp.float32), b)
    gx, gb = np.asarray(gx, np.float64), float(gb)
    assert np.isfinite(gx).all() and np.isfinite(gb)
    np.testing.assert_array_equal(gx[~mask], 0.0)  # the hidden positions contribute nothing
    # The gradient does not depend on what the loss does not see.
    gx_clean, gb_clean = jax.grad(loss, argnums=(0, 1))(jnp.asarray(_clean(x), jnp.float32), b)
    np.testing.assert_array_equal(gx, np.asarray(gx_clean))
    assert gb == float(gb_clean)
    if not with_key:  # and it is the float64 derivative
        xb = np.asarray(jnp.asarray(x, jnp.float32) + b, np.float64)
        d = spec.derivative(xb, **params)
        np.testing.assert_allclose(gx[mask], d[mask], rtol=2e-6, atol=0)
        np.testing.assert_allclose(gb, d[mask].sum(), rtol=1e-5)


@pytest.mark.parametrize(
    "spec",
    [s for s in jrelu.FUNCTIONS.values() if s.baseline_name == "jax.nn" and not s.gated],
    ids=lambda s: s.name,
)
def test_masked_nan_gradient_equals_jax_nn(spec):
    """jax.nn's gradient of the same masked loss at the input with its hidden NaN replaced by a finite
    number (jax.nn's own elu, celu and selu give NaN at the NaN input itself: the untaken branch's
    exp(NaN) times the select's zero cotangent; its relu, relu6 and leaky_relu give this value)."""
    x, mask = _inputs(1)
    ours = jax.grad(_masked_loss(functools.partial(spec.fn, **spec.params), mask), argnums=1)
    peer = jax.grad(_masked_loss(functools.partial(spec.baseline, **spec.params), mask), argnums=1)
    got = float(ours(jnp.asarray(x, jnp.float32), jnp.float32(0.1)))
    want = float(peer(jnp.asarray(_clean(x), jnp.float32), jnp.float32(0.1)))
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("name", list(EXTRA))
def test_masked_nan_in_the_other_rules(name):
    f = EXTRA[name]
    x, mask = _inputs(2)
    if name == "reglu":  # NaN in both halves: the value half a (5, 17) and the gate half b (8, 3)
        x[N // 2 + 3] = np.nan
        mask = ~np.any(np.isnan(np.split(x, 2)), axis=0)
    loss = _masked_loss(f, mask)
    b = jnp.float32(0.1)
    gx, gb = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x, jnp.float32), b)
    assert np.isfinite(np.asarray(gx)).all() and np.isfinite(float(gb))
    gx_clean, gb_clean = jax.grad(loss, argnums=(0, 1))(jnp.asarray(_clean(x), jnp.float32), b)
    np.testing.assert_array_equal(np.asarray(gx), np.asarray(gx_clean))
    assert float(gb) == float(gb_clean)
    xb = np.asarray(jnp.asarray(_clean(x), jnp.float32) + b, np.float64)
    if name == "squared_relu":
        np.testing.assert_allclose(gx, np.where(mask, 2 * np.maximum(xb, 0), 0.0), rtol=2e-6)
    if name == "reglu":
        a, g = np.split(xb, 2)
        want = np.concatenate([np.maximum(g, 0) * mask, a * (g > 0) * mask])
        np.testing.assert_allclose(gx, want, rtol=2e-6)


# --------------------------------------------------------------------------------------------------
# A NaN the loss sees still gives NaN, exactly at its position
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize(("spec", "params", "with_key"), MODES)
def test_seen_nan_gives_nan_exactly_at_its_position(spec, params, with_key, dtype):
    x, mask = _inputs(3)
    f = _fn(spec, params, with_key)
    xj = jnp.asarray(x, dtype)
    g = np.asarray(jax.grad(lambda v: jnp.sum(f(v).astype(jnp.float32)))(xj), np.float64)
    # alpha_dropout's derivative reads neither x nor y: finite at a NaN (Spec.not_applicable)
    np.testing.assert_array_equal(np.isnan(g), ~mask & ("NaN gradient" not in spec.not_applicable))
    if not with_key:
        d = spec.derivative(np.asarray(xj, np.float64), **params)
        tol = 2e-7 if dtype == jnp.float32 else 2 * 2.0**-8
        np.testing.assert_allclose(g[mask], d[mask], rtol=tol, atol=tol)


def test_seen_nan_in_the_other_rules():
    x, mask = _inputs(4)
    g = np.asarray(jax.grad(lambda v: jnp.sum(jrelu.squared_relu(v)))(jnp.asarray(x, jnp.float32)))
    np.testing.assert_array_equal(np.isnan(g), ~mask)
    # reglu: a NaN in the value half a_i reaches the loss through a_i * relu(b_i): the output is NaN,
    # and so are the gradients of both inputs of that pair (as at every NaN output); the rest finite.
    a = np.array([np.nan, 1.0, 2.0, -1.0])
    gate = np.array([0.5, -1.0, 3.0, 2.0])
    g = np.asarray(
        jax.grad(lambda v: jnp.sum(jrelu.reglu(v)))(jnp.asarray(np.r_[a, gate], jnp.float32))
    )
    np.testing.assert_array_equal(
        np.isnan(g), [True, False, False, False, True, False, False, False]
    )
    np.testing.assert_allclose(g[[1, 2, 3, 5, 6, 7]], [0.0, 3.0, 2.0, 0.0, 2.0, -1.0])


# --------------------------------------------------------------------------------------------------
# Forward mode: a zero tangent gives a zero output tangent
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "params", "with_key"), MODES)
def test_zero_tangent_at_a_nan_gives_zero(spec, params, with_key):
    x, mask = _inputs(5)
    f = _fn(spec, params, with_key)
    xj = jnp.asarray(x, jnp.float32)
    _, t = jax.jvp(f, (xj,), (jnp.asarray(mask, jnp.float32),))
    t = np.asarray(t, np.float64)
    np.testing.assert_array_equal(t[~mask], 0.0)
    if not with_key:
        np.testing.assert_allclose(t[mask], spec.derivative(x, **params)[mask], rtol=2e-7)
    _, t = jax.jvp(f, (xj,), (jnp.ones_like(xj),))  # a nonzero tangent: NaN there, as before
    nan_grad = "NaN gradient" not in spec.not_applicable  # alpha_dropout's: finite (the table)
    np.testing.assert_array_equal(np.isnan(np.asarray(t)), ~mask & nan_grad)


@pytest.mark.parametrize("name", list(EXTRA))
def test_zero_tangent_in_the_other_rules(name):
    x, _ = _inputs(6)
    x[N // 2 + 9] = np.nan
    seen = ~np.isnan(x)
    if name == "reglu":  # an output sees a NaN in either half: both halves get a zero tangent
        seen = np.tile(np.all(np.split(seen, 2), axis=0), 2)
    tangent = jnp.asarray(seen, jnp.float32)
    _, t = jax.jvp(EXTRA[name], (jnp.asarray(x, jnp.float32),), (tangent,))
    t = np.asarray(t)
    assert np.isfinite(t).all()
    np.testing.assert_array_equal(t[~seen[: t.shape[0]]], 0.0)


# --------------------------------------------------------------------------------------------------
# Higher order and transformations: vmap, hessian, scan, remat, jit
# --------------------------------------------------------------------------------------------------


def _second_fd(spec, params, x: np.ndarray) -> np.ndarray:
    """f'' by central differences of the float64 derivative (inputs are away from the kinks)."""
    h = 2.0**-20 * np.maximum(1.0, np.abs(x))
    return (spec.derivative(x + h, **params) - spec.derivative(x - h, **params)) / (2 * h)


@pytest.mark.parametrize(("spec", "params", "with_key"), MODES)
def test_hessian_of_a_masked_loss(spec, params, with_key):
    x, mask = _inputs(7)
    f = _fn(spec, params, with_key)
    m = jnp.asarray(mask)
    loss = lambda v: jnp.sum(jnp.where(m, f(v), 0.0))  # noqa: E731
    xj = jnp.asarray(x, jnp.float32)
    h = np.asarray(jax.jit(jax.hessian(loss))(xj), np.float64)
    assert np.isfinite(h).all()
    np.testing.assert_array_equal(h - np.diag(np.diag(h)), 0.0)
    np.testing.assert_array_equal(np.diag(h)[~mask], 0.0)
    # grad of grad, reverse over reverse, on the same masked loss
    gg = np.asarray(jax.grad(lambda v: jnp.sum(jax.grad(loss)(v)))(xj), np.float64)
    np.testing.assert_array_equal(gg, np.diag(h))
    clean = np.asarray(jax.hessian(loss)(jnp.asarray(_clean(x), jnp.float32)))
    np.testing.assert_array_equal(h, clean)  # the hessian at the non-NaN inputs has not changed
    if not with_key:
        xs = np.asarray(xj, np.float64)[mask]
        np.testing.assert_allclose(np.diag(h)[mask], _second_fd(spec, params, xs), atol=2e-6)


@pytest.mark.parametrize(("spec", "params", "with_key"), MODES)
def test_vmap_scan_remat_of_a_masked_loss(spec, params, with_key):
    rows = [_inputs(s) for s in range(8, 12)]
    x = jnp.asarray(np.stack([r[0] for r in rows]), jnp.float32)
    mask = jnp.asarray(np.stack([r[1] for r in rows]))
    f = _fn(spec, params, with_key)

    def loss(b, x, m):
        return jnp.sum(jnp.where(m, f(x + b), 0.0))

    want = np.array([float(jax.grad(loss)(jnp.float32(0.1), x[i], mask[i])) for i in range(4)])
    assert np.isfinite(want).all()
    per_row = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(jnp.float32(0.1), x, mask)
    np.testing.assert_allclose(np.asarray(per_row), want, rtol=1e-6)
    # vmap over the bias (x unbatched), and the gradient of a vmapped loss
    bs = jnp.asarray([0.1, 0.2, -0.3], jnp.float32)
    gb = jax.vmap(jax.grad(loss), in_axes=(0, None, None))(bs, x[0], mask[0])
    assert np.isfinite(np.asarray(gb)).all()
    gv = jax.grad(lambda b: jnp.sum(jax.vmap(loss, in_axes=(None, 0, 0))(b, x, mask)))(
        jnp.float32(0.1)
    )
    np.testing.assert_allclose(float(gv), want.sum(), rtol=1e-5)

    # scan over layers, each layer under remat: the NaN enters at the first, masked at the end
    def step(h, _):
        return jax.checkpoint(f)(h), None

    def deep(b):
        h, _ = jax.lax.scan(step, x[0] + b, None, length=2)
        return jnp.sum(jnp.where(mask[0], h, 0.0))

    g = jax.jit(jax.grad(deep))(jnp.float32(0.1))
    assert np.isfinite(float(g))


# --------------------------------------------------------------------------------------------------
# Hyperparameter gradients on masked NaN inputs
# --------------------------------------------------------------------------------------------------


def _x2d(seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, _ = _inputs(seed)
    x = x.reshape(16, 4)
    return x, ~np.isnan(x)


HYPER = {
    # name: (f(x, p), initial p, float64 reference of d(masked sum)/dp, or None for invariance only)
    "prelu slope": (
        lambda x, a: jrelu.prelu(x, a),
        np.array([0.25, -0.1, 0.5, 0.0], np.float32),
        lambda x, m, a: np.where(m & (x <= 0), x, 0.0).sum(axis=0),
    ),
    "leaky_relu slope": (
        lambda x, a: jrelu.leaky_relu(x, a),
        np.float32(0.2),
        lambda x, m, a: np.where(m & (x <= 0), x, 0.0).sum(),
    ),
    "elu alpha": (
        lambda x, a: jrelu.elu(x, a),
        np.float32(1.3),
        lambda x, m, a: np.where(m, np.expm1(np.minimum(x, 0)), 0.0).sum(),
    ),
    "celu alpha": (
        lambda x, a: jrelu.celu(x, a),
        np.float32(1.5),
        lambda x, m, a: np.where(
            m,
            np.expm1(np.minimum(x, 0) / a) - np.minimum(x, 0) / a * np.exp(np.minimum(x, 0) / a),
            0,
        ).sum(),
    ),
    "rrelu bounds": (
        lambda x, p: jrelu.rrelu(x, p[0], p[1]),
        np.array([0.1, 0.3], np.float32),
        lambda x, m, p: np.full(2, 0.5 * np.where(m & (x <= 0), x, 0.0).sum()),
    ),
    "rrelu bounds with a key": (
        lambda x, p: jrelu.rrelu(x, p[0], p[1], key=jax.random.key(7)),
        np.array([-0.1, 0.3], np.float32),
        None,
    ),
    "alpha_dropout rate": (
        lambda x, p: jrelu.alpha_dropout(x, p, key=jax.random.key(8)),
        np.float32(0.2),
        None,
    ),
}


@pytest.mark.parametrize("name", list(HYPER))
def test_hyperparameter_gradient_on_masked_nan_inputs(name):
    f, p0, ref = HYPER[name]
    x, mask = _x2d(13)
    m = jnp.asarray(mask)

    def loss(p, x):
        return jnp.sum(jnp.where(m, f(x, p), 0.0))

    p = jnp.asarray(p0)
    g = np.asarray(jax.jit(jax.grad(loss))(p, jnp.asarray(x, jnp.float32)), np.float64)
    assert np.isfinite(g).all(), g
    clean = np.asarray(jax.grad(loss)(p, jnp.asarray(_clean(x), jnp.float32)))
    np.testing.assert_allclose(g, clean, rtol=1e-6)  # the hidden positions contribute nothing
    if ref is not None:
        x32 = np.asarray(jnp.asarray(x, jnp.float32), np.float64)
        np.testing.assert_allclose(
            g, ref(np.nan_to_num(x32), mask, float(np.ravel(p0)[0])), rtol=2e-5
        )
    # forward mode: a zero tangent at every hidden position is what the select gives; the parameter's
    # tangent meets the NaN there, and its contribution is cut by the mask's zero cotangent.
    _, t = jax.jvp(lambda p: loss(p, jnp.asarray(x, jnp.float32)), (p,), (jnp.ones_like(p),))
    assert np.isfinite(float(t))


def test_prelu_slope_gradient_is_nan_only_for_the_channel_that_sees_a_nan():
    x, _ = _x2d(14)  # NaN at flat positions 5, 17, 40: channels 1, 1, 0
    g = np.asarray(
        jax.grad(lambda a: jnp.sum(jrelu.prelu(jnp.asarray(x, jnp.float32), a)))(
            jnp.full((4,), 0.25, jnp.float32)
        )
    )
    np.testing.assert_array_equal(np.isnan(g), [True, True, False, False])
    x32 = np.asarray(jnp.asarray(x, jnp.float32), np.float64)
    np.testing.assert_allclose(g[2:], np.where(x32 <= 0, x32, 0.0).sum(axis=0)[2:], rtol=2e-6)
