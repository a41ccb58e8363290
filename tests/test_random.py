"""The random streams of rrelu and alpha_dropout.

Streams: each function draws its own numbers from a key; every word of every key implementation
reaches the numbers; a uint32 array that is not a legacy key is refused. Gradients with respect to
traced rates and bounds: checked against central finite differences -- of a float64 NumPy
reimplementation of alpha dropout's affine map with the mask held fixed (the mask read off the output),
and of rrelu's own forward pass in float64 (the slopes drawn do not depend on the bounds).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrelu

S = 1.7580993408473766  # -alpha' = SELU's lambda * alpha


def _slopes(key, n, lower=0.0, upper=1.0):
    """rrelu's drawn slopes at n positions (x = -1 everywhere: y = -slope)."""
    return -np.asarray(jrelu.rrelu(-jnp.ones(n), lower, upper, key=key), np.float64)


def _kept(key, n, rate):
    """alpha_dropout's keep mask at n positions: kept zeros become the shift, dropped ones alpha'."""
    y = np.asarray(jrelu.alpha_dropout(jnp.zeros(n), rate, key=key), np.float64)
    return y > 0


# --------------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_rrelu_and_alpha_dropout_draw_independent_streams_from_one_key(rate):
    """Same key: the slopes of rrelu and the keep mask of alpha_dropout are uncorrelated (they were
    the same uniforms, correlation 0.87 at rate 0.5, before each function had its own stream)."""
    n = 2**18
    for seed in range(3):
        key = jax.random.key(seed)
        corr = np.corrcoef(_slopes(key, n), _kept(key, n, rate))[0, 1]
        assert abs(corr) < 5 / np.sqrt(n), (seed, corr)  # 5 sigma of the null distribution


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_every_key_word_changes_the_numbers(impl):
    """Keys that differ in one word only, any word, give new numbers (rbg's words 1 and 2 were
    ignored), for typed keys and for the legacy uint32 form of the same data."""
    n = 4096
    data = np.asarray(jax.random.key_data(jax.random.key(12345, impl=impl)))
    base = _slopes(jax.random.wrap_key_data(data, impl=impl), n)
    base_drop = _kept(jax.random.wrap_key_data(data, impl=impl), n, 0.5)
    for word in range(data.size):
        for bit in (0, 17, 31):
            other = data.copy()
            other.reshape(-1)[word] ^= np.uint32(1 << bit)
            for key in (jax.random.wrap_key_data(other, impl=impl), jnp.asarray(other)):
                slopes = _slopes(key, n)
                assert np.mean(slopes == base) < 0.01, (word, bit)
                assert abs(np.corrcoef(slopes, base)[0, 1]) < 5 / np.sqrt(n), (word, bit)
                assert 0.45 < np.mean(_kept(key, n, 0.5) == base_drop) < 0.55, (word, bit)


def _chi2_bound(dof: int) -> float:
    """The chi-square statistic's 5-sigma bound under the null (mean dof, variance 2 dof)."""
    return dof + 5 * np.sqrt(2 * dof)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbours_along_both_axes_are_independent_and_uniform(seed):
    """The hash is one finaliser round of a Weyl sequence of the position: pairs of neighbours along a
    row and down a column (position + 1 and + 2048) fill a 16 x 16 grid of cells evenly (chi-square),
    and every one of the 24 bits drawn is 1 half the time."""
    rows, cols = 512, 2048
    u = -np.asarray(jrelu.rrelu(-jnp.ones((rows, cols)), 0.0, 1.0, key=jax.random.key(seed)))
    u = u.astype(np.float64)
    cells = np.minimum((u * 16).astype(np.int64), 15)
    for a, b in ((cells[:, :-1], cells[:, 1:]), (cells[:-1], cells[1:])):
        counts = np.bincount((a * 16 + b).ravel(), minlength=256)
        expected = a.size / 256
        assert np.sum((counts - expected) ** 2 / expected) < _chi2_bound(255)
    bits = (np.round(u * 2**24).astype(np.int64)[..., None] >> np.arange(24)) & 1
    assert np.all(np.abs(bits.mean(axis=(0, 1)) - 0.5) < 5 * 0.5 / np.sqrt(u.size))


