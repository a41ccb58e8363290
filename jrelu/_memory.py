"""What a compiled training step keeps for the backward pass, measured by XLA itself.

The figure is a *slope*: the growth per layer of ``temp_size_in_bytes`` from ``memory_analysis()`` of
``jit(grad(loss))`` for an MLP ``x -> act(x @ W + b)`` (or a small CNN) repeated L times, measured at two
depths, minus the same growth with the identity as activation, in units of one activation tensor. 0 means
the activation costs nothing beyond what the matmuls keep anyway; jax.nn.relu costs 1, jax.nn.elu 2.
Used by the tests, ``jrelu check`` and ``jrelu bench``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Act = Callable[[jax.Array], jax.Array]


def _identity(x: jax.Array) -> jax.Array:
    return x


def _mlp_temp_bytes(act: Act, depth: int, batch: int, width: int, dtype: jnp.dtype) -> int:
    def loss(params: list, x: jax.Array) -> jax.Array:
        for w, b in params:
            x = act(x @ w + b)
        return jnp.sum(x.astype(jnp.float32) ** 2)

    params = [
        (jax.ShapeDtypeStruct((width, width), dtype), jax.ShapeDtypeStruct((width,), dtype))
        for _ in range(depth)
    ]
    x = jax.ShapeDtypeStruct((batch, width), dtype)
    compiled = jax.jit(jax.grad(loss)).lower(params, x).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def _cnn_temp_bytes(act: Act, depth: int, batch: int, width: int, dtype: jnp.dtype) -> int:
    # NHWC 3x3 convolutions with `width` channels on a 16x16 image.
    side = 16

    def loss(params: list, x: jax.Array) -> jax.Array:
        for w, b in params:
            x = jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            x = act(x + b)
        return jnp.sum(x.astype(jnp.float32) ** 2)

    params = [
        (jax.ShapeDtypeStruct((3, 3, width, width), dtype), jax.ShapeDtypeStruct((width,), dtype))
        for _ in range(depth)
    ]
    x = jax.ShapeDtypeStruct((batch, side, side, width), dtype)
    compiled = jax.jit(jax.grad(loss)).lower(params, x).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def extra_tensors_per_layer(
    act: Act,
    *,
    model: str = "mlp",
    batch: int = 256,
    width: int = 512,
    depths: tuple[int, int] = (4, 8),
    dtype: jnp.dtype = jnp.float32,
) -> float:
    """Activation-sized tensors per layer that ``act`` adds to a compiled training step.

    Args:
      act: the activation, ``x -> y``.
      model: ``"mlp"`` (``act(x @ W + b)``) or ``"cnn"`` (``act(conv3x3(x) + b)``, NHWC, 16x16 images).
      batch, width: the activation shape is ``(batch, width)`` (MLP) or ``(batch, 16, 16, width)`` (CNN).
      depths: the two depths whose difference gives the slope.
      dtype: parameter and activation dtype.

    Returns:
      The growth of XLA's temporary allocation per layer beyond the identity network's, divided by the
      size of one activation tensor. Compiles four programs; nothing is run.
    """
    measure = {"mlp": _mlp_temp_bytes, "cnn": _cnn_temp_bytes}[model]
    lo, hi = depths
    size = batch * width * np.dtype(dtype).itemsize * (256 if model == "cnn" else 1)

    def slope(f: Act) -> float:
        return (measure(f, hi, batch, width, dtype) - measure(f, lo, batch, width, dtype)) / (
            hi - lo
        )

    return (slope(act) - slope(_identity)) / size
