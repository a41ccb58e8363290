"""What a compiled training step keeps for the backward pass, measured by XLA itself.

The figure is a *slope*: the growth per layer of ``temp_size_in_bytes`` from ``memory_analysis()`` of
``jit(grad(loss))`` for a layer repeated L times, measured at two depths, minus the same growth with the
identity as activation, in units of one activation tensor. 0 means the activation costs nothing beyond
what the matmuls keep anyway; jax.nn.relu costs 1, jax.nn.elu 2. The layers (``model``):

* ``"mlp"``: ``act(x @ W + b)`` on ``(batch, width)``;
* ``"cnn"``: ``act(conv3x3(x) + b)`` on NHWC ``(batch, 16, 16, width)``;
* ``"ffn"``: a pre-LN residual FFN block, ``x + act(norm(x) @ W1) @ W2`` on ``(batch, seq, width)``,
  hidden ``4 * width`` (bias-free, as transformers' FFNs are): the activation is 3-D;
* ``"transformer"``: a pre-LN transformer block, causal self-attention then that FFN.

Used by the tests, ``jrelu check`` and ``jrelu bench``.
"""

from __future__ import annotations

import functools
import math
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


MODELS = ("mlp", "cnn", "ffn", "transformer")
_SIDE = 16  # the CNN's images are _SIDE x _SIDE
_FFN_MULT = 4  # a block's hidden width is _FFN_MULT * width
_HEAD = 64  # attention head width (one head below it)