def test_the_two_streams_are_uncorrelated_at_every_offset():
    """rrelu's uniforms and alpha_dropout's mask from one key, compared at every shift of one against
    the other (circular cross-correlation by FFT): no shift lines them up (a stream offset in the hash
    would show as one large correlation), and rrelu's own stream has no period."""
    n = 2**20
    key = jax.random.key(5)
    u = _slopes(key, n) - 0.5
    m = _kept(key, n, 0.5) - 0.5
    fu, fm = np.fft.rfft(u), np.fft.rfft(m)
    cross = np.fft.irfft(fu * np.conj(fm), n) / (n * u.std() * m.std())
    auto = np.fft.irfft(fu * np.conj(fu), n)[1:] / (n * u.var())
    # the maximum of ~1e6 standard normal correlations stays below about 5.5 sigma; 6.5 is the bound
    assert np.max(np.abs(cross)) < 6.5 / np.sqrt(n)
    assert np.max(np.abs(auto)) < 6.5 / np.sqrt(n)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_a_legacy_key_draws_what_the_typed_key_of_the_same_data_draws(impl):
    data = jax.random.key_data(jax.random.key(3, impl=impl))
    typed = jax.random.wrap_key_data(data, impl=impl)
    np.testing.assert_array_equal(_slopes(typed, 1000), _slopes(data, 1000))


@pytest.mark.parametrize(
    ("key", "match"),
    [
        (
            jnp.arange(5, dtype=jnp.uint32),
            r"a uint32 array of shape \(5,\).*jax\.random\.key\(seed\)",
        ),
        (jnp.zeros(3, jnp.uint32), r"a uint32 array of shape \(3,\).*jax\.random\.key\(seed\)"),
        (np.zeros((), np.uint32), r"a uint32 array of shape \(\).*jax\.random\.key\(seed\)"),
        (np.zeros((2, 2), np.uint32), r"a uint32 array of shape \(2, 2\).*use jax\.vmap"),
    ],
    ids=["arange5", "three-words", "scalar", "batch-of-legacy-keys"],
)
@pytest.mark.parametrize("fname", ["rrelu", "alpha_dropout"])
def test_a_uint32_array_that_is_not_a_legacy_key_is_refused(fname, key, match):
    fn = {
        "rrelu": jrelu.rrelu,
        "alpha_dropout": lambda x, key: jrelu.alpha_dropout(x, 0.2, key=key),
    }
    with pytest.raises(ValueError, match=rf"jrelu\.{fname}: key must be a PRNG key, got " + match):
        fn[fname](jnp.ones(4), key=key)


@pytest.mark.parametrize("shape", [(2,), (4,)])
def test_legacy_keys_of_every_implementation_shape_are_accepted(shape):
    key = jnp.arange(1, 1 + shape[0], dtype=jnp.uint32)
    slopes = _slopes(key, 1000, 0.1, 0.3)
    assert slopes.min() >= 0.1 - 1e-7 and slopes.max() <= 0.3 + 1e-7 and np.std(slopes) > 0.03


# --------------------------------------------------------------------------------------------------
# Gradients with respect to a traced rate (alpha_dropout) and traced bounds (rrelu)
# --------------------------------------------------------------------------------------------------


def _affine64(p):
    """alpha dropout's (scale, shift, dropped) in float64, from the formula."""
    a = 1 / np.sqrt((1 - p) * (1 + p * S * S))
    return a, a * S * p, -a * S * (1 - p)


