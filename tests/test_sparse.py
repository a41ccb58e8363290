"""jrelu.sparse: the sparse path is the dense computation, for every supported activation, under jit,
vmap and grad, in both branches of its lax.cond.

Two kinds of evidence, each against the dense jnp computation and a float64 NumPy reference:

* Random float32 data and a bound derived from the summation order. Both paths add the same nonzero
  products ``a[t, k] * w[k, j]`` (the skipped ones are exact zeros); with ``m`` of them, ``u`` the unit
  roundoff and ``gamma(n) = n u / (1 - n u)``, a floating-point sum of ``m`` products in any order is
  within ``gamma(m + 1) * S`` of the exact sum, ``S = sum_k |a[t, k]| |w[k, j]|`` (one rounding per
  product, at most ``m - 1`` roundings on any path of the summation tree, adding an exact zero does not
  round, one final rounding). So ``|sparse - dense| <= 2 gamma(m + 1) S`` and each is within
  ``gamma(m + 2) S`` of the float64 sum of float64 activations (one more rounding: the float32
  activation itself). The same argument gives the gradients' bounds. Each bound is shown to have teeth:
  the result with one active unit dropped, or with only ``capacity`` units gathered, breaks it.
* Exactly representable data (small multiples of 1/4, few enough terms): every product and every sum
  is exact in float32, so the sparse and dense paths must agree bit for bit with each other and with
  float64, forward and backward, whole FFN included.
"""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jrelu
from jrelu import sparse

ACTS = list(sparse.ACTIVATIONS)
TOKENS, HIDDEN, D_OUT = 8, 64, 16
CAPACITY = (
    16  # the compiled capacity: inputs with 16 active units take the sparse branch, 17 the dense
)
U32 = 2.0**-24  # float32's unit roundoff


def gamma(n: int, u: float = U32) -> float:
    return n * u / (1 - n * u)


def pre_activation(name: str, active: int, seed: int, dyadic: bool = False) -> np.ndarray:
    """``h`` (float32, TOKENS rows) with exactly ``active`` units on for some row (units 0 and
    HIDDEN - 1 among them): each on for a random subset of the rows that includes at least one (so the
    union is wider than any row's set), every other unit off for every row. For reglu the gate half decides and the value half is free.
    ``dyadic``: multiples of 1/4 in [-1, 1] instead of normal draws."""
    rng = np.random.default_rng(seed)

    def draw(shape):  # nonzero magnitudes
        return rng.integers(1, 5, size=shape) / 4 if dyadic else np.abs(rng.standard_normal(shape))

    on = np.zeros(HIDDEN, bool)
    on[[0, HIDDEN - 1]] = (
        True  # the first and the last unit: where a wrong padding index would land
    )
    on[rng.choice(np.arange(1, HIDDEN - 1), active - 2, replace=False)] = True
    sign = rng.choice([-1.0, 1.0], size=(TOKENS, HIDDEN))
    sign[rng.integers(0, TOKENS, HIDDEN), np.arange(HIDDEN)] = 1.0  # on for at least one row
    gate = np.where(on, sign, -1.0) * draw((TOKENS, HIDDEN))
    value = rng.choice([-1.0, 1.0], size=(TOKENS, HIDDEN)) * draw((TOKENS, HIDDEN))
    # one unit's output is 0 in every row although its gate opens in row 0, where its value is 0:
    # it is active all the same (its derivative with respect to the value is relu(gate) > 0)
    k = np.flatnonzero(on)[0]
    gate[1:, k] = -np.abs(gate[1:, k])
    value[0, k] = 0.0
    h = np.concatenate([value, gate], -1) if name == "reglu" else gate
    return h.astype(np.float32)


def union(name: str, h: np.ndarray) -> np.ndarray:
    """The units active for some row, from the float64 reference (reglu: the gate is positive)."""
    h = np.asarray(h, np.float64)
    if name == "reglu":
        on = h[..., HIDDEN:] > 0
    else:
        on = jrelu.FUNCTIONS[name].value(h) != 0
    return np.any(on, axis=tuple(range(h.ndim - 1)))


def value64(name: str, h) -> np.ndarray:
    return jrelu.FUNCTIONS[name].value(np.asarray(h, np.float64))


def forward_backward(f):
    """``jit((h, w, g) -> (f(h, w), d<f(h, w), g>/dh, d<f(h, w), g>/dw))``: one program for both."""

    def run(h, w, g):
        y, vjp = jax.vjp(f, h, w)
        return (y, *vjp(g))

    return jax.jit(run)


def within(got, want, bound) -> bool:
    return bool(np.all(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)) <= bound))


