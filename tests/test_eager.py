"""Eager calls (no outer jit): a Python-number hyperparameter is checked once, put on the device once and
reused. So an eager call makes no implicit host-to-device transfer (it works under
``jax.transfer_guard("disallow")``), and the caches never hold a tracer or confuse 0.0 with -0.0."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, gated_input

import jrelu
from jrelu import _core

X = np.linspace(-7.0, 7.0, 29)
FUNCTIONS_BY_FN = {s.fn: s for s in jrelu.FUNCTIONS.values()}


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_eager_call_makes_no_implicit_transfer(spec, params):
    xs = gated_input(spec, X)
    x = jnp.asarray(xs, jnp.float32)
    _core._ON_DEVICE.clear()  # the first call, which makes the device scalars, runs under the guard too
    with jax.transfer_guard("disallow"):
        first = spec.fn(x, **params)
        again = spec.fn(x, **params)
    want = spec.value(xs, **params)
    np.testing.assert_allclose(np.asarray(first, np.float64), want, rtol=3e-7, atol=1e-7)
    np.testing.assert_array_equal(again, first)


def test_eager_call_with_a_key_makes_no_implicit_transfer():
    x = jnp.asarray(X, jnp.float32)
    key = jax.random.key(3)
    with jax.transfer_guard("disallow"):
        y = jrelu.rrelu(x, 0.1, 0.3, key=key)
    neg = X < 0
    slope = np.asarray(y, np.float64)[neg] / X[neg]
    assert np.all((slope >= 0.1 - 1e-6) & (slope <= 0.3 + 1e-6))
    np.testing.assert_array_equal(np.asarray(y)[~neg], np.asarray(x)[~neg])
    # Same slopes as under jit (up to one rounding: there lower and upper are folded in as constants).
    under_jit = jax.jit(lambda x: jrelu.rrelu(x, 0.1, 0.3, key=key))(x)
    np.testing.assert_allclose(y, under_jit, rtol=2.0**-23, atol=0)


def test_a_constant_inside_a_trace_never_enters_the_cache():
    """``c`` is concrete inside the traced function: the device scalar made there is a tracer, which
    must not be cached (a later eager call would see a leaked tracer)."""
    c = jnp.asarray([-2.0, 3.0])
    _core._ON_DEVICE.clear()
    traced = jax.jit(lambda: jrelu.leaky_relu(c, 0.375))()
    assert not any(isinstance(v, jax.core.Tracer) for v in _core._ON_DEVICE.values())
    eager = jrelu.leaky_relu(c, 0.375)
    np.testing.assert_array_equal(traced, np.array([-0.75, 3.0], np.float32))
    np.testing.assert_array_equal(eager, traced)


@pytest.mark.parametrize("order", [(0.0, -0.0), (-0.0, 0.0)])
def test_zero_and_negative_zero_slopes_stay_apart(order):
    """0.0 == -0.0 and they hash alike, so a cache keyed by value alone would hand back the first one
    seen. The slope's sign shows in the sign of the output at negative x (IEEE: -1 * -0.0 = +0.0)."""
    x = jnp.asarray([-1.0, 2.0])
    for slope in order:
        for fn in (jrelu.leaky_relu, jrelu.prelu):
            y = np.asarray(fn(x, slope))
            assert np.signbit(y[0]) == np.signbit(np.float64(-1.0) * slope)
            assert y[1] == 2.0


@pytest.mark.parametrize(("spec", "params"), [c for c in CASES if c.values[0].hyper(c.values[1])])
def test_a_jax_array_hyperparameter_is_never_copied_to_the_host(spec, params, monkeypatch):
    """A concrete jax.Array hyperparameter is used on the device as it is: no device-to-host copy (which
    on an accelerator blocks dispatch) on any eager call. Its values are therefore not checked, as a
    traced value's are not (the docstrings say so)."""
    x = jnp.asarray(X, jnp.float32)
    on_device = {
        k: v if k in spec.static else jnp.asarray(v, jnp.float32) for k, v in params.items()
    }
    # On CPU a host read is zero-copy (the buffer protocol) and passes the guard: catch it in NumPy too.
    for name in ("asarray", "array"):
        monkeypatch.setattr(np, name, _refusing_jax_arrays(getattr(np, name)))
    with jax.transfer_guard_device_to_host("disallow"):
        y = spec.fn(x, **on_device)
        y.block_until_ready()
    monkeypatch.undo()
    want = spec.value(X, **params)
    np.testing.assert_allclose(np.asarray(y, np.float64), want, rtol=3e-7, atol=1e-7)


