"""Training with the modules: slopes that learn, weight_decay_mask with optax, compiled memory, docs.

* A short optax run in each API: PReLU's slopes move to the teacher's and the loss falls.
* ``jrelu.weight_decay_mask`` with ``optax.adamw``: slopes are not decayed, kernels are (and without
  the mask the slopes would be).
* What a compiled training step keeps (XLA's ``memory_analysis``, per layer, in activation-sized
  tensors beyond an identity network): AlphaDropout and RReLU keep nothing (the key re-draws the mask);
  a learned PReLU keeps x plus a 1-bit mask, against two tensors for Flax's ``nn.PReLU``.
* The README's linen and nnx examples and the Flax guide's training loops run (examples/snippets).
"""

from __future__ import annotations

import functools
import pathlib
import runpy

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jrelu
from jrelu import linen as jl
from jrelu import nnx as jx


@pytest.fixture(autouse=True)
def _optax_promotes_dtypes():
    # optax's Adam bias correction raises a Python float to an int32 step count, which strict dtype
    # promotion refuses (optax's code, not jrelu's): these tests train with it, so standard dtype
    # promotion here; rank promotion stays "raise".
    with jax.numpy_dtype_promotion("standard"):
        yield


TEACHER = np.array([-0.3, 0.05, 0.6, 0.9], np.float32)


def _data():
    x = jax.random.normal(jax.random.key(0), (256, 4))
    return x, jrelu.prelu(x, TEACHER)


# --------------------------------------------------------------------------------------------------
# Slopes learn
# --------------------------------------------------------------------------------------------------


def test_linen_prelu_learns_the_teachers_slopes():
    x, target = _data()
    model = jl.PReLU(axis=-1)
    params = model.init(jax.random.key(1), x)["params"]
    tx = optax.adamw(0.05, weight_decay=0.1, mask=jrelu.weight_decay_mask)
    opt_state = tx.init(params)

    def loss_fn(p):
        return jnp.mean((model.apply({"params": p}, x) - target) ** 2)

    @jax.jit
    def step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    first = float(loss_fn(params))
    for _ in range(150):
        params, opt_state, _ = step(params, opt_state)
    assert float(loss_fn(params)) < first / 1000
    np.testing.assert_allclose(params["negative_slope"], TEACHER, atol=0.02)


