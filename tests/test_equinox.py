"""jrelu.equinox: PReLU, RReLU and AlphaDropout as Equinox modules, and the functions used as they are.

* Training with ``eqx.filter_jit`` / ``eqx.filter_grad``: a PReLU learns a teacher's slopes; one step of
  a conv model equals the same step with a hand-written ``jnp.where`` PReLU.
* ``jax.vmap`` over a batch against a float64 NumPy reference, ``eqx.filter_vmap`` over an ensemble.
* ``jrelu.weight_decay_mask`` with optax on an Equinox model: the slopes are not decayed.
* Parity with ``eqx.nn.PReLU`` (values everywhere, gradients off the kink; at 0 the documented
  difference), in an ``eqx.nn.MLP`` too.
* RReLU / AlphaDropout: bit-equal to the functions with the same key, statistics against the
  formulas, inference mode, ``eqx.nn.Sequential`` key splitting, per-example keys under vmap.
* The stateless functions in ``eqx.nn.MLP`` / ``eqx.nn.Lambda`` against ``jax.nn``; hashable
  ``jrelu.get`` activations give one ``filter_jit`` trace for identical models.
* Errors, imports, Equinox's strict settings (float64 under ``jax_enable_x64``), the README's and the
  guide's code (examples/snippets).
"""

from __future__ import annotations

import functools
import pathlib
import runpy
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

eqx = pytest.importorskip("equinox")
optax = pytest.importorskip("optax")

import jrelu  # noqa: E402
from jrelu import equinox as jeqx  # noqa: E402

KEY = jax.random.key(0)


def _optax(fn, *args):
    # optax's Adam bias correction raises a Python float to an int32 step count, which strict dtype
    # promotion refuses (optax's code, not jrelu's): only optax runs under standard promotion; the
    # models, forward and backward, stay strict.
    with jax.numpy_dtype_promotion("standard"):
        return fn(*args)


# SELU's constants to full precision (Klambauer et al.), independent of jrelu's own.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _ref_prelu(x, slope, axis):
    """float64 NumPy PReLU with one slope per channel on ``axis`` (or one shared slope)."""
    x = np.asarray(x, np.float64)
    a = np.asarray(slope, np.float64)
    if a.ndim:
        shape = [1] * x.ndim
        shape[axis] = a.size
        a = a.reshape(shape)
    return np.where(x > 0, x, a * x)


# --------------------------------------------------------------------------------------------------
# PReLU: values, layout, vmap
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "axis"), [((3, 4, 5), 0), ((4, 3, 5), 1), ((4, 5, 3), -1)])
def test_prelu_per_channel_vmap_matches_float64(shape, axis):
    act = jeqx.PReLU(3, axis=axis, init=0.25)
    act = eqx.tree_at(lambda m: m.negative_slope, act, jnp.array([0.1, -0.5, 2.0]))
    xb = jax.random.normal(KEY, (6, *shape))
    y = jax.vmap(act)(xb)
    ref = np.stack([_ref_prelu(x, [0.1, -0.5, 2.0], axis) for x in np.asarray(xb)])
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=0)
    assert y.dtype == jnp.float32
    # The slope's gradient, summed over the batch and every non-channel axis: sum of x where x <= 0.
    g = jax.grad(lambda m: jax.vmap(m)(xb).sum())(act).negative_slope
    xs = np.moveaxis(np.asarray(xb, np.float64), axis + 1 if axis >= 0 else axis, -1)
    np.testing.assert_allclose(g, np.where(xs <= 0, xs, 0).reshape(-1, 3).sum(0), rtol=1e-5)


def test_prelu_shared_slope_any_shape_and_scalars():
    act = jeqx.PReLU(init=0.3)
    assert act.negative_slope.shape == () and act.axis is None
    for shape in [(), (5,), (2, 3, 4)]:
        x = jax.random.normal(KEY, shape)
        np.testing.assert_allclose(act(x), _ref_prelu(x, 0.3, None), rtol=1e-6)


