"""The one table (jrelu.FUNCTIONS) and jrelu.get."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jrelu


def test_table_covers_every_public_function():
    public = {"relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu"}
    assert set(jrelu.FUNCTIONS) == public
    for name, spec in jrelu.FUNCTIONS.items():
        assert spec.fn is getattr(jrelu, name)
        assert spec.fn.__doc__ and ".. math::" in spec.fn.__doc__ and "Examples:" in spec.fn.__doc__


@pytest.mark.parametrize("name", list(jrelu.FUNCTIONS))
def test_get_returns_the_function_with_bound_parameters(name):
    spec = jrelu.FUNCTIONS[name]
    act = jrelu.get(name, **spec.params)
    x = jnp.linspace(-3, 3, 7)
    np.testing.assert_array_equal(act(x), spec.fn(x, **spec.params))
    assert act.__name__ == name
    np.testing.assert_allclose(
        act(x), spec.value(np.asarray(x, np.float64), **spec.params), rtol=1e-6
    )


def test_get_is_forgiving_about_spelling_and_allows_overrides():
    act = jrelu.get("Leaky-ReLU", negative_slope=0.2)
    x = jnp.array([-1.0])
    assert float(act(x)[0]) == pytest.approx(-0.2)
    assert float(act(x, negative_slope=0.5)[0]) == pytest.approx(-0.5)
    assert jrelu.get("relu") is not jrelu.relu and jrelu.get("relu")(x) == 0