@pytest.mark.parametrize("name", ACTS)
def test_down_projection_and_gradients_are_dense_up_to_the_summation_bound(name):
    """Both branches (12 and 16 active units: sparse, with and without unused slots; 17: the dense
    fallback), under jit and under vmap (where
    the cond is a select and each example has its own union), value and gradients."""
    act = jrelu.get(name)
    dense = forward_backward(lambda h, w: act(h) @ w)
    fb = forward_backward(lambda h, w: sparse.down_projection(h, w, name, capacity=CAPACITY))
    rng = np.random.default_rng(1)
    w = rng.standard_normal((HIDDEN, D_OUT)).astype(np.float32)
    g = rng.standard_normal((TOKENS, D_OUT)).astype(np.float32)
    counts = (CAPACITY - 4, CAPACITY, CAPACITY + 1)
    hs = np.stack([pre_activation(name, n, seed=n) for n in counts])
    batched = jax.jit(jax.vmap(fb, in_axes=(0, None, None)))(hs, w, g)
    w64, g64 = w.astype(np.float64), g.astype(np.float64)
    for i, h in enumerate(hs):
        on = union(name, h)
        np.testing.assert_array_equal(sparse.active(h, name), on)
        m = int(on.sum())
        assert m == counts[i]
        # float64: y = a w; dL/dw = a^T g (TOKENS terms); dL/dh = f'(h) (g w^T) (D_OUT terms),
        # where for reglu both halves of unit k read (g w^T)[:, k]
        a64, d64 = value64(name, h), jrelu.FUNCTIONS[name].derivative(np.asarray(h, np.float64))
        tile = 2 if name == "reglu" else 1
        S = np.abs(a64) @ np.abs(w64)
        S_w = np.abs(a64.T) @ np.abs(g64)
        S_h = np.abs(d64) * np.tile(np.abs(g64) @ np.abs(w64.T), tile)
        ref = (a64 @ w64, d64 * np.tile(g64 @ w64.T, tile), a64.T @ g64)
        want = dense(h, w, g)
        # the dense computation itself meets the float64 reference within its bound
        for got, r, b in zip(
            want,
            ref,
            (gamma(m + 2) * S, gamma(D_OUT + 2) * S_h, gamma(TOKENS + 2) * S_w),
            strict=True,
        ):
            assert within(got, r, b)
        bounds = (2 * gamma(m + 1) * S, 2 * gamma(D_OUT + 2) * S_h, 2 * gamma(TOKENS + 1) * S_w)
        for how, got in (("jit", fb(h, w, g)), ("vmap", [b[i] for b in batched])):
            for what, a, b, bound in zip(("y", "dh", "dw"), got, want, bounds, strict=True):
                assert a.shape == b.shape and a.dtype == b.dtype
                assert within(a, b, bound), (how, what, m)
            # a skipped unit's gradient is exactly the dense one: 0
            assert np.all(np.asarray(got[1])[:, np.tile(~on, tile)] == 0)
        # The bound has teeth: leaving out the active unit of largest contribution breaks it, and so
        # does gathering only the first CAPACITY units (the sparse branch without the fallback).
        k = int(np.argmax(np.where(on, np.abs(a64).sum(0) * np.abs(w64).sum(1), -1.0)))
        assert not within(ref[0] - np.outer(a64[:, k], w64[k]), want[0], bounds[0])
        first = np.flatnonzero(on)[:CAPACITY]
        if m > CAPACITY:
            assert not within(a64[:, first] @ w64[first], want[0], bounds[0])


@pytest.mark.parametrize("name", ACTS)
def test_ffn_with_exact_arithmetic_is_bitwise_dense(name):
    """Multiples of 1/4 in [-1, 1] and biases of +-9 (16 or 17 units on for every token: both
    branches): every product and sum is exact in float32 (at most 23 significant bits: e.g.
    squared_relu's 17 active units times values up to 17^2 in steps of 2^-10), so the whole FFN and its
    gradients (with respect to all five arguments) are the dense ones bit for bit, and its value is the
    float64 one."""
    d_model = 8
    rng = np.random.default_rng(9)

    def q(*shape):
        return (rng.integers(-4, 5, size=shape) / 4).astype(np.float32)

    width = 2 * HIDDEN if name == "reglu" else HIDDEN
    x, w_up, w_down, b_down, g = (
        q(TOKENS, d_model),
        q(d_model, width),
        q(HIDDEN, d_model),
        q(d_model),
        q(TOKENS, d_model),
    )
    act = jrelu.get(name)

    def grads(f):
        def run(*args):
            y, vjp = jax.vjp(f, *args)
            return (y, *vjp(g))

        return jax.jit(run)

    dense = grads(
        lambda x, w_up, w_down, b_up, b_down: act(x @ w_up + b_up[None]) @ w_down + b_down[None]
    )
    fb = grads(
        lambda x, w_up, w_down, b_up, b_down: sparse.ffn(
            x, w_up, w_down, name, capacity=CAPACITY, b_up=b_up, b_down=b_down
        )
    )
    for n in (CAPACITY, CAPACITY + 1):
        b_up = np.zeros(width, np.float32)  # the value half of reglu has no bias
        b_up[width - HIDDEN :] = -9.0  # |x @ w_up| <= 8: off for every token ...
        b_up[width - HIDDEN + rng.choice(HIDDEN, n, replace=False)] = 9.0  # ... or on for every one
        args = (x, w_up, w_down, b_up, b_down)
        h64 = x.astype(np.float64) @ w_up + b_up
        assert union(name, h64).sum() == n
        want, got = dense(*args), fb(*args)
        np.testing.assert_array_equal(got[0], value64(name, h64) @ w_down + b_down)
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}, {n} active units")