def test_prelu_filter_vmap_ensemble():
    """An ensemble of models built and run with eqx.filter_vmap: each member keeps its own slopes."""

    def make(key):
        return eqx.nn.Sequential([eqx.nn.Linear(4, 3, key=key), jeqx.PReLU(3)])

    keys = jax.random.split(KEY, 5)
    ensemble = eqx.filter_vmap(make)(keys)
    assert ensemble.layers[1].negative_slope.shape == (5, 3)
    ensemble = eqx.tree_at(
        lambda m: m.layers[1].negative_slope, ensemble, jnp.linspace(-1, 1, 15).reshape(5, 3)
    )
    x = jax.random.normal(jax.random.key(1), (5, 4))
    y = eqx.filter_vmap(lambda m, x: m(x))(ensemble, x)
    for i in range(5):
        lin = make(keys[i]).layers[0]
        h = np.asarray(lin.weight, np.float64) @ np.asarray(x[i], np.float64) + np.asarray(
            lin.bias, np.float64
        )
        ref = _ref_prelu(h, np.linspace(-1, 1, 15).reshape(5, 3)[i], 0)
        np.testing.assert_allclose(y[i], ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def test_training_recovers_teacher_slopes():
    teacher = np.array([0.1, 0.5, -0.2])
    x = jax.random.normal(KEY, (64, 3, 4, 4))
    y = jnp.asarray(np.stack([_ref_prelu(xi, teacher, 0) for xi in np.asarray(x)]), jnp.float32)
    model = jeqx.PReLU(3)
    tx = optax.adam(0.05)
    opt_state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def loss_fn(model):
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    @eqx.filter_jit
    def step(model, opt_state):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = _optax(tx.update, grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    first = float(loss_fn(model))
    for _ in range(200):
        model, opt_state, _ = step(model, opt_state)
    assert float(loss_fn(model)) < first / 1000
    np.testing.assert_allclose(model.negative_slope, teacher, atol=0.02)


class _HandPReLU(eqx.Module):
    """The PReLU one would write by hand: jnp.where, slopes broadcast over (C, H, W)."""

    negative_slope: jax.Array

    def __call__(self, x, *, key=None):
        return jnp.where(x > 0, x, self.negative_slope[:, None, None] * x)


def _conv_model(act):
    k1, k2 = jax.random.split(jax.random.key(3))
    return eqx.nn.Sequential(
        [eqx.nn.Conv2d(2, 4, 3, padding=1, key=k1), act, eqx.nn.Conv2d(4, 1, 1, key=k2)]
    )


@pytest.mark.slow
def test_one_step_equals_hand_written_prelu():
    slopes = jnp.array([0.25, 0.1, -0.3, 0.5])
    ours = _conv_model(eqx.tree_at(lambda a: a.negative_slope, jeqx.PReLU(4), slopes))
    hand = _conv_model(_HandPReLU(slopes))
    x = jax.random.normal(jax.random.key(4), (8, 2, 6, 6))
    y = jax.random.normal(jax.random.key(5), (8, 1, 6, 6))

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(model):
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    g_ours, g_hand = grad(ours), grad(hand)
    leaves_o = jax.tree.leaves(eqx.filter(g_ours, eqx.is_array))
    leaves_h = jax.tree.leaves(eqx.filter(g_hand, eqx.is_array))
    assert len(leaves_o) == len(leaves_h) == 5  # 2 conv weights, 2 biases, the slopes
    for a, b in zip(leaves_o, leaves_h, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(g_ours.layers[1].negative_slope).min()) > 0  # the slopes do learn

    def sgd(model, g):
        return eqx.apply_updates(model, jax.tree.map(lambda v: -0.1 * v, g))

    new_o, new_h = sgd(ours, g_ours), sgd(hand, g_hand)
    np.testing.assert_allclose(
        new_o.layers[1].negative_slope, new_h.layers[1].negative_slope, rtol=1e-6
    )


# --------------------------------------------------------------------------------------------------
# weight_decay_mask with optax
# --------------------------------------------------------------------------------------------------


def _decay_once(params, mask):
    """One adamw step with zero gradients: only weight decay moves the parameters."""
    tx = optax.adamw(0.1, weight_decay=0.5, mask=mask)
    grads = jax.tree.map(jnp.zeros_like, params)
    updates, _ = _optax(tx.update, grads, tx.init(params), params)
    return eqx.apply_updates(params, updates)


def test_weight_decay_mask_on_equinox_model():
    k1, k2 = jax.random.split(KEY)
    model = eqx.nn.Sequential(
        [eqx.nn.Linear(2, 3, key=k1), jeqx.PReLU(3, axis=0), eqx.nn.Linear(3, 3, key=k2)]
    )
    model = eqx.nn.Sequential([*model.layers, eqx.nn.PReLU()])  # Equinox's own: same field name
    params = jax.tree.map(lambda p: p + 1.0, eqx.filter(model, eqx.is_array))  # nonzero everywhere
    mask = jrelu.weight_decay_mask(params)
    assert jax.tree.structure(mask) == jax.tree.structure(params)
    assert mask.layers[1].negative_slope is False and mask.layers[3].negative_slope is False
    assert mask.layers[0].weight is True and mask.layers[0].bias is True

    new = _decay_once(params, jrelu.weight_decay_mask)
    for i in (1, 3):  # jrelu's and Equinox's PReLU
        np.testing.assert_array_equal(new.layers[i].negative_slope, params.layers[i].negative_slope)
    np.testing.assert_allclose(new.layers[0].weight, 0.95 * params.layers[0].weight, rtol=1e-6)
    np.testing.assert_allclose(new.layers[2].bias, 0.95 * params.layers[2].bias, rtol=1e-6)
    # Without the mask the slopes decay: the check above has teeth.
    plain = _decay_once(params, None)
    np.testing.assert_allclose(
        plain.layers[1].negative_slope, 0.95 * params.layers[1].negative_slope, rtol=1e-6
    )


# --------------------------------------------------------------------------------------------------
# Parity with eqx.nn.PReLU
# --------------------------------------------------------------------------------------------------


def test_parity_with_eqx_prelu_shared():
    x = jnp.concatenate([jnp.linspace(-5, 5, 101), jnp.array([0.0, -0.0, 1e-30, -1e-30])])
    ours, theirs = jeqx.PReLU(init=0.2), eqx.nn.PReLU(0.2)
    np.testing.assert_array_equal(ours(x), theirs(x))  # values agree everywhere, the kink included

    def grads(m):
        return jax.grad(lambda m, x: m(x).sum(), argnums=(0, 1))(m, x)

    (gm_o, gx_o), (gm_t, gx_t) = grads(ours), grads(theirs)
    np.testing.assert_allclose(gm_o.negative_slope, gm_t.negative_slope, rtol=1e-6)
    off = np.asarray(x != 0)
    np.testing.assert_array_equal(np.asarray(gx_o)[off], np.asarray(gx_t)[off])
    # At x = 0 the documented difference: d/dx is the slope here (PyTorch's), 1 in Equinox.
    np.testing.assert_allclose(np.asarray(gx_o)[~off], 0.2, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(gx_t)[~off], 1.0)


def test_parity_with_eqx_prelu_per_channel():
    slopes = jnp.array([0.1, 0.3, -0.2])
    ours = eqx.tree_at(lambda m: m.negative_slope, jeqx.PReLU(3), slopes)
    theirs = eqx.nn.PReLU(slopes[:, None, None])  # Equinox: you build the broadcast shape yourself
    x = jax.random.normal(KEY, (3, 4, 4))
    np.testing.assert_array_equal(ours(x), theirs(x))
    g_o = jax.grad(lambda m: (m(x) ** 2).sum())(ours).negative_slope
    g_t = jax.grad(lambda m: (m(x) ** 2).sum())(theirs).negative_slope
    np.testing.assert_allclose(g_o, g_t.reshape(3), rtol=1e-6)
    # Half precision: Equinox's output is promoted to the slope's float32; ours stays bfloat16.
    xb = x.astype(jnp.bfloat16)
    assert ours(xb).dtype == jnp.bfloat16 and theirs(xb).dtype == jnp.float32
    np.testing.assert_array_equal(ours(xb), theirs(xb).astype(jnp.bfloat16))


@pytest.mark.slow
def test_parity_in_mlp_learns_one_slope_per_neuron():
    ours = eqx.nn.MLP(3, 2, 8, 2, activation=jeqx.PReLU(), key=KEY)
    theirs = eqx.nn.MLP(3, 2, 8, 2, activation=eqx.nn.PReLU(), key=KEY)
    assert ours.activation.negative_slope.shape == (2, 8)  # MLP vmaps the module: per layer, neuron
    x = jax.random.normal(jax.random.key(1), (16, 3))

    def loss(m):
        return jnp.sum(jax.vmap(m)(x) ** 2)

    np.testing.assert_allclose(jax.vmap(ours)(x), jax.vmap(theirs)(x), rtol=1e-6)
    g_o, g_t = eqx.filter_grad(loss)(ours), eqx.filter_grad(loss)(theirs)
    for a, b in zip(
        jax.tree.leaves(eqx.filter(g_o, eqx.is_array)),
        jax.tree.leaves(eqx.filter(g_t, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------------
# RReLU and AlphaDropout
# --------------------------------------------------------------------------------------------------


def test_rrelu_bit_equal_to_function_and_statistics():
    x = -jnp.abs(jax.random.normal(KEY, (200_000,))) - 0.01
    act = jeqx.RReLU(0.1, 0.4)
    key = jax.random.key(7)
    y = act(x, key=key)
    np.testing.assert_array_equal(y, jrelu.rrelu(x, 0.1, 0.4, key=key))
    slope = np.asarray(y, np.float64) / np.asarray(x, np.float64)
    assert slope.min() >= 0.1 - 1e-6 and slope.max() <= 0.4 + 1e-6
    # U(0.1, 0.4): mean 0.25, variance 0.09 / 12; 5 standard errors.
    assert abs(slope.mean() - 0.25) < 5 * np.sqrt(0.09 / 12 / x.size)
    assert abs(slope.var() - 0.09 / 12) < 0.02 * 0.09 / 12
    # A different key, different slopes; positive inputs pass through.
    assert not np.array_equal(y, act(x, key=jax.random.key(8)))
    np.testing.assert_array_equal(act(jnp.arange(1.0, 5.0), key=key), jnp.arange(1.0, 5.0))


def test_rrelu_inference_is_the_mean_slope():
    x = jnp.array([-2.0, -1.0, 0.0, 3.0])
    ref = np.where(np.asarray(x) > 0, x, (0.1 + 0.4) / 2 * np.asarray(x, np.float64))
    for y in (
        jeqx.RReLU(0.1, 0.4, inference=True)(x),
        jeqx.RReLU(0.1, 0.4)(x, inference=True),  # the call overrides the field
        eqx.nn.inference_mode(jeqx.RReLU(0.1, 0.4))(x),
    ):
        np.testing.assert_allclose(y, ref, rtol=1e-7)
    # ...and inference=False at call time overrides an inference-mode field.
    back = jeqx.RReLU(0.1, 0.4, inference=True)
    np.testing.assert_array_equal(
        back(x, key=KEY, inference=False), jrelu.rrelu(x, 0.1, 0.4, key=KEY)
    )


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.5])
def test_alpha_dropout_bit_equal_and_statistics(rate):
    x = jax.random.normal(KEY, (200_000,))
    drop = jeqx.AlphaDropout(rate)
    key = jax.random.key(11)
    y = drop(x, key=key)
    np.testing.assert_array_equal(y, jrelu.alpha_dropout(x, rate, key=key))
    alpha_p = -SELU_SCALE * SELU_ALPHA
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(np.asarray(y, np.float64), a * alpha_p + b, rtol=0, atol=1e-6)
    kept = np.isclose(
        np.asarray(y, np.float64), a * np.asarray(x, np.float64) + b, rtol=1e-5, atol=1e-6
    )
    assert np.all(dropped | kept)
    # The dropped share is Binomial(n, rate): within 5 standard deviations.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / x.size)
    assert abs(float(y.mean())) < 0.02 and abs(float(y.std()) - 1) < 0.02
    if rate == 0.2:
        np.testing.assert_allclose(a * alpha_p + b, -1.23616, atol=1e-5)  # PyTorch's dropped value


def test_alpha_dropout_inference_and_rate_zero_are_identity():
    x = jax.random.normal(KEY, (5, 3))
    for y in (
        jeqx.AlphaDropout(0.3, inference=True)(x),
        jeqx.AlphaDropout(0.3)(x, inference=True),
        eqx.nn.inference_mode(jeqx.AlphaDropout(0.3))(x),
        jeqx.AlphaDropout(0.0)(x),  # no key needed, as eqx.nn.Dropout(p=0)
    ):
        np.testing.assert_array_equal(y, x)


def test_alpha_dropout_broadcast_dims_drops_whole_channels():
    x = jnp.ones((16, 4, 4))  # (C, H, W)
    y = jeqx.AlphaDropout(0.5, broadcast_dims=(1, 2))(x, key=KEY)
    per_channel = np.asarray(y).reshape(16, -1)
    assert np.all(per_channel == per_channel[:, :1])
    assert 0 < len(set(per_channel[:, 0].tolist())) == 2  # both kept and dropped channels occur


def test_sequential_splits_its_key_and_vmap_takes_per_example_keys():
    k1, k2 = jax.random.split(KEY)
    model = eqx.nn.Sequential(
        [
            eqx.nn.Linear(4, 64, key=k1),
            eqx.nn.Lambda(jrelu.selu),
            jeqx.AlphaDropout(0.2),
            jeqx.RReLU(),
            jeqx.PReLU(64),
            eqx.nn.Linear(64, 2, key=k2),
        ]
    )
    x = jax.random.normal(jax.random.key(1), (4,))
    key = jax.random.key(2)
    # Sequential gives layer i the key jax.random.split(key, n)[i]: the same by hand.
    keys = jax.random.split(key, len(model.layers))
    h = model.layers[0](x)
    h = jax.nn.selu(h)
    np.testing.assert_allclose(h, model.layers[1](model.layers[0](x)), rtol=1e-6)
    h = jrelu.alpha_dropout(h, 0.2, key=keys[2])
    h = jrelu.rrelu(h, key=keys[3])
    h = model.layers[4](h)
    np.testing.assert_allclose(model(x, key=key), model.layers[5](h), rtol=1e-6)
    with pytest.raises(RuntimeError, match="requires a key"):
        model(x)
    inference = eqx.nn.inference_mode(model)
    assert inference.layers[2].inference and inference.layers[3].inference
    inference(x)  # no key needed

    # A batch: one key per example, as for eqx.nn.Dropout; each row equals its own call.
    xb = jax.random.normal(jax.random.key(3), (6, 4))
    kb = jax.random.split(key, 6)
    batched = eqx.filter_jit(lambda m, x, k: jax.vmap(m)(x, key=k))
    yb = batched(model, xb, kb)
    for i in range(6):
        np.testing.assert_allclose(yb[i], model(xb[i], key=kb[i]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(yb[0], batched(model, xb, jax.random.split(jax.random.key(9), 6))[0])


# --------------------------------------------------------------------------------------------------
# The stateless functions as they are
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "peer"),
    [
        (jrelu.elu, jax.nn.elu),
        (jrelu.relu, jax.nn.relu),
        (
            jrelu.get("leaky_relu", negative_slope=0.2),
            functools.partial(jax.nn.leaky_relu, negative_slope=0.2),
        ),
    ],
    ids=["elu", "relu", "get-leaky_relu"],
)
def test_functions_as_mlp_activation_match_jax_nn(ours, peer):
    m_o = eqx.nn.MLP(3, 2, 16, 2, activation=ours, key=KEY)
    m_p = eqx.nn.MLP(3, 2, 16, 2, activation=peer, key=KEY)
    x = jax.random.normal(jax.random.key(1), (32, 3))

    def loss(m):
        return jnp.sum(jax.vmap(m)(x) ** 2)

    np.testing.assert_allclose(jax.vmap(m_o)(x), jax.vmap(m_p)(x), rtol=1e-6, atol=1e-7)
    for a, b in zip(
        jax.tree.leaves(eqx.filter_grad(loss)(m_o)),
        jax.tree.leaves(eqx.filter_grad(loss)(m_p)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_lambda_in_sequential():
    model = eqx.nn.Sequential([eqx.nn.Lambda(jrelu.selu), eqx.nn.Lambda(jrelu.relu6)])
    x = jnp.linspace(-8, 8, 33)
    np.testing.assert_allclose(model(x, key=KEY), jax.nn.relu6(jax.nn.selu(x)), rtol=1e-6)


def test_identical_get_activations_trace_once():
    traces = []

    @eqx.filter_jit
    def apply(model, x):
        traces.append(None)
        return model(x)

    x = jnp.ones(3)
    for _ in range(3):  # three MLPs, each with its own (equal, hashable) Activation object
        apply(
            eqx.nn.MLP(3, 2, 4, 1, activation=jrelu.get("leaky_relu", negative_slope=0.2), key=KEY),
            x,
        )
    assert len(traces) == 1
    # Three lambdas with the same body are three different static values: three traces (the test
    # above has teeth).
    for _ in range(3):
        apply(eqx.nn.MLP(3, 2, 4, 1, activation=lambda v: jrelu.leaky_relu(v, 0.2), key=KEY), x)
    assert len(traces) == 4


# --------------------------------------------------------------------------------------------------
# Equinox's strict settings: dtypes
# --------------------------------------------------------------------------------------------------


def test_strict_settings_are_on():
    assert jax.config.jax_numpy_rank_promotion == "raise"
    assert jax.config.jax_numpy_dtype_promotion == "strict"


def test_float64_under_x64(x64):
    """Equinox's own suites run with jax_enable_x64: slopes default to float64 there, as eqx layers."""
    with x64():
        act = jeqx.PReLU(3)
        assert act.negative_slope.dtype == jnp.float64
        x = -jnp.ones((3, 2), jnp.float64) * 1e-200  # a float64-only magnitude
        np.testing.assert_array_equal(act(x), np.full((3, 2), -0.25e-200))
        # A float32 input keeps its dtype under strict promotion; the slope's gradient stays float64.
        xf = -jnp.ones((3, 2), jnp.float32)
        assert act(xf).dtype == jnp.float32
        g = jax.grad(lambda m: m(xf).astype(jnp.float64).sum())(act)
        assert g.negative_slope.dtype == jnp.float64
        np.testing.assert_array_equal(g.negative_slope, np.full(3, -2.0))
    assert jeqx.PReLU(3, dtype=jnp.bfloat16).negative_slope.dtype == jnp.bfloat16


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: jeqx.PReLU(0), ValueError, r"jrelu.equinox.PReLU: num_channels must be positive"),
        (lambda: jeqx.PReLU(3.0), TypeError, r"num_channels must be None .* or an int"),
        (lambda: jeqx.PReLU(3, axis=(0, 1)), TypeError, r"axis must be an int"),
        (lambda: jeqx.PReLU(init="x"), TypeError, r"init must be a real number"),
        (lambda: jeqx.PReLU(init=float("nan")), ValueError, r"init must be finite"),
        (lambda: jeqx.PReLU(3, dtype=jnp.int32), TypeError, r"dtype must be a floating point"),
        (lambda: jeqx.RReLU(0.5, 0.1), ValueError, r"jrelu.equinox.RReLU: lower must be <= upper"),
        (lambda: jeqx.RReLU(inference="yes"), TypeError, r"RReLU: inference must be True, False"),
        (lambda: jeqx.AlphaDropout(1.5), ValueError, r"jrelu.equinox.AlphaDropout: rate"),
        (lambda: jeqx.AlphaDropout(0.1, broadcast_dims="x"), TypeError, r"broadcast_dims"),
    ],
)
def test_construction_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_call_errors():
    x = jnp.ones((3, 4))
    with pytest.raises(
        RuntimeError, match=r"jrelu.equinox.RReLU requires a key when inference=False"
    ):
        jeqx.RReLU()(x)
    with pytest.raises(RuntimeError, match=r"AlphaDropout requires a key.*inference_mode"):
        jeqx.AlphaDropout(0.1)(x)
    # A batched input to a channels-first module: the message names the shapes and the fix.
    with pytest.raises(
        ValueError, match=r"3 slopes for axis 0, but the input has shape \(8, 3, 4\).*vmap"
    ):
        jeqx.PReLU(3)(jnp.ones((8, 3, 4)))
    with pytest.raises(ValueError, match=r"3 slopes for axis 2.*shape \(3, 4\)"):
        jeqx.PReLU(3, axis=2)(x)
    with pytest.raises(
        TypeError,
        match=r"jrelu.equinox.PReLU: x has integer dtype int32, but prelu needs floating point",
    ):
        jeqx.PReLU(3)(jnp.ones((3, 4), jnp.int32))
    with pytest.raises(TypeError, match=r"jrelu.equinox.RReLU: key"):
        jeqx.RReLU()(x, key=jnp.arange(5, dtype=jnp.float32))
    with pytest.raises(TypeError, match=r"AlphaDropout: inference must be True, False"):
        jeqx.AlphaDropout(0.1)(x, inference=1)


# --------------------------------------------------------------------------------------------------
# Imports and the README
# --------------------------------------------------------------------------------------------------


def test_imports():
    code = (
        "import sys, jrelu; assert 'equinox' not in sys.modules and 'flax' not in sys.modules; "
        "import jrelu.equinox; assert 'flax' not in sys.modules, 'jrelu.equinox imported flax'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # Without Equinox installed: a clear ImportError that says how to install it.
    code = "import sys; sys.modules['equinox'] = None; import jrelu.equinox"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    assert "ImportError: jrelu.equinox needs Equinox" in out.stderr
    assert "pip install 'jrelu[equinox]'" in out.stderr


@pytest.mark.slow
def test_readme_section_runs():
    """The README's Equinox example and the Equinox guide's training loop, run as the files they are
    spliced from (examples/snippets)."""
    snippets = pathlib.Path(__file__).parents[1] / "examples" / "snippets"
    # The README's code is a user's, under JAX's default (standard) dtype promotion, as optax needs.
    with jax.numpy_dtype_promotion("standard"):
        short = runpy.run_path(str(snippets / "readme_equinox.py"))
        train = runpy.run_path(str(snippets / "equinox_train.py"))
    slope = short["grads"].layers[1].negative_slope
    assert slope.shape == (32,) and bool(jnp.all(jnp.isfinite(slope))) and bool(jnp.any(slope != 0))
    assert train["model"].layers[1].negative_slope.shape == (8,)
    baseline = float(jnp.mean(train["y"] ** 2))  # the loss of predicting 0
    assert float(train["loss"]) < baseline, (float(train["loss"]), baseline)
