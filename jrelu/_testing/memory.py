"""What a compiled training step keeps for the backward pass, measured by XLA itself.

The figure is a *slope*: the growth per layer of ``temp_size_in_bytes`` from ``memory_analysis()`` of
``jit(grad(loss))`` for an MLP ``x -> act(x @ W + b)`` (or a small CNN) repeated L times, measured at two
depths, minus the same growth with the identity as activation, in units of one activation tensor. 0 means
the activation costs nothing beyond what the matmuls keep anyway; jax.nn.relu costs 1, jax.nn.elu 2.
Used by the tests, ``jrelu check`` and ``jrelu bench``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Act = Callable[..., jax.Array]  # act(x), or act(x, hyper) / act(x, learned) (see below)


def _identity(x: jax.Array, *unused: Any) -> jax.Array:
    return x


def _first_half(x: jax.Array, *unused: Any) -> jax.Array:
    # a gated network's identity: the value half, as a gated activation with its gate wide open
    return x[..., : x.shape[-1] // 2]


_SIDE = 16  # the CNN's images are _SIDE x _SIDE


def _layer(model: str, x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    if model == "mlp":
        z = x @ w
    else:
        dims = ("NHWC", "HWIO", "NHWC")
        z = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dims)
    return z + b.reshape((1,) * (z.ndim - 1) + b.shape)  # explicit: no rank promotion


def _temp_bytes(
    act: Act,
    model: str,
    depth: int,
    batch: int,
    width: int,
    dtype: Any,
    hyper: Any,
    learned: Any,
    gated: bool = False,
) -> int:
    """XLA's temporary allocation for jit(grad(loss)) of ``depth`` layers (compiled, not run).

    ``hyper`` is passed into the step as an argument (traced, not differentiated); ``learned`` is a
    per-layer extra parameter (e.g. PReLU slopes) that is differentiated.
    """

    def loss(params: list[Any], x: jax.Array, hyper: Any) -> jax.Array:
        for w, b, extra in params:
            z = _layer(model, x, w, b)
            args = () if hyper is None else (hyper,)
            args += () if extra is None else (extra,)
            x = act(z, *args)
        return jnp.sum(x.astype(jnp.float32) ** 2)

    out = 2 * width if gated else width  # a gated activation halves the features again
    wshape = (width, out) if model == "mlp" else (3, 3, width, out)
    extra = None if learned is None else jax.ShapeDtypeStruct(np.shape(learned), dtype)
    params = [
        (jax.ShapeDtypeStruct(wshape, dtype), jax.ShapeDtypeStruct((out,), dtype), extra)
        for _ in range(depth)
    ]
    xshape = (batch, width) if model == "mlp" else (batch, _SIDE, _SIDE, width)
    x = jax.ShapeDtypeStruct(xshape, dtype)
    compiled = jax.jit(jax.grad(loss)).lower(params, x, hyper).compile()
    return temp_size(compiled)


def temp_size(compiled: Any) -> int:
    """``memory_analysis().temp_size_in_bytes`` of a compiled program; -1 where the backend gives no
    memory analysis (some return ``None``), so that callers can report the figure as unavailable."""
    analysis = compiled.memory_analysis()
    size = getattr(analysis, "temp_size_in_bytes", None)
    return -1 if size is None else int(size)


def extra_tensors_per_layer(
    act: Act,
    *,
    model: str = "mlp",
    batch: int = 256,
    width: int = 512,
    depths: tuple[int, int] = (4, 8),
    dtype: Any = jnp.float32,
    hyper: Any = None,
    learned: Any = None,
    gated: bool = False,
) -> float:
    """Activation-sized tensors per layer that ``act`` adds to a compiled training step.

    Args:
      act: the activation, ``x -> y``.
      model: ``"mlp"`` (``act(x @ W + b)``) or ``"cnn"`` (``act(conv3x3(x) + b)``, NHWC, 16x16 images).
      batch, width: the activation shape is ``(batch, width)`` (MLP) or ``(batch, 16, 16, width)`` (CNN).
      depths: the two depths whose difference gives the slope.
      dtype: parameter and activation dtype.
      hyper: if given, ``act(z, hyper)``: a hyperparameter passed into the compiled step as an argument
        (traced, its sign unknown at compile time) and not differentiated.
      learned: if given, ``act(z, slope)`` with a per-layer parameter of this shape that *is*
        differentiated (PReLU's slopes).
      gated: ``act`` halves the last axis (reglu): each layer projects to ``2 * width`` features and
        the floor is the network that keeps the first half (``z[..., :width]``).

    Returns:
      The growth of XLA's temporary allocation per layer beyond the identity network's, divided by the
      size of one activation tensor. Compiles four programs; nothing is run.
    """
    return extra_tensors_detail(
        act,
        model=model,
        batch=batch,
        width=width,
        depths=depths,
        dtype=dtype,
        hyper=hyper,
        learned=learned,
        gated=gated,
    )["extra_tensors_per_layer"]


def extra_tensors_detail(
    act: Act,
    *,
    model: str = "mlp",
    batch: int = 256,
    width: int = 512,
    depths: tuple[int, int] = (4, 8),
    dtype: Any = jnp.float32,
    hyper: Any = None,
    learned: Any = None,
    gated: bool = False,
) -> dict[str, Any]:
    """:func:`extra_tensors_per_layer` with the raw figures it is computed from: XLA's temporary bytes
    at both depths for ``act`` and for the identity network, the size of one activation tensor in
    bytes, and ``available`` (False where the backend reports no memory analysis or a zero temporary
    allocation at both depths for both networks: a figure of 0 would then mean nothing)."""
    if model not in ("mlp", "cnn"):
        raise ValueError(f"jrelu: model must be 'mlp' or 'cnn', got {model!r}.")
    lo, hi = depths
    size = batch * width * np.dtype(dtype).itemsize * (_SIDE * _SIDE if model == "cnn" else 1)

    temp = {
        d: _temp_bytes(act, model, d, batch, width, dtype, hyper, learned, gated) for d in depths
    }
    floor = _identity_temp(model, batch, width, depths, np.dtype(dtype).name, gated)
    slope = (temp[hi] - temp[lo]) / (hi - lo)
    floor_slope = (floor[1] - floor[0]) / (hi - lo)
    values = [*temp.values(), *floor]
    return {
        "extra_tensors_per_layer": (slope - floor_slope) / size,
        "temp_bytes": {str(d): v for d, v in temp.items()},
        "floor_temp_bytes": {str(d): v for d, v in zip(depths, floor, strict=True)},
        "tensor_bytes": int(size),
        "available": min(values) >= 0 and max(values) > 0,
    }


def _identity_slope(
    model: str, batch: int, width: int, depths: tuple[int, int], dtype: str, gated: bool = False
) -> float:
    """The identity network's growth per layer in bytes."""
    at = _identity_temp(model, batch, width, depths, dtype, gated)
    return (at[1] - at[0]) / (depths[1] - depths[0])


@functools.lru_cache(maxsize=64)
def _identity_temp(
    model: str, batch: int, width: int, depths: tuple[int, int], dtype: str, gated: bool = False
) -> tuple[int, int]:
    """The identity network's temporary bytes at both depths (cached: the same for every activation)."""
    ident = _first_half if gated else _identity
    lo, hi = depths
    return (
        _temp_bytes(ident, model, lo, batch, width, dtype, None, None, gated),
        _temp_bytes(ident, model, hi, batch, width, dtype, None, None, gated),
    )