def test_nan_propagates_and_a_skipped_inf_row_does_not():
    """A NaN activation counts as active (NaN out, as the dense product); an infinite weight in a
    skipped row makes the dense product NaN (0 * inf) and is absent from the sparse one, as the
    docstring says."""
    f = jax.jit(lambda h, w: sparse.down_projection(h, w, capacity=2))
    h = np.array([[1.0, -1.0, np.nan, -2.0], [1.0, -1.0, 2.0, -2.0]], np.float32)
    w = np.ones((4, 2), np.float32)
    w[3] = np.inf  # unit 3 is off
    got = f(h, w)
    assert np.all(np.isnan(got[0]))
    np.testing.assert_array_equal(got[1], [3.0, 3.0])
    assert np.all(np.isnan(jrelu.relu(h) @ w))


def test_float64(x64):
    with x64():
        h = pre_activation("squared_relu", CAPACITY, seed=10).astype(np.float64)
        w = np.random.default_rng(11).standard_normal((HIDDEN, D_OUT))
        got = jax.jit(lambda h, w: sparse.down_projection(h, w, "squared_relu", capacity=CAPACITY))(
            h, w
        )
        assert got.dtype == jnp.float64
        a64 = value64("squared_relu", h)
        assert within(got, a64 @ w, gamma(CAPACITY + 2, 2.0**-53) * (np.abs(a64) @ np.abs(w)))


# --------------------------------------------------------------------------------------------------
# In Flax and Equinox modules: the kernels are the modules' own parameters
# --------------------------------------------------------------------------------------------------