@pytest.mark.parametrize("dims", [(), (0,)], ids=["elementwise", "shared-along-rows"])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_alpha_dropout_rate_gradient_is_pathwise(rate, dims):
    """d/drate with the mask held fixed, against central differences of the float64 affine map."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 300))
    w = rng.normal(size=x.shape)
    key = jax.random.key(4)
    with jax.enable_x64(True):
        xj, wj = jnp.asarray(x), jnp.asarray(w)

        def loss(p):
            return jnp.sum(wj * jrelu.alpha_dropout(xj, p, key=key, broadcast_dims=dims))

        grad = float(jax.grad(loss)(jnp.float64(rate)))
        tangent = float(jax.jvp(loss, (jnp.float64(rate),), (jnp.float64(1.0),))[1])
        y = np.asarray(jrelu.alpha_dropout(xj, jnp.float64(rate), key=key, broadcast_dims=dims))
    kept = np.abs(y - _affine64(rate)[2]) > 1e-9  # the mask, read off the output
    if dims:
        assert np.all(kept == kept[:1])  # one mask entry per column
    n = kept[0].size if dims else kept.size
    assert abs((1 - kept.mean()) - rate) < 5 * np.sqrt(rate * (1 - rate) / n) + 1e-12

    def f(p):
        a, b, d = _affine64(p)
        return np.sum(w * np.where(kept, a * x + b, d))

    h = 1e-6
    fd = (f(rate + h) - f(rate - h)) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-7, abs=1e-6)
    assert tangent == pytest.approx(fd, rel=1e-7, abs=1e-6)
    # float32, traced under jit: the same derivative to float32 accuracy.
    g32 = jax.jit(
        jax.grad(
            lambda p: jnp.sum(
                jnp.asarray(w, jnp.float32)
                * jrelu.alpha_dropout(jnp.asarray(x, jnp.float32), p, key=key, broadcast_dims=dims)
            )
        )
    )(jnp.float32(rate))
    scale = np.sum(np.abs(w)) * (1 + np.max(np.abs(x)))  # the size of the terms summed
    assert abs(float(g32) - fd) < 1e-5 * scale


def test_alpha_dropout_rate_gradient_at_rate_one_is_infinite_not_zero():
    """Everything is dropped at rate 1, to alpha' sqrt((1 - p) / (1 + p alpha'^2)), whose left
    derivative at p = 1 is +inf."""
    x = jnp.linspace(-2.0, 2.0, 7)
    _, t = jax.jvp(
        lambda p: jrelu.alpha_dropout(x, p, key=jax.random.key(0)), (jnp.float32(1.0),), (1.0,)
    )
    assert np.all(np.isposinf(np.asarray(t)))


def test_alpha_dropout_rate_gradient_is_nan_at_a_nan_input():
    x = jnp.array([np.nan, 1.0, -1.0, 0.5] * 8)
    _, t = jax.jvp(
        lambda p: jrelu.alpha_dropout(x, p, key=jax.random.key(0)), (jnp.float32(0.5),), (1.0,)
    )
    t = np.asarray(t)
    assert np.all(np.isnan(t[::4])) and np.all(np.isfinite(t[1::4]))


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(0.1, 0.3), (-0.2, 0.1), (0.0, 0.5)],
    ids=["positive", "negative", "from-zero"],
)
@pytest.mark.parametrize("with_key", [False, True], ids=["eval", "train"])
def test_rrelu_bound_gradients_match_finite_differences(lower, upper, with_key):
    """d/dlower and d/dupper, by grad and by jvp, against central differences of the float64
    forward pass (with a key the draws do not depend on the bounds, so the differences hold them)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    x[:3] = [0.0, -0.0, 1e-3]  # the kink
    w = rng.normal(size=x.shape)
    key = jax.random.key(9) if with_key else None
    with jax.enable_x64(True):
        xj, wj = jnp.asarray(x), jnp.asarray(w)

        def loss(lo, up):
            return jnp.sum(wj * jrelu.rrelu(xj, lo, up, key=key))

        lo, up = jnp.float64(lower), jnp.float64(upper)
        grads = jax.grad(loss, argnums=(0, 1))(lo, up)
        jvps = (
            jax.jvp(lambda v: loss(v, up), (lo,), (jnp.float64(1.0),))[1],
            jax.jvp(lambda v: loss(lo, v), (up,), (jnp.float64(1.0),))[1],
        )
        h = 1e-6
        fds = (
            (float(loss(lower + h, upper)) - float(loss(lower - h, upper))) / (2 * h),
            (float(loss(lower, upper + h)) - float(loss(lower, upper - h))) / (2 * h),
        )
    if not with_key:  # the mean slope: each bound carries half of sum(w x) over x <= 0
        half = 0.5 * np.sum(np.where(x > 0, 0.0, w * x))
        assert fds == pytest.approx((half, half), rel=1e-6)
    for g, t, fd in zip(grads, jvps, fds, strict=True):
        assert float(g) == pytest.approx(fd, rel=1e-6, abs=1e-6)
        assert float(t) == pytest.approx(fd, rel=1e-6, abs=1e-6)
