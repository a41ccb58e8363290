"""Every JAX transformation on every function, compared with the float64 reference derivatives and
with finite differences."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, gated_input, jvp_of_ones
from jax.test_util import check_grads

import jrelu

# Points away from every kink (0 and 6), on both sides.
X = np.array([-3.1, -0.7, -0.05, 0.3, 2.2, 5.5, 7.4])


def _f(spec, params):
    return functools.partial(spec.fn, **params)


def _diag(spec, jac):
    """The derivatives in a Jacobian: its diagonal; for a gated Spec (output i reads a[i] and b[i])
    the diagonals of its two blocks, [d/da, d/db], after checking that every other entry is 0."""
    if not spec.gated:
        return jnp.diag(jac)
    n = jac.shape[0]
    np.testing.assert_array_equal(np.asarray(jac)[~np.tile(np.eye(n, dtype=bool), 2)], 0.0)
    return jnp.concatenate([jnp.diag(jac[:, :n]), jnp.diag(jac[:, n:])])


def _per_row(spec, f):
    """f over scalars (vmap, scan, lax.map of an elementwise function); a gated Spec has no scalar
    form (Spec.not_applicable), so there f runs over the rows of x[None]."""
    if not _by_rows(spec):
        return lambda g, x: g(f)(x)
    return lambda g, x: g(f)(x[None])[0]


def _by_rows(spec):
    """Map over rows, not scalars: a gated Spec has no scalar form; alpha_dropout's mask depends on
    the position in x (Spec.not_applicable)."""
    return spec.gated or "vmap over scalars" in spec.not_applicable


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_first_order_transformations_agree(spec, params):
    f = _f(spec, params)
    xs = gated_input(spec, X)
    x = jnp.asarray(xs, jnp.float32)
    want = spec.derivative(xs, **params)
    scalar = lambda x: f(x).sum()  # noqa: E731
    rows = _per_row(spec, f)
    ones_y = jnp.ones_like(f(x))
    results = {
        "grad": jax.grad(scalar)(x),
        "jit(grad)": jax.jit(jax.grad(scalar))(x),
        "vjp": jax.vjp(f, x)[1](ones_y)[0],
        "jacfwd": _diag(spec, jax.jacfwd(f)(x)),
        "jacrev": _diag(spec, jax.jacrev(f)(x)),
        "vmap(grad)": _per_row(spec, jax.grad(scalar if _by_rows(spec) else f))(jax.vmap, x),
        "checkpoint": jax.grad(lambda x: jax.checkpoint(f)(x).sum())(x),
        "scan": jax.grad(
            lambda x: jax.lax.scan(
                lambda c, xi: (c + f(xi).sum(), None), 0.0, x[None] if _by_rows(spec) else x
            )[0]
        )(x),
    }
    for name, got in results.items():
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-6, atol=1e-7, err_msg=name)
    # Forward mode with a tangent of ones: J @ ones (for a gated Spec d/da + d/db).
    for name, got in {
        "jvp": jax.jvp(f, (x,), (jnp.ones_like(x),))[1],
        "linearize": jax.linearize(f, x)[1](jnp.ones_like(x)),
    }.items():
        np.testing.assert_allclose(
            np.asarray(got), jvp_of_ones(spec, want), rtol=2e-6, atol=1e-7, err_msg=name
        )
    # Values through jit / vmap / scan equal the eager ones.
    y = f(x)
    np.testing.assert_array_equal(jax.jit(f)(x), y)
    np.testing.assert_array_equal(rows(jax.vmap, x), y)
    np.testing.assert_array_equal(rows(lambda g: lambda v: jax.lax.map(g, v), x), y)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_second_order_matches_finite_differences(spec, params, x64):
    """grad-of-grad, hessian and jvp-of-grad equal a central difference of the reference derivative."""
    f = _f(spec, params)
    xs = gated_input(spec, X)
    # H @ ones: the derivative's change when every input moves by h. For an elementwise Spec H is
    # diagonal and this is f''; a gated one's H (2 n x 2 n) has d2/(da db) = relu'(b) off the diagonal.
    rowsum = (lambda h: h.sum(axis=1)) if spec.gated else jnp.diag
    with x64():
        x = jnp.asarray(xs)
        h = 1e-6
        fd = (spec.derivative(xs + h, **params) - spec.derivative(xs - h, **params)) / (2 * h)
        scalar = lambda x: f(x).sum()  # noqa: E731
        got = {
            "grad(grad)": jax.grad(lambda x: jax.grad(scalar)(x).sum())(x)
            if spec.gated
            else jax.vmap(jax.grad(jax.grad(f)))(x),
            "hessian": rowsum(jax.hessian(scalar)(x)),
            "jvp(grad)": jax.jvp(jax.grad(scalar), (x,), (jnp.ones_like(x),))[1],
            "jacfwd(jacrev)": rowsum(jax.jacfwd(jax.jacrev(scalar))(x)),
        }
        for name, val in got.items():
            np.testing.assert_allclose(np.asarray(val), fd, rtol=1e-6, atol=1e-8, err_msg=name)
        # And JAX's own numerical checker, both modes, up to second order.
        check_grads(f, (x,), order=2, modes=("fwd", "rev"), eps=1e-4)


@pytest.mark.parametrize(
    ("name", "pname", "value"),
    [
        ("leaky_relu", "negative_slope", 0.1),
        ("leaky_relu", "negative_slope", -0.3),
        ("prelu", "negative_slope", 0.25),
        ("elu", "alpha", 0.7),
        ("elu", "alpha", -0.4),
        ("celu", "alpha", 1.3),
        ("celu", "alpha", -0.8),
        ("rrelu", "lower", 0.1),
        ("rrelu", "upper", 0.4),
    ],
)
def test_hyperparameter_gradients_match_finite_differences(name, pname, value, x64):
    spec = jrelu.FUNCTIONS[name]
    with x64():
        x = jnp.asarray(X)

        def g(p):
            return (spec.fn(x, **{pname: p}) * jnp.arange(1.0, 8.0)).sum()

        p = jnp.float64(value)
        h = 1e-6
        fd = (g(p + h) - g(p - h)) / (2 * h)
        assert float(jax.grad(g)(p)) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
        assert float(jax.jvp(g, (p,), (1.0,))[1]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
        check_grads(g, (p,), order=2, modes=("fwd", "rev"), eps=1e-4)
        # Mixed second derivative d/dp (dy/dx) too.
        mixed = jax.grad(lambda p: jax.grad(lambda x: spec.fn(x, **{pname: p}).sum())(x).sum())(p)
        fdm = (
            jax.grad(lambda x: spec.fn(x, **{pname: p + h}).sum())(x).sum()
            - jax.grad(lambda x: spec.fn(x, **{pname: p - h}).sum())(x).sum()
        ) / (2 * h)
        assert float(mixed) == pytest.approx(float(fdm), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize(
    ("name", "pname", "values"),
    [
        ("leaky_relu", "negative_slope", [0.01, 0.2, -0.1]),
        ("elu", "alpha", [1.0, 0.5, -0.5]),
        ("celu", "alpha", [1.0, 2.0, -1.0]),
        ("prelu", "negative_slope", [0.25, 0.0, 1.5]),
        ("rrelu", "upper", [0.3, 0.4, 0.5]),
    ],
)
def test_hyperparameters_are_traced_not_static(name, pname, values):
    """Changing a hyperparameter under jit does not recompile; vmap over it works."""
    spec = jrelu.FUNCTIONS[name]
    traces = []

    @jax.jit
    def f(x, p):
        traces.append(1)
        return spec.fn(x, **{pname: p})

    x = jnp.asarray(X, jnp.float32)
    for v in values:
        got = f(x, jnp.float32(v))
        np.testing.assert_allclose(got, spec.value(X, **{**spec.params, pname: v}), rtol=1e-6)
    assert len(traces) == 1
    stacked = jax.vmap(lambda p: spec.fn(x, **{pname: p}))(jnp.asarray(values, jnp.float32))
    for row, v in zip(stacked, values, strict=True):
        np.testing.assert_allclose(row, spec.value(X, **{**spec.params, pname: v}), rtol=1e-6)


def test_rrelu_with_key_under_transformations():
    key = jax.random.key(3)
    f = functools.partial(jrelu.rrelu, key=key)
    x = jnp.asarray(X, jnp.float32)
    y = f(x)
    slope = jnp.where(x > 0, 1.0, y / x)  # the drawn slopes, read off the output
    for got in (
        jax.grad(lambda x: f(x).sum())(x),
        jax.jvp(f, (x,), (jnp.ones_like(x),))[1],
        jnp.diag(jax.jacfwd(f)(x)),
    ):
        np.testing.assert_allclose(got, slope, rtol=1e-6)
    np.testing.assert_array_equal(jax.hessian(lambda x: f(x).sum())(x), jnp.zeros((7, 7)))
    # vmap over keys: each key its own slopes.
    keys = jax.random.split(key, 4)
    ys = jax.vmap(lambda k: jrelu.rrelu(x, key=k))(keys)
    assert len({tuple(np.asarray(r).round(6)) for r in ys}) == 4


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_checkify_inside_jit_under_enable_checks(spec, params):
    """``jit(checkify(f))`` with every error class, under ``jax_enable_checks`` (JAX's internal
    consistency checks): value and gradient equal the float64 reference, and no check fires."""
    from jax.experimental import checkify

    xs = gated_input(spec, X)
    x = jnp.asarray(xs, jnp.float32)
    f = functools.partial(spec.fn, **params)
    with jax.enable_checks(True):
        err, (y, g) = jax.jit(
            checkify.checkify(
                lambda x: (f(x), jax.grad(lambda x: f(x).sum())(x)), errors=checkify.all_checks
            )
        )(x)
    err.throw()  # no user, NaN, division or index error on these inputs
    np.testing.assert_allclose(
        np.asarray(y, np.float64), spec.value(xs, **params), rtol=3e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        np.asarray(g, np.float64), spec.derivative(xs, **params), rtol=3e-6, atol=1e-7
    )


def test_taylor_mode_by_nested_jvp_matches_jet_on_the_peers():
    """jax.experimental.jet does not use custom derivative rules (it traces the primal, and with jax
    0.8.2-0.10.2 fails on every custom_jvp function, jax.nn.relu included). The conventions guide's
    workaround (examples/snippets/taylor.py), nested jvp through jrelu's rules, gives what jet gives on
    jax.nn's elu, selu and leaky_relu, to the third order; jet on jrelu raises, or agrees."""
    import pathlib
    import runpy

    from jax.experimental import jet

    snippet = pathlib.Path(__file__).parents[1] / "examples" / "snippets" / "taylor.py"
    ns = runpy.run_path(str(snippet))
    taylor, x = ns["taylor"], ns["x"]
    v, zero = jnp.ones_like(x), jnp.zeros_like(x)
    for name in ("elu", "selu", "leaky_relu"):
        spec = jrelu.FUNCTIONS[name]
        ours = taylor(spec.fn, x, v, 3)
        peer = functools.partial(spec.baseline, **spec.hyper(spec.params))
        want = jet.jet(peer, (x,), ((v, zero, zero),))
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=4e-7, atol=1e-6, err_msg=name)
        try:
            got = jet.jet(spec.fn, (x,), ((v, zero, zero),))
        except Exception:
            continue
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ours), strict=True):
            np.testing.assert_allclose(a, b, rtol=4e-7, atol=1e-6, err_msg=f"jet on jrelu.{name}")
    elu = jrelu.FUNCTIONS["elu"]
    np.testing.assert_allclose(ns["d1"], elu.derivative(np.asarray(x), **elu.params), rtol=4e-7)