def _norm(x: jax.Array) -> jax.Array:
    """Pre-LN layer norm without learned scale, computed in float32 as transformers' norms are."""
    xf = x.astype(jnp.float32)
    mean = jnp.mean(xf, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
    return ((xf - mean) * jax.lax.rsqrt(var + 1e-5)).astype(x.dtype)


def _attention(
    x: jax.Array, wq: jax.Array, wk: jax.Array, wv: jax.Array, wo: jax.Array
) -> jax.Array:
    """Causal multi-head self-attention, softmax in float32."""
    b, s, d = x.shape
    heads = max(1, d // _HEAD)
    q, k, v = ((x @ w).reshape(b, s, heads, d // heads) for w in (wq, wk, wv))
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) * (d // heads) ** -0.5
    causal = jnp.tril(jnp.ones((s, s), jnp.bool_))[None, None]
    scores = jnp.where(causal, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, s, d) @ wo


def _layer(
    model: str, act: Act, x: jax.Array, layer: tuple[Any, ...], args: tuple[Any, ...]
) -> jax.Array:
    """One layer of ``model`` with ``act`` (called as ``act(z, *args)``)."""
    if model == "mlp":
        w, b = layer
        z = x @ w  # the bias below is broadcast explicitly: no rank promotion
        return act(z + b.reshape((1,) * (z.ndim - 1) + b.shape), *args)
    if model == "cnn":
        w, b = layer
        dims = ("NHWC", "HWIO", "NHWC")
        z = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dims)
        return act(z + b.reshape((1,) * (z.ndim - 1) + b.shape), *args)
    w1, w2, *attn = layer  # the transformer's attention matrices last
    if attn:
        x = x + _attention(_norm(x), *attn[0])
    return x + act(_norm(x) @ w1, *args) @ w2


Shape = tuple[int, ...]


def _shapes(
    model: str, batch: int, seq: int, width: int, gated: bool
) -> tuple[Shape, list[Shape | list[Shape]], int]:
    """The input shape, one layer's parameter shapes and the elements of one activation tensor."""
    if model in ("mlp", "cnn"):
        out = 2 * width if gated else width  # a gated activation halves the features again
        w: Shape = (width, out) if model == "mlp" else (3, 3, width, out)
        x: Shape = (batch, width) if model == "mlp" else (batch, _SIDE, _SIDE, width)
        return x, [w, (out,)], math.prod(x)
    hidden = _FFN_MULT * width
    layer: list[Shape | list[Shape]] = [(width, 2 * hidden if gated else hidden), (hidden, width)]
    if model == "transformer":
        layer.append([(width, width)] * 4)
    return (batch, seq, width), layer, batch * seq * hidden


def _compiled(
    act: Act,
    model: str,
    depth: int,
    batch: int,
    seq: int,
    width: int,
    dtype: Any,
    hyper: Any,
    learned: Any,
    gated: bool = False,
) -> Any:
    """``jit(grad(loss))`` of ``depth`` layers, compiled (not run).

    ``hyper`` is passed into the step as an argument (traced, not differentiated); ``learned`` is a
    per-layer extra parameter (e.g. PReLU slopes) that is differentiated.
    """

    def loss(params: list[Any], x: jax.Array, hyper: Any) -> jax.Array:
        for *layer, extra in params:
            args = () if hyper is None else (hyper,)
            args += () if extra is None else (extra,)
            x = _layer(model, act, x, tuple(layer), args)
        return jnp.sum(x.astype(jnp.float32) ** 2)

    xshape, layer, _ = _shapes(model, batch, seq, width, gated)

    def struct(v: Any) -> Any:  # a shape, or a list of them (the attention's four matrices)
        return jax.ShapeDtypeStruct(v, dtype) if isinstance(v, tuple) else [struct(u) for u in v]

    extra = None if learned is None else jax.ShapeDtypeStruct(np.shape(learned), dtype)
    params = [[*map(struct, layer), extra] for _ in range(depth)]
    x = jax.ShapeDtypeStruct(xshape, dtype)
    return jax.jit(jax.grad(loss)).lower(params, x, hyper).compile()


def temp_size(compiled: Any) -> int:
    """``memory_analysis().temp_size_in_bytes`` of a compiled program; -1 where the backend gives no
    memory analysis (some return ``None``), so that callers can report the figure as unavailable."""
    analysis = compiled.memory_analysis()
    size = getattr(analysis, "temp_size_in_bytes", None)
    return -1 if size is None else int(size)


def cost(compiled: Any) -> dict[str, float]:
    """``bytes accessed`` and ``flops`` of a compiled program from XLA's ``cost_analysis()`` (a dict, or
    a list of one dict in older JAX); -1 for a figure the backend does not give."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else None
    analysis = analysis or {}
    return {k: float(analysis.get(k, -1.0)) for k in ("bytes accessed", "flops")}


def extra_tensors_per_layer(
    act: Act,
    *,
    model: str = "mlp",
    batch: int = 256,
    width: int = 512,
    seq: int = 16,
    depths: tuple[int, int] = (4, 8),
    dtype: Any = jnp.float32,
    hyper: Any = None,
    learned: Any = None,
    gated: bool = False,
) -> float:
    """Activation-sized tensors per layer that ``act`` adds to a compiled training step.

    Args:
      act: the activation, ``x -> y``.
      model: ``"mlp"`` (``act(x @ W + b)``), ``"cnn"`` (``act(conv3x3(x) + b)``, NHWC, 16x16 images),
        ``"ffn"`` (a pre-LN residual FFN block, ``x + act(norm(x) @ W1) @ W2``, hidden ``4 * width``)
        or ``"transformer"`` (a pre-LN block: causal self-attention, then that FFN).
      batch, width: the activation shape is ``(batch, width)`` (MLP), ``(batch, 16, 16, width)`` (CNN)
        or ``(batch, seq, 4 * width)`` (the blocks, whose input is ``(batch, seq, width)``).
      seq: the blocks' sequence length.
      depths: the two depths whose difference gives the slope.
      dtype: parameter and activation dtype.
      hyper: if given, ``act(z, hyper)``: a hyperparameter passed into the compiled step as an argument
        (traced, its sign unknown at compile time) and not differentiated.
      learned: if given, ``act(z, slope)`` with a per-layer parameter of this shape that *is*
        differentiated (PReLU's slopes).
      gated: ``act`` halves the last axis (reglu): each layer projects to twice the features and the
        floor is the network that keeps the first half (``z[..., :n]``).

    Returns:
      The growth of XLA's temporary allocation per layer beyond the identity network's, divided by the
      size of one activation tensor. Compiles four programs; nothing is run.
    """
    return extra_tensors_detail(
        act,
        model=model,
        batch=batch,
        width=width,
        seq=seq,
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
    seq: int = 16,
    depths: tuple[int, int] = (4, 8),
    dtype: Any = jnp.float32,
    hyper: Any = None,
    learned: Any = None,
    gated: bool = False,
) -> dict[str, Any]:
    """:func:`extra_tensors_per_layer` with the raw figures it is computed from: XLA's temporary bytes
    at both depths for ``act`` and for the identity network, the size of one activation tensor in
    bytes, ``available`` (False where the backend reports no memory analysis or a zero temporary
    allocation at both depths for both networks: a figure of 0 would then mean nothing), and XLA's
    ``bytes_accessed`` and ``flops`` of the whole step at the shallower depth (``cost_analysis()``;
    -1 where the backend gives none)."""
    if model not in MODELS:
        raise ValueError(
            f"jrelu: model must be one of {', '.join(map(repr, MODELS))}, got {model!r}."
        )
    lo, hi = depths
    size = _shapes(model, batch, seq, width, gated)[2] * np.dtype(dtype).itemsize
    programs = {
        d: _compiled(act, model, d, batch, seq, width, dtype, hyper, learned, gated) for d in depths
    }
    temp = {d: temp_size(c) for d, c in programs.items()}
    floor = _identity_temp(model, batch, seq, width, depths, np.dtype(dtype).name, gated)
    slope = (temp[hi] - temp[lo]) / (hi - lo)
    floor_slope = (floor[1] - floor[0]) / (hi - lo)
    values = [*temp.values(), *floor]
    costs = cost(programs[lo])
    return {
        "extra_tensors_per_layer": (slope - floor_slope) / size,
        "temp_bytes": {str(d): v for d, v in temp.items()},
        "floor_temp_bytes": {str(d): v for d, v in zip(depths, floor, strict=True)},
        "tensor_bytes": int(size),
        "available": min(values) >= 0 and max(values) > 0,
        "bytes_accessed": costs["bytes accessed"],
        "flops": costs["flops"],
    }


def _identity_slope(
    model: str,
    batch: int,
    width: int,
    depths: tuple[int, int],
    dtype: str,
    gated: bool = False,
    seq: int = 16,
) -> float:
    """The identity network's growth per layer in bytes."""
    at = _identity_temp(model, batch, seq, width, depths, dtype, gated)
    return (at[1] - at[0]) / (depths[1] - depths[0])


@functools.lru_cache(maxsize=64)
def _identity_temp(
    model: str,
    batch: int,
    seq: int,
    width: int,
    depths: tuple[int, int],
    dtype: str,
    gated: bool = False,
) -> tuple[int, int]:
    """The identity network's temporary bytes at both depths (cached: the same for every activation)."""
    ident = _first_half if gated else _identity
    lo, hi = depths
    return (
        temp_size(_compiled(ident, model, lo, batch, seq, width, dtype, None, None, gated)),
        temp_size(_compiled(ident, model, hi, batch, seq, width, dtype, None, None, gated)),
    )
