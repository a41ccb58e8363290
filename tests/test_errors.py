"""Bad input gets a clear error -- naming the function, the argument, the value and the fix -- never a
wrong answer. One table of bad calls, each with the exact error it gives."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu
import jrelu.linen
import jrelu.nnx

X = jnp.ones((2, 3))

BAD_CALLS = [
    # (call, exception, message pattern)
    (
        lambda: jrelu.celu(X, alpha=0.0),
        ValueError,
        r"jrelu\.celu: alpha must be nonzero, got 0\.0\.",
    ),
    (
        lambda: jrelu.celu(X, alpha=np.array([1.0, 0.0, 2.0])),
        ValueError,
        r"jrelu\.celu: alpha must be nonzero, got an array containing 0\.0",
    ),
    (
        lambda: jrelu.elu(X, alpha=float("nan")),
        ValueError,
        r"jrelu\.elu: alpha must be finite, got nan\.",
    ),
    (
        lambda: jrelu.leaky_relu(X, negative_slope=float("inf")),
        ValueError,
        r"jrelu\.leaky_relu: negative_slope must be finite, got inf\.",
    ),
    (
        lambda: jrelu.leaky_relu(X, negative_slope=True),
        TypeError,
        r"jrelu\.leaky_relu: negative_slope must be a real number, got bool True\.",
    ),
    (
        lambda: jrelu.elu(X, alpha="1"),
        TypeError,
        r"jrelu\.elu: alpha must be a real number or array, got dtype <U1\.",
    ),
    (
        lambda: jrelu.elu(X, alpha=1j),
        TypeError,
        r"jrelu\.elu: alpha must be a real number or array, got dtype complex128\.",
    ),
    (
        lambda: jrelu.prelu(X, jnp.ones(4)),
        ValueError,
        r"jrelu\.prelu: negative_slope of shape \(4,\) does not broadcast against x of shape \(2, 3\)",
    ),
    (
        lambda: jrelu.prelu(X, jnp.ones((5, 2, 3))),
        ValueError,
        r"jrelu\.prelu: negative_slope of shape \(5, 2, 3\) does not broadcast against x of shape \(2, 3\) .*may not enlarge x",
    ),
    (
        # once named reglu and its halves: the message must be prelu's, with the axis and the fix
        lambda: jrelu.prelu(jnp.float32(-1.0), jnp.ones(1), axis=0),
        ValueError,
        r"^jrelu\.prelu: x is a scalar, so it has no axis 0 for negative_slope to run along; pass x "
        r"with its channel axis .*or axis=None with a scalar slope\.$",
    ),
    (
        # a traced rate is not read, but its shape is known: one rate for the whole array
        lambda: jax.jit(lambda r: jrelu.alpha_dropout(X, r, key=jax.random.key(0)))(jnp.ones(3)),
        TypeError,
        r"^jrelu\.alpha_dropout: a traced rate must be a real scalar \(one drop probability for the "
        r"whole array\), got dtype float32 and shape \(3,\); pass a float scalar, e\.g\. "
        r"rate\.reshape\(\(\)\)",
    ),
    (
        lambda: jrelu.prelu(X),
        TypeError,
        r"missing 1 required positional argument: 'negative_slope'",
    ),
    (
        lambda: jrelu.rrelu(X, lower=0.5, upper=0.1),
        ValueError,
        r"jrelu\.rrelu: lower must be <= upper, got lower=0\.5 and upper=0\.1\.",
    ),
    (
        lambda: jrelu.rrelu(X, key=0),
        TypeError,
        r"jrelu\.rrelu: key must be a PRNG key from jax\.random\.key\(seed\).*got int\.",
    ),
    (
        lambda: jrelu.rrelu(X, key=jnp.zeros(2, jnp.float32)),
        TypeError,
        r"jrelu\.rrelu: key must be a PRNG key.*dtype float32 and shape \(2,\)",
    ),
    (
        lambda: jrelu.rrelu(X, key=jax.random.split(jax.random.key(0), 3)),
        ValueError,
        r"jrelu\.rrelu: key must be a single PRNG key, got an array of keys of shape \(3,\); use jax\.vmap",
    ),
    (
        lambda: jrelu.elu(jnp.arange(3)),
        TypeError,
        r"jrelu\.elu: x has integer dtype int32, but elu needs floating point input.*x\.astype\(jnp\.float32\)",
    ),
    (
        lambda: jrelu.relu(jnp.array([True])),
        TypeError,
        r"jrelu\.relu: x has dtype bool; activations need numbers",
    ),
    (lambda: jrelu.selu(jnp.array([1j])), TypeError, r"jrelu\.selu: x has complex dtype complex64"),
    (
        lambda: jrelu.relu("1.0"),
        TypeError,
        r"jrelu\.relu: (x must be an array or a number, got str|unsupported dtype)",
    ),
    (
        lambda: jrelu.relu(None),
        TypeError,
        r"jrelu\.relu: x must be an array or a number, got None; convert it",
    ),
    (
        lambda: jrelu.get("swish"),
        ValueError,
        r"jrelu\.get: unknown activation 'swish'; known names: relu, relu6, leaky_relu, prelu, rrelu, alpha_dropout, elu, celu, selu, squared_relu, reglu\.",
    ),
    (
        lambda: jrelu.get("elu", slope=1.0),
        TypeError,
        r"jrelu\.get: elu takes no parameter 'slope'; its parameters are: alpha, precise\.",
    ),
    (
        lambda: jrelu.get("prelu"),
        ValueError,
        r"jrelu\.get: prelu needs negative_slope, e\.g\. jrelu\.get\('prelu', negative_slope=0\.25\)\.",
    ),
    (
        lambda: jrelu.get("celu", alpha=0.0),
        ValueError,
        r"jrelu\.celu: alpha must be nonzero, got 0\.0\.",
    ),
    (lambda: jrelu.get(3), TypeError, r"jrelu\.get: name must be a string, got int\."),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), BAD_CALLS, ids=[p for _, _, p in BAD_CALLS])
def test_bad_call_raises_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_concrete_values_are_checked_even_under_jit():
    with pytest.raises(ValueError, match=r"jrelu\.celu: alpha must be nonzero, got 0\.0"):
        jax.jit(lambda x: jrelu.celu(x, alpha=0.0))(X)
    with pytest.raises(ValueError, match=r"jrelu\.prelu: negative_slope of shape \(4,\)"):
        jax.jit(lambda x, a: jrelu.prelu(x, a))(
            X, jnp.ones(4)
        )  # shapes are static even when traced
    with pytest.raises(TypeError, match=r"jrelu\.elu: alpha must be real, got dtype complex64"):
        jax.jit(lambda x, a: jrelu.elu(x, a))(X, jnp.complex64(1))


def test_traced_values_cannot_be_checked_and_the_docstring_says_so():
    # A traced zero alpha cannot be seen at trace time: celu documents what it then gives.
    f = jax.jit(lambda x, a: jrelu.celu(x, a))
    np.testing.assert_array_equal(f(-X, jnp.float32(0.0)), jnp.zeros_like(X))
    grad = jax.grad(lambda x: f(x, jnp.float32(0.0)).sum())(-X)
    assert np.isnan(np.asarray(grad)).all()
    assert "at a traced 0 the value is relu's (the limit)" in " ".join(jrelu.celu.__doc__.split())


# Values checked as they will be used: finite in float64 but not in the compute dtype.
UNREPRESENTABLE = [
    (
        lambda: jrelu.celu(X, 1e-300),
        r"jrelu\.celu: alpha must be nonzero, but alpha=1e-300 underflows to 0 in float32.*float64 input.*at least 1\.175e-38",
    ),
    (
        lambda: jrelu.celu(X, 1e-40),
        r"jrelu\.celu: alpha must be nonzero, but alpha=1e-40 underflows to a subnormal in float32",
    ),
    (
        lambda: jrelu.celu(X, np.array([1.0, 2.0, -1e-300])),
        r"jrelu\.celu: .*alpha=-1e-300 underflows to 0 in float32",
    ),
    (
        lambda: jrelu.elu(X, 1e39),
        r"jrelu\.elu: alpha=1e\+39 overflows to inf in float32.*float64 input.*within ±3\.403e\+38",
    ),
    (
        lambda: jrelu.leaky_relu(X, 1e39),
        r"jrelu\.leaky_relu: negative_slope=1e\+39 overflows to inf in float32",
    ),
    (
        lambda: jrelu.leaky_relu(X.astype(jnp.bfloat16), -1e39),
        r"jrelu\.leaky_relu: negative_slope=-1e\+39 overflows to inf in float32",
    ),
    (
        lambda: jrelu.prelu(X, np.full(3, 1e39)),
        r"jrelu\.prelu: negative_slope=1e\+39 overflows to inf in float32",
    ),
    (lambda: jrelu.rrelu(X, 0.1, 1e39), r"jrelu\.rrelu: upper=1e\+39 overflows to inf in float32"),
    (
        lambda: jrelu.linen.ELU(alpha=1e39),
        r"jrelu\.linen\.ELU: alpha=1e\+39 overflows to inf in float32",
    ),
    (
        lambda: jrelu.linen.CELU(alpha=1e-300),
        r"jrelu\.linen\.CELU: alpha must be nonzero, but alpha=1e-300 underflows",
    ),
    (
        lambda: jrelu.nnx.CELU(alpha=1e-300),
        r"jrelu\.nnx\.CELU: alpha must be nonzero, but alpha=1e-300 underflows",
    ),
    (lambda: jrelu.nnx.LeakyReLU(1e39), r"jrelu\.nnx\.LeakyReLU: negative_slope=1e\+39 overflows"),
    (
        lambda: jrelu.linen.PReLU(negative_slope_init=1e39),
        r"jrelu\.linen\.PReLU: negative_slope_init=1e\+39 overflows to inf in param_dtype float32",
    ),
]


@pytest.mark.parametrize(
    ("call", "pattern"), UNREPRESENTABLE, ids=[p[:40] for _, p in UNREPRESENTABLE]
)
def test_a_value_the_compute_dtype_cannot_hold_is_rejected(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        (jrelu.elu, 1e30),
        (jrelu.leaky_relu, 1e30),
        (jrelu.celu, 1e30),
        (jrelu.celu, 1.2e-38),
        (jrelu.leaky_relu, 1e-300),
        (jrelu.leaky_relu, -1e-300),
    ],
)
def test_representable_extremes_keep_working(fn, value):
    """Compared with the float64 reference rounded to float32 (a slope that underflows is a rounding)."""
    spec = jrelu.FUNCTIONS[fn.__name__]
    xs = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    pname = next(iter(spec.params))
    with np.errstate(over="ignore", under="ignore"):
        want = spec.value(xs, **{pname: np.float64(np.float32(value))}).astype(np.float32)
    got = np.asarray(fn(jnp.asarray(xs, jnp.float32), value))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)
    assert np.all(np.isfinite(got))


def test_float64_input_holds_what_float32_cannot():
    with jax.enable_x64(True):
        x = jnp.asarray([-1.0, 1.0], jnp.float64)
        np.testing.assert_allclose(jrelu.leaky_relu(x, 1e39), [-1e39, 1.0], rtol=1e-15)
        np.testing.assert_allclose(
            jrelu.celu(x, 1e-300), [-1e-300, 1.0], rtol=1e-15
        )  # alpha * expm1(-1e300) = -alpha


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_overflow_edge_follows_numpys_rounding(dtype):
    """The quick check of a new Python number (two thresholds) agrees with NumPy's own rounding right at
    the edge: the float64 neighbours on either side of where the compute dtype rounds to inf."""
    x = jnp.asarray([-1.0, 2.0], dtype)
    edge = float(np.finfo(np.float32).max)  # half precision computes in float32
    edge = edge + 2.0 ** (127 - 23 - 1)  # the first float64 that float32 rounds to inf
    for v in (np.nextafter(edge, 0), edge, np.nextafter(edge, np.inf)):
        with np.errstate(over="ignore"):
            overflows = bool(np.isinf(np.float32(v)))
        if overflows:
            with pytest.raises(ValueError, match=r"jrelu\.leaky_relu: negative_slope=.* overflows"):
                jrelu.leaky_relu(x, -float(v))
        else:
            y = jrelu.leaky_relu(x.astype(jnp.float32), -float(v))
            assert np.float32(y[0]) == np.float32(v)  # -1 * -v, rounded once
    with np.errstate(over="ignore"):  # the edge is where it should be
        assert not np.isinf(np.float32(np.nextafter(edge, 0))) and np.isinf(np.float32(edge))


@pytest.mark.parametrize(("shape", "axis"), [((2, 3, 4, 5), 1), ((3, 4, 5), 0)])
def test_prelu_on_channels_first_input_names_the_axis(shape, axis):
    """A per-channel slope on NCHW (or unbatched CHW) input without axis=: the error suggests the
    axis whose size is the slope's, and with it prelu is the peer's per-channel jnp.where."""
    x = jnp.asarray(np.linspace(-2, 2, np.prod(shape)).reshape(shape), jnp.float32)
    slope = jnp.asarray([0.25, 0.5, -0.1], jnp.float32)
    with pytest.raises(
        ValueError, match=rf"jrelu\.prelu: .*axis {axis} has 3 entries.*axis={axis}\)"
    ):
        jrelu.prelu(x, slope)
    along = jnp.reshape(slope, (3,) + (1,) * (x.ndim - 1 - axis))
    np.testing.assert_array_equal(
        jrelu.prelu(x, slope, axis=axis), jrelu.FUNCTIONS["prelu"].baseline(x, along)
    )