def _refusing_jax_arrays(convert):
    def wrapped(a, *args, **kwargs):
        if isinstance(a, jax.Array):
            raise AssertionError("a jax.Array hyperparameter was copied to the host")
        return convert(a, *args, **kwargs)

    return wrapped


def test_a_jax_array_hyperparameter_keeps_its_gradient_without_a_host_copy():
    x = jnp.asarray(X, jnp.float32)
    slope = jnp.float32(-0.2)
    with jax.transfer_guard_device_to_host("disallow"):
        g = jax.grad(lambda x: jrelu.leaky_relu(x, slope).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.where(X > 0, 1.0, -0.2).astype(np.float32))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize(
    ("fn", "pname"),
    [(jrelu.leaky_relu, "negative_slope"), (jrelu.elu, "alpha"), (jrelu.celu, "alpha")],
)
def test_a_value_is_used_alike_on_its_first_calls_and_once_cached(fn, pname, dtype, x64):
    """A value met for the first times reaches jit as a Python float (cheap dispatch), later as a cached
    device scalar: every call must compute with the value rounded once to the compute dtype, as the
    float64 reference with that rounded value does -- also under x64, where jit would take a Python
    float as float64."""
    if dtype == "float64" and not x64:
        pytest.skip("float64 input needs jax_enable_x64")
    value = 0.1 + 1e-9 * (
        hash((fn.__name__, dtype, x64)) % 1000
    )  # new to the caches, not representable
    cdt = np.float64 if dtype == "float64" else np.float32
    used = float(cdt(value))
    with jax.enable_x64(x64):
        x = jnp.asarray(X, dtype)
        calls = [
            np.asarray(fn(x, **{pname: value}), np.float64) for _ in range(_core._CACHE_AFTER + 1)
        ]
        ref = FUNCTIONS_BY_FN[fn].value(np.asarray(x, np.float64), **{pname: used})
        want = np.asarray(jnp.asarray(ref.astype(cdt), dtype), np.float64)  # rounded to x's dtype
    ulp = np.spacing(np.abs(want).astype(np.dtype(dtype) if dtype != "bfloat16" else np.float32))
    if dtype == "bfloat16":
        ulp = np.abs(want) * 2.0**-7
    for i, got in enumerate(calls):
        assert np.all(np.abs(got - want) <= 2 * ulp + 1e-300), (i, np.max(np.abs(got - want)))
        np.testing.assert_array_equal(got, calls[0])  # the first calls and the cached ones agree


def _compiles():
    """A counter of XLA compilations, from jax.monitoring's compile events."""
    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs) -> None:
        if "backend_compile" in event:
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    return seen, listen


EAGER_CALLS = {
    "leaky_relu": lambda x, v: jrelu.leaky_relu(x, v),
    "prelu": lambda x, v: jrelu.prelu(x, v),
    "rrelu": lambda x, v: jrelu.rrelu(x, v, abs(v) + 0.5),
    "rrelu with a key": lambda x, v: jrelu.rrelu(x, v, abs(v) + 0.5, key=jax.random.key(1)),
    "elu": lambda x, v: jrelu.elu(x, v, precise=v > 0.2),
    "celu": lambda x, v: jrelu.celu(x, v, precise=v > 0.2),
    "selu": lambda x, v: jrelu.selu(x, precise=v > 0.2),
    "alpha_dropout": lambda x, v: jrelu.alpha_dropout(x, abs(v), key=jax.random.key(1)),
}


@pytest.mark.parametrize("name", list(EAGER_CALLS))
def test_an_eager_user_compiles_once_per_function_shape_and_dtype(name):
    """Python numbers in any order -- new ones, one repeated until it moves to the device cache, a
    negative one (a masked rule where traced), precise on and off -- compile one program for a shape
    and dtype: the value handed to jit has one type whether or not it is cached, and an eager call,
    which nothing differentiates, runs one rule whatever the values' signs."""
    call = EAGER_CALLS[name]
    shape = (
        3,
        40 + list(EAGER_CALLS).index(name),
    )  # a shape of this case's own: the first call compiles
    x = jnp.asarray(np.linspace(-3, 3, np.prod(shape)).reshape(shape), jnp.float32)
    other = jnp.asarray(np.ones((2, shape[1])), jnp.float32)
    _core._ON_DEVICE.clear()
    _core._SEEN.clear()
    seen, listen = _compiles()
    try:
        for v in (0.1, 0.3, 0.1, 0.1, 0.1, -0.4, -0.4, -0.4, -0.4, 0.3, 0.7):
            call(x, v)
        assert len(seen) == 1, f"{len(seen)} compilations for one function, shape and dtype"
        jrelu.relu(other)  # a new shape: the counter does count compilations
        assert len(seen) == 2
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