def _dyadic_problem(seed: int = 12):
    rng = np.random.default_rng(seed)
    x = (rng.integers(-4, 5, size=(2, 3, 8)) / 4).astype(np.float32)  # (batch, seq, d_model)
    w_up = (rng.integers(-4, 5, size=(8, HIDDEN)) / 4).astype(np.float32)
    w_up[:, : 3 * HIDDEN // 4] = -np.abs(w_up[:, : 3 * HIDDEN // 4])
    x = np.abs(x)  # with w_up <= 0 there, 3/4 of the units are off for every token
    w_down = (rng.integers(-4, 5, size=(HIDDEN, 8)) / 4).astype(np.float32)
    capacity = int(union("relu", x @ w_up.astype(np.float64)).sum())
    return x, w_up, w_down, capacity


def test_in_an_nnx_module():
    x, w_up, w_down, capacity = _dyadic_problem()

    class FFN(nnx.Module):
        def __init__(self, sparse_path: bool):
            self.up = nnx.Linear(8, HIDDEN, use_bias=False, rngs=nnx.Rngs(0))
            self.down = nnx.Linear(HIDDEN, 8, use_bias=False, rngs=nnx.Rngs(1))
            self.up.kernel[...], self.down.kernel[...] = w_up, w_down
            self.sparse_path = sparse_path

        def __call__(self, x):
            if self.sparse_path:
                up, dn = self.up.kernel[...], self.down.kernel[...]
                return sparse.ffn(x, up, dn, jrelu.relu, capacity=capacity)
            return self.down(jrelu.relu(self.up(x)))

    def run(model):
        loss = lambda m: jnp.sum(m(x) ** 2)  # noqa: E731
        return nnx.jit(nnx.value_and_grad(loss))(model)

    (ls, gs), (ld, gd) = run(FFN(True)), run(FFN(False))
    assert float(ls) == float(ld)
    for a, b in zip(jax.tree.leaves(gs), jax.tree.leaves(gd), strict=True):
        np.testing.assert_array_equal(a, b)


def test_in_a_linen_module():
    x, w_up, w_down, capacity = _dyadic_problem()

    class FFN(nn.Module):
        sparse_path: bool

        @nn.compact
        def __call__(self, x):
            up = self.param("up", lambda _: jnp.asarray(w_up))
            dn = self.param("down", lambda _: jnp.asarray(w_down))
            if self.sparse_path:
                return sparse.ffn(x, up, dn, "relu", capacity=capacity)
            return jrelu.relu(x @ up) @ dn

    params = FFN(True).init(jax.random.key(0), x)
    grads = [
        jax.jit(jax.grad(lambda p, s=s: jnp.sum(FFN(s).apply(p, x) ** 2)))(params)
        for s in (True, False)
    ]
    for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
        np.testing.assert_array_equal(a, b)


def test_in_an_equinox_module():
    x, w_up, w_down, capacity = _dyadic_problem()

    class FFN(eqx.Module):
        w_up: jax.Array  # (in, out), as x @ w: the layout the sparse gather reads by rows
        w_down: jax.Array
        sparse_path: bool = eqx.field(static=True)

        def __call__(self, x):
            if self.sparse_path:
                return sparse.ffn(x, self.w_up, self.w_down, "relu", capacity=capacity)
            return jrelu.relu(x @ self.w_up) @ self.w_down

    def loss(model):
        return jnp.sum(model(x) ** 2)

    gs, gd = (eqx.filter_jit(eqx.filter_grad(loss))(FFN(w_up, w_down, s)) for s in (True, False))
    np.testing.assert_array_equal(gs.w_up, gd.w_up)
    np.testing.assert_array_equal(gs.w_down, gd.w_down)


# --------------------------------------------------------------------------------------------------
# Bad input: a clear error naming the function, the argument, the value and the fix
# --------------------------------------------------------------------------------------------------

H4 = np.ones((2, 4), np.float32)
W4 = np.ones((4, 3), np.float32)
ERRORS = [
    (
        lambda: sparse.down_projection(H4, W4, "gelu", capacity=2),
        ValueError,
        r"^jrelu\.sparse\.down_projection: activation must be one of 'relu', .*got 'gelu'",
    ),
    (
        lambda: sparse.down_projection(H4, W4, jax.nn.relu, capacity=2),
        ValueError,
        r"activation must be one of .*got 'relu'; the sparse path skips",
    ),
    (
        lambda: sparse.down_projection(H4, W4, capacity=0),
        ValueError,
        r"^jrelu\.sparse\.down_projection: capacity must be in \[1, 4\] .*got 0; pass",
    ),
    (
        lambda: sparse.down_projection(H4, W4, capacity=5),
        ValueError,
        r"capacity must be in \[1, 4\]",
    ),
    (
        lambda: sparse.down_projection(H4, W4, capacity=2.0),
        TypeError,
        r"^jrelu\.sparse\.down_projection: capacity must be a Python int .*got float 2\.0",
    ),
    (
        lambda: sparse.down_projection(H4, W4, capacity=True),
        TypeError,
        r"capacity must be a Python int",
    ),
    (
        lambda: sparse.down_projection(H4.astype(np.int32), W4, capacity=2),
        TypeError,
        r"^jrelu\.sparse\.down_projection: h has dtype int32; .*h\.astype\(jnp\.float32\)",
    ),
    (
        lambda: sparse.down_projection([[1.0]], W4, capacity=2),
        TypeError,
        r"h must be a floating-point array, got list",
    ),
    (
        lambda: sparse.down_projection(H4, W4[:3], capacity=2),
        ValueError,
        r"^jrelu\.sparse\.down_projection: w_down has shape \(3, 3\), but h of shape \(2, 4\) feeds 4 "
        r"hidden units \(relu\); w_down must be \(4, out\)",
    ),
    (
        lambda: sparse.down_projection(H4, W4[None], capacity=2),
        ValueError,
        r"w_down must have 2 axes",
    ),
    (
        lambda: sparse.down_projection(np.ones((2, 5), np.float32), W4, "reglu", capacity=2),
        ValueError,
        r"reglu splits the last axis of h into two equal halves .*\(2, 5\)",
    ),
    (
        lambda: sparse.active(np.float32(1.0), "relu"),
        ValueError,
        r"^jrelu\.sparse\.active: h is a scalar",
    ),
    (
        lambda: sparse.ffn(H4, np.ones((4, 4), np.float32), W4, "reglu", capacity=2),
        ValueError,
        r"^jrelu\.sparse\.ffn: w_up has shape \(4, 4\); .* it must be \(4, 8\) \(value half, then gate",
    ),
    (
        lambda: sparse.ffn(
            H4, np.ones((4, 4), np.float32), W4, capacity=2, b_up=np.ones(3, np.float32)
        ),
        ValueError,
        r"^jrelu\.sparse\.ffn: b_up must have shape \(4,\), got \(3,\)",
    ),
]


@pytest.mark.parametrize("call, exc, match", ERRORS, ids=range(len(ERRORS)))
def test_bad_input_raises_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_capacity_must_be_static_under_jit():
    f = jax.jit(lambda h, c: sparse.down_projection(h, W4, capacity=c))
    with pytest.raises(TypeError, match=r"capacity must be a Python int .*got .*Tracer"):
        f(H4, 2)
