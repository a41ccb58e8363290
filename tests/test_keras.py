"""Keras 3 on the JAX backend: jrelu's functions as ``activation=`` of Keras layers, trained and saved.

Keras saves a function that shares a name with one of its own (leaky_relu, elu, relu6, ...) by the name
alone and reloads its own: jrelu registers its functions and ``jrelu.Activation`` with Keras'
serialization (jrelu/_keras.py), so a saved model reloads jrelu's -- and, where jrelu is not imported,
fails to load instead of swapping the function. The predictions are held to the jax.nn / jnp.where
formulation of the same layer.
"""

from __future__ import annotations

import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported (its default is TensorFlow)

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jrelu
from jrelu import _keras

# Keras' own deprecations under the newest NumPy (its Variable.__array__ lacks copy=) are not jrelu's.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")

# Every function that works as a plain activation (prelu needs its slope, alpha_dropout its key), and
# bound hyperparameters through jrelu.get, which Keras saves with the activation.
PLAIN = [s.name for s in jrelu.FUNCTIONS.values() if not s.required and not s.needs_key]
BOUND = [jrelu.get("leaky_relu", negative_slope=0.3), jrelu.get("elu", alpha=-0.5, precise=True)]


@pytest.fixture(autouse=True)
def user_promotion():
    """Keras runs as user code does, under JAX's default promotion rules (the suite is strict)."""
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def _model(activations):
    inputs = keras.Input((6,))
    outputs = [
        keras.layers.Dense(8, activation=a, name=f"d{i}")(inputs) for i, a in enumerate(activations)
    ]
    return keras.Model(inputs, outputs)


def _peer(act, h):
    """The layer's activation as jax.nn / jnp.where writes it (the registry's peer)."""
    if isinstance(act, jrelu.Activation):
        spec, params = jrelu.FUNCTIONS[act.name], act.params
    else:
        spec, params = jrelu.FUNCTIONS[act.__name__], {}
    return spec.baseline(h, **spec.hyper({**spec.params, **params}))


def test_saved_models_reload_jrelus_activations(tmp_path):
    """Every plain function and two bound ones in one model, saved and loaded: each layer's activation
    is jrelu's own again, and the predictions are the peer formulation's (leaky_relu with slope 0.01,
    not Keras' 0.2)."""
    acts = [getattr(jrelu, n) for n in PLAIN] + BOUND
    model = _model(acts)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for i, (act, got) in enumerate(zip(acts, loaded.predict(x, verbose=0), strict=True)):
        layer = loaded.get_layer(f"d{i}")
        assert layer.activation == act, (act, layer.activation)
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        want = _peer(act, jnp.asarray(x @ kernel + bias))
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=str(act))


def test_loading_where_jrelu_has_not_registered_fails_loudly(tmp_path):
    """Without jrelu's registrations (a process that never imported jrelu) the model does not load
    with Keras' function of the same name: it raises, naming the function by its registered name."""
    _model([jrelu.leaky_relu]).save(tmp_path / "m.keras")
    registered = keras.saving.get_custom_objects()  # Keras' documented, mutable global collection
    ours = {k: v for k, v in registered.items() if k.startswith(f"{_keras.PACKAGE}>")}
    assert ours, "jrelu registered nothing"
    for k in ours:
        del registered[k]
    try:
        with pytest.raises(Exception, match=r"jrelu>leaky_relu"):  # the name it was saved by
            keras.models.load_model(tmp_path / "m.keras")
    finally:
        registered.update(ours)


def test_training_matches_jax_nn():
    """Two SGD steps of a Dense layer with jrelu.elu and with jax.nn.elu from the same weights."""
    x = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32)
    y = np.random.default_rng(2).normal(size=(16, 8)).astype(np.float32)
    weights = []
    for act in (jrelu.elu, jax.nn.elu):
        keras.utils.set_random_seed(0)
        model = _model([act])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        weights.append([np.asarray(w) for w in model.get_weights()])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_import_order_and_no_keras_on_import():
    """``import jrelu`` imports no Keras; a later ``import keras`` finds jrelu's functions
    registered (the other order is the rest of this file)."""
    code = (
        "import os, sys; os.environ['KERAS_BACKEND'] = 'jax'\n"
        "import jrelu\n"
        "assert 'keras' not in sys.modules, 'import jrelu imported keras'\n"
        "import keras\n"
        "got = keras.saving.get_registered_object('jrelu>leaky_relu')\n"
        "assert got is jrelu.leaky_relu, got\n"
        "assert keras.activations.serialize(jrelu.leaky_relu)['config'] == 'jrelu>leaky_relu'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
