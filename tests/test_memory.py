"""The headline: what a compiled training step keeps for the backward pass (XLA's own figures).

The slope method (jrelu.testing.extra_tensors_per_layer): temp bytes of jit(grad(loss)) for an MLP act(x @ W + b) at two depths,
per layer, beyond the identity network, in activation-sized tensors. Compile-only: nothing runs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import pytest

import jrelu
from jrelu.testing import extra_tensors_per_layer

MASK = 1 / 32  # one bit per float32 element
SMALL = {"batch": 128, "width": 256}


@pytest.mark.parametrize(
    ("name", "params"),
    # precise=True keeps x by design: its bound (one tensor) is in tests/test_precise.py
    [
        (n, dict(p))
        for n, s in jrelu.FUNCTIONS.items()
        for p in s.variants
        if n != "prelu" and not p.get("precise")
    ]
    + [("rrelu", {"key": "per-layer"})],
    ids=lambda v: str(v),
)
def test_backward_keeps_at_most_a_bit_mask(name, params):
    spec = jrelu.FUNCTIONS[name]
    if params.get("key") == "per-layer":
        act = functools.partial(spec.fn, key=jax.random.key(0))
    elif spec.needs_key:  # alpha_dropout: one key for every layer (the mask re-drawn from it)
        act = functools.partial(spec.fn, **params, key=jax.random.key(0))
    else:
        act = functools.partial(spec.fn, **params)
    if (
        spec.gated
    ):  # each layer projects to both halves; held to jax.nn's composition (Spec.baseline)
        extra = extra_tensors_per_layer(act, gated=True, **SMALL)
        peer = extra_tensors_per_layer(spec.baseline, gated=True, **SMALL)
        assert extra <= peer + 1e-3, f"{name}: {extra:.4f} vs the composition's {peer:.4f}"
        return
    extra = extra_tensors_per_layer(act, **SMALL)
    assert extra <= MASK + 1e-3, f"{name}{params}: {extra:.4f} extra tensors per layer"


@pytest.mark.parametrize(
    ("name", "pname"),
    [("leaky_relu", "negative_slope"), ("elu", "alpha"), ("celu", "alpha"), ("rrelu", "upper")],
)
def test_traced_hyperparameters_keep_at_most_a_bit_mask(name, pname):
    """A hyperparameter passed into the jitted step (traced, sign unknown) costs the 1-bit mask."""
    spec = jrelu.FUNCTIONS[name]
    extra = extra_tensors_per_layer(
        lambda x, p: spec.fn(x, **{pname: p}), hyper=jnp.float32(0.3), **SMALL
    )
    assert extra <= MASK + 1e-3, f"{name}: {extra:.4f}"


def test_prelu_with_learned_slope_keeps_at_most_one_tensor():
    extra = extra_tensors_per_layer(jrelu.prelu, learned=jnp.full((SMALL["width"],), 0.25), **SMALL)
    assert extra <= 1 + MASK + 1e-3, f"prelu: {extra:.4f}"


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "shared"])
def test_prelu_with_learned_slope_never_keeps_more_than_jnp_where(model, dtype, per_channel):
    """With the slope learned the backward keeps x alone (the x-derivative is read off it too, not off
    y plus a mask): in bfloat16 on XLA:CPU that is what lets jrelu match the jnp.where step, whose
    forward fusion keeps only z (it kept 1.58 tensors against 0.52 when it also saved y and the mask)."""
    size = {"batch": 32, "width": 64} if model == "cnn" else SMALL
    slope = jnp.full((size["width"],) if per_channel else (), 0.25, jnp.float32)
    kw = {"model": model, "dtype": dtype, "learned": slope, **size}
    ours = extra_tensors_per_layer(jrelu.prelu, **kw)
    # The registry's peer: the obvious jnp.where code (Flax's and Equinox's PReLU).
    theirs = extra_tensors_per_layer(jrelu.FUNCTIONS["prelu"].baseline, **kw)
    assert ours <= theirs + 1e-3, f"jrelu {ours:.3f} > jnp.where {theirs:.3f}"


def test_cnn_keeps_one_tensor_less_than_jax_nn_for_the_exponentials():
    """On XLA:CPU a conv's weight gradient wants its input in a transposed layout and XLA makes that
    copy in the forward pass; any activation whose backward reads its output then pays one tensor over
    the identity network (jax.nn.relu included). jrelu matches jax.nn.relu there and saves a tensor on
    elu/selu/celu (jax.nn keeps the input as well)."""
    cnn = {"model": "cnn", "batch": 4, "width": 32}
    base = extra_tensors_per_layer(jax.nn.relu, **cnn)
    assert extra_tensors_per_layer(jrelu.relu, **cnn) <= base + 1e-3
    for name in ("elu", "selu", "celu"):
        ours = extra_tensors_per_layer(jrelu.FUNCTIONS[name].fn, **cnn)
        theirs = extra_tensors_per_layer(getattr(jax.nn, name), **cnn)
        assert ours <= theirs - 1 + 1e-3, (name, ours, theirs)


def test_the_measurement_sees_what_jax_nn_keeps():
    """The method is not blind: jax.nn keeps one (relu) or two (elu) extra tensors per layer."""
    assert extra_tensors_per_layer(jax.nn.relu, **SMALL) == pytest.approx(1.0, abs=0.05)
    assert extra_tensors_per_layer(jax.nn.elu, **SMALL) == pytest.approx(2.0, abs=0.05)