def test_nnx_prelu_learns_the_teachers_slopes():
    x, target = _data()
    model = jx.PReLU(4)
    opt = nnx.Optimizer(
        model, optax.adamw(0.05, weight_decay=0.1, mask=jrelu.weight_decay_mask), wrt=nnx.Param
    )

    def loss_fn(m):
        return jnp.mean((m(x) - target) ** 2)

    @nnx.jit
    def step(m, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        opt.update(m, grads)
        return loss

    first = float(loss_fn(model))
    for _ in range(150):
        step(model, opt)
    assert float(loss_fn(model)) < first / 1000
    np.testing.assert_allclose(model.negative_slope[...], TEACHER, atol=0.02)


# --------------------------------------------------------------------------------------------------
# weight_decay_mask
# --------------------------------------------------------------------------------------------------


def _decay_once(params, mask):
    """One adamw step with zero gradients: only weight decay moves the parameters."""
    tx = optax.adamw(0.1, weight_decay=0.5, mask=mask)

    @jax.jit
    def step(params):
        grads = jax.tree.map(jnp.zeros_like, params)
        updates, _ = tx.update(grads, tx.init(params), params)
        return optax.apply_updates(params, updates)

    return step(params)


class _MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jl.PReLU(axis=-1)(nn.Dense(3)(x))
        x = nn.PReLU()(nn.Dense(3)(x))  # Flax's own PReLU names its slope the same way
        return nn.LayerNorm()(x)


def test_weight_decay_mask_linen():
    params = _MLP().init(jax.random.key(0), jnp.ones((1, 2)))["params"]
    mask = jrelu.weight_decay_mask(params)
    assert mask["PReLU_0"] == {"negative_slope": False}
    assert mask["Dense_0"] == {"kernel": True, "bias": True}
    assert mask["LayerNorm_0"] == {"scale": True, "bias": True}
    assert jax.tree.structure(mask) == jax.tree.structure(params)

    params = jax.tree.map(lambda p: p + 1.0, params)  # nonzero everywhere
    new = _decay_once(params, jrelu.weight_decay_mask)
    for layer in ("PReLU_0", "PReLU_1"):  # jrelu's and Flax's
        np.testing.assert_array_equal(new[layer]["negative_slope"], params[layer]["negative_slope"])
    np.testing.assert_allclose(new["Dense_0"]["kernel"], 0.95 * params["Dense_0"]["kernel"])
    np.testing.assert_allclose(new["Dense_0"]["bias"], 0.95 * params["Dense_0"]["bias"])
    # Without the mask the slopes decay: the test above has teeth.
    plain = _decay_once(params, None)
    np.testing.assert_allclose(
        plain["PReLU_0"]["negative_slope"], 0.95 * params["PReLU_0"]["negative_slope"]
    )
    # A wider choice: biases and norm scales too.
    wide = _decay_once(
        params, lambda p: jrelu.weight_decay_mask(p, exclude=("negative_slope", "bias", "scale"))
    )
    np.testing.assert_array_equal(wide["Dense_0"]["bias"], params["Dense_0"]["bias"])
    np.testing.assert_array_equal(wide["LayerNorm_0"]["scale"], params["LayerNorm_0"]["scale"])
    np.testing.assert_allclose(wide["Dense_0"]["kernel"], 0.95 * params["Dense_0"]["kernel"])


def test_weight_decay_mask_nnx():
    model = nnx.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), jx.PReLU(3), nnx.PReLU())
    mask = jrelu.weight_decay_mask(nnx.state(model, nnx.Param))
    flat = {
        tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path): v
        for path, v in jax.tree_util.tree_flatten_with_path(mask)[0]
    }
    assert {path[-2]: v for path, v in flat.items()} == {
        "kernel": True,
        "bias": True,
        "negative_slope": False,
    }
    assert sum(not v for v in flat.values()) == 2  # jrelu's and Flax's slopes

    slope0 = model.layers[1].negative_slope[...]
    kernel0 = model.layers[0].kernel[...]
    opt = nnx.Optimizer(
        model, optax.adamw(0.1, weight_decay=0.5, mask=jrelu.weight_decay_mask), wrt=nnx.Param
    )
    opt.update(model, jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param)))
    np.testing.assert_array_equal(model.layers[1].negative_slope[...], slope0)
    np.testing.assert_allclose(model.layers[0].kernel[...], 0.95 * kernel0)


def test_weight_decay_mask_errors():
    with pytest.raises(TypeError, match=r"^jrelu.weight_decay_mask: exclude must be a collection"):
        jrelu.weight_decay_mask({}, exclude="bias")
    with pytest.raises(TypeError, match=r"exclude must hold strings"):
        jrelu.weight_decay_mask({}, exclude=(1,))


# --------------------------------------------------------------------------------------------------
# Compiled memory
# --------------------------------------------------------------------------------------------------

BATCH, WIDTH, DEPTHS = 64, 128, (2, 4)


def _temp_bytes(make_act, depth, rng: bool) -> int:
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(depth):
                x = make_act()(nn.Dense(WIDTH)(x))
            return x

    model = MLP()
    x = jax.ShapeDtypeStruct((BATCH, WIDTH), jnp.float32)
    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)
    params = jax.eval_shape(model.init, jax.random.key(0), x)

    def loss(p, x, k):
        y = model.apply(p, x, rngs={"dropout": k} if rng else None)
        return jnp.sum(y**2)

    compiled = jax.jit(jax.grad(loss)).lower(params, x, key).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


@functools.cache
def _slope(make_act, rng: bool) -> float:
    lo, hi = DEPTHS
    return (_temp_bytes(make_act, hi, rng) - _temp_bytes(make_act, lo, rng)) / (hi - lo)


def _extra_tensors(make_act, rng=False) -> float:
    """Activation-sized tensors per layer beyond the identity network's, for a linen MLP."""
    return (_slope(make_act, rng) - _slope(_Identity, rng)) / (BATCH * WIDTH * 4)


class _Identity(nn.Module):
    def __call__(self, x):
        return x


class _NaiveAlphaDropout(nn.Module):
    """The obvious implementation (a stored Bernoulli mask), for comparison."""

    @nn.compact
    def __call__(self, x):
        keep = jax.random.bernoulli(self.make_rng("dropout"), 0.8, x.shape)
        a = 1 / np.sqrt(0.8 * (1 + 0.2 * 1.7580993408473766**2))
        return jnp.where(keep, a * x + a * 1.7580993408473766 * 0.2, -a * 1.7580993408473766 * 0.8)


def test_compiled_memory():
    ad = _extra_tensors(lambda: jl.AlphaDropout(0.2, deterministic=False), rng=True)
    naive = _extra_tensors(_NaiveAlphaDropout, rng=True)
    rr = _extra_tensors(lambda: jl.RReLU(deterministic=False), rng=True)
    prelu = _extra_tensors(jl.PReLU)
    flax_prelu = _extra_tensors(nn.PReLU)
    # Only the key (a few bytes per layer, not a tensor): masks and slopes are re-drawn from it. At most
    # 64 bytes a layer more than the identity network; less is XLA packing its buffers differently
    # (jax 0.8.1 measures -448 bytes a layer), not a saving to assert on.
    assert ad * BATCH * WIDTH * 4 <= 64 and rr * BATCH * WIDTH * 4 <= 64
    assert naive >= 0.25  # a stored mask costs at least a byte per element
    # Any PReLU keeps about x for the slope's gradient: the measurement sees it in Flax's too (how much
    # more Flax's keeps is XLA's choice: 2 tensors under jax 0.10, 0.98 under 0.8.2).
    assert flax_prelu >= 0.9
    # jrelu keeps x alone (its derivative in x is read off x as well): about one tensor (0.98 under
    # jax 0.8.2's XLA, which packs the buffers tighter), and never more than Flax's jnp.where.
    assert 0.9 <= prelu <= min(1 + 1 / 32, flax_prelu) + 1e-9, (prelu, flax_prelu)


# --------------------------------------------------------------------------------------------------
# The README's and the Flax guide's code runs (examples/snippets, spliced into both)
# --------------------------------------------------------------------------------------------------

SNIPPETS = pathlib.Path(__file__).parents[1] / "examples" / "snippets"


def _run(name: str) -> dict:
    """A code block of the README or the Flax guide, run as the file it is spliced from."""
    return runpy.run_path(str(SNIPPETS / name))


def test_readme_linen_example_runs():
    ns = _run("readme_linen.py")
    slope = ns["grads"]["params"]["PReLU_0"]["negative_slope"]
    assert slope.shape == (32,) and bool(jnp.all(jnp.isfinite(slope))) and bool(jnp.any(slope != 0))
    assert ns["params"]["params"]["PReLU_0"]["negative_slope"].shape == (32,)


def test_readme_nnx_example_runs():
    ns = _run("readme_nnx.py")
    assert np.isfinite(float(ns["loss"]))
    slope = ns["grads"].layers[1].negative_slope[...]
    assert slope.shape == (32,) and bool(jnp.any(slope != 0))


@pytest.mark.parametrize("name", ["flax_linen_train.py", "flax_nnx_train.py"])
def test_guide_training_examples_run_and_learn(name):
    ns = _run(name)
    baseline = float(jnp.mean(ns["y"] ** 2))  # the loss of predicting 0
    assert float(ns["loss"]) < 0.5 * baseline, (float(ns["loss"]), baseline)
    if name == "flax_linen_train.py":
        assert ns["params"]["PReLU_0"]["negative_slope"].shape == (32,)
    else:
        assert ns["model"].act.negative_slope[...].shape == (32,)
