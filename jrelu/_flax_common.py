"""What jrelu.linen and jrelu.nnx share: hyperparameter checks, PReLU's slope layout, error renaming,
and the description of a stateless module.

No Flax here (and none needed): both APIs call these with plain arrays, so the two faces of every module
check, shape and compute exactly alike.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jrelu._core import Array, check_input, is_concrete
from jrelu._dropout import alpha_dropout, check_rate
from jrelu._dropout import check_dims_type as check_dims_type
from jrelu._rectifiers import prelu
from jrelu._registry import FUNCTIONS


@contextlib.contextmanager
def renamed_errors(owner: str, fname: str) -> Iterator[None]:
    """Re-raise ``jrelu.<fname>: ...`` TypeErrors and ValueErrors as ``<owner>: ...``.

    The core functions do the checking; a module's user should see the module's name, not the
    function's. Other errors pass through unchanged.
    """
    prefix = f"jrelu.{fname}: "
    try:
        yield
    except (TypeError, ValueError) as e:
        msg = str(e)
        if not msg.startswith(prefix):
            raise
        raise type(e)(f"{owner}: {msg[len(prefix) :]}") from None


def check_hyperparameters(owner: str, fn: Callable[..., Array], **params: Any) -> None:
    """Check concrete hyperparameters now, with ``fn``'s own rules and ``owner``'s name.

    ``fn`` runs once on a zero input of the parameters' broadcast shape (eagerly, even under a trace), so
    the checks are the function's: nothing is restated here. The input is JAX's default float (float32,
    or float64 under ``jax_enable_x64``), so a value that float32 cannot hold (``1e39``; ``1e-300`` where
    nonzero is required) is rejected at construction unless x64 is on; the call checks again in the
    input's own compute dtype.
    """
    concrete = {k: v for k, v in params.items() if is_concrete(v)}
    if not concrete:
        return
    with renamed_errors(owner, fn.__name__):
        try:
            shape = np.broadcast_shapes(*(np.shape(v) for v in concrete.values()))
        except ValueError:
            shape = ()  # the function names the parameter that does not broadcast
        with jax.ensure_compile_time_eval():
            fn(np.zeros(shape, jax.dtypes.canonicalize_dtype(np.float64)), **concrete)


# --------------------------------------------------------------------------------------------------
# Stateless modules: a function and its keyword arguments
# --------------------------------------------------------------------------------------------------


def stateless_signature(owner: str, fn: Callable[..., Array]) -> inspect.Signature:
    """The module's constructor signature: ``fn``'s, without ``x``.

    A stateless module's attributes are its function's arguments, with the same names, defaults and
    kinds (positional or keyword-only), so the two cannot drift apart. The function must be in
    :data:`jrelu.FUNCTIONS` without required (learned) hyperparameters or a key (random).
    """
    spec = FUNCTIONS.get(fn.__name__)
    if spec is None or spec.fn is not fn or spec.required or spec.random:
        raise TypeError(
            f"{owner}: function={fn!r} is not a stateless function in jrelu.FUNCTIONS (one without "
            "required or random parameters); learned and random modules are written out."
        )
    params = list(inspect.signature(fn).parameters.values())[1:]  # drop x
    return inspect.Signature(params)


def check_stateless_attributes(
    owner: str, signature: inspect.Signature, attributes: Mapping[str, Any]
) -> None:
    """A class body's attributes (name -> default, or ``inspect.Parameter.empty`` for a bare
    annotation) must be its function's arguments: checked when the class is defined."""
    expected = {name: p.default for name, p in signature.parameters.items()}
    if list(attributes) != list(expected) or any(
        d is not inspect.Parameter.empty and d != expected[k] for k, d in attributes.items()
    ):
        raise TypeError(
            f"{owner}: the class attributes {dict(attributes)} must be the function's arguments, in "
            f"order and with its defaults: {expected}."
        )


def check_stateless(owner: str, fn: Callable[..., Array], params: Mapping[str, Any]) -> None:
    """Check a stateless module's hyperparameters at construction, as the function would.

    A gated function (reglu) cannot run on the zero scalar the check uses, and its only argument (the
    axis) needs the input's rank: it is checked at call time.
    """
    if not FUNCTIONS[fn.__name__].gated:
        check_hyperparameters(owner, fn, **params)


def call_stateless(
    owner: str, fn: Callable[..., Array], inputs: ArrayLike, params: Mapping[str, Any]
) -> Array:
    """``fn(inputs, **params)`` with errors naming the module."""
    with renamed_errors(owner, fn.__name__):
        return fn(inputs, **params)


def check_flag(owner: str, name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool | np.bool_):
        raise TypeError(f"{owner}: {name} must be True, False or None, got {value!r}.")


def check_dropout_attributes(owner: str, rate: Any, broadcast_dims: Any) -> float:
    rate = check_rate(owner, rate)
    if not is_concrete(rate):
        raise TypeError(
            f"{owner}: rate must be a Python number (a module attribute), got a tracer."
        )
    check_dims_type(owner, broadcast_dims)  # the range is checked against the input, at call time
    return rate


def check_float_input(owner: str, x: ArrayLike) -> Array:
    """The input as an array, checked as the functions check it (for paths that skip the function)."""
    with renamed_errors(owner, "alpha_dropout"):
        return check_input("alpha_dropout", x)


def apply_alpha_dropout(
    owner: str, x: ArrayLike, rate: float, broadcast_dims: Sequence[int], key: ArrayLike
) -> Array:
    with renamed_errors(owner, "alpha_dropout"):
        return alpha_dropout(x, rate, key=key, broadcast_dims=broadcast_dims)


# --------------------------------------------------------------------------------------------------
# PReLU's slope layout
# --------------------------------------------------------------------------------------------------


def check_axis(owner: str, axis: Any) -> tuple[int, ...] | None:
    """``None`` (one shared slope) or a tuple of distinct axes; an int becomes a 1-tuple."""
    if axis is None:
        return None
    if isinstance(axis, int | np.integer) and not isinstance(axis, bool):
        return (int(axis),)
    if (
        isinstance(axis, Sequence)
        and not isinstance(axis, str)
        and len(axis) > 0
        and all(isinstance(a, int | np.integer) and not isinstance(a, bool) for a in axis)
    ):
        return tuple(int(a) for a in axis)
    raise TypeError(
        f"{owner}: axis must be an int (one slope per channel on that axis), a non-empty tuple of ints "
        f"(one slope per element of those axes) or None (one shared slope), got {axis!r}."
    )


def normalise_axes(owner: str, axes: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """Axes as non-negative indices into an input of ``ndim`` axes, checked, in the order given."""
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{owner}: axis {a} is out of range for an input with {ndim} axes; the slopes were "
                f"set up for axis={_show_axes(axes)}. Use negative axes (e.g. -1 for channels last) "
                "so that batched and unbatched inputs both work."
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(
            f"{owner}: axis={_show_axes(axes)} names the same input axis twice for an input with "
            f"{ndim} axes."
        )
    return tuple(out)


def _show_axes(axes: tuple[int, ...] | None) -> str:
    if axes is None:
        return "None"
    return str(axes[0]) if len(axes) == 1 else str(axes)


def slope_shape(
    owner: str, x_shape: tuple[int, ...], axes: tuple[int, ...] | None
) -> tuple[int, ...]:
    """The parameter's shape for an input of ``x_shape``: the sizes of ``axes``, in the order given."""
    if axes is None:
        return ()
    pos = normalise_axes(owner, axes, len(x_shape))
    return tuple(x_shape[a] for a in pos)


def check_slope_shape(
    owner: str, x_shape: tuple[int, ...], shape: tuple[int, ...], axes: tuple[int, ...] | None
) -> None:
    """ValueError naming both shapes when the slopes do not fit the input's sizes on ``axes``."""
    expected = slope_shape(owner, x_shape, axes)
    if tuple(shape) != expected and axes is None and ".linen." in owner and len(shape) == 1:
        if x_shape and shape[0] == x_shape[-1]:  # a tree made by PReLU() before 0.2.0
            raise ValueError(
                f"{owner}: the parameters hold {shape[0]} slopes, one per channel of the last axis, "
                f"for input of shape {tuple(x_shape)}, but this PReLU() has one shared slope. "
                "PReLU()'s default changed in jrelu 0.2.0 from one slope per channel (axis=-1) to "
                "one shared slope (axis=None), as Flax's and PyTorch's PReLU() (CHANGELOG.md). To "
                "apply parameters made with the old default, create the module as "
                "PReLU(axis=-1); for one shared slope, initialise the parameters again."
            )
    if tuple(shape) != expected:
        shared = "num_channels=None" if ".nnx." in owner else "axis=None"
        raise ValueError(
            f"{owner}: input of shape {tuple(x_shape)} has sizes {expected} on "
            f"axis={_show_axes(axes)}, but the slopes have shape {tuple(shape)} (set when the module "
            "was created or initialised). Apply the module to inputs with those sizes on that axis, "
            f"use one module per input layout, or {shared} for one shared slope."
            + _other_axis_hint(owner, x_shape, shape, axes)
        )


def _other_axis_hint(
    owner: str, x_shape: tuple[int, ...], shape: tuple[int, ...], axes: tuple[int, ...] | None
) -> str:
    """Where one row of slopes fits another axis of the input (NCHW input to a channels-last module,
    PyTorch's layout): the module to create instead, as jrelu.prelu's own message names ``axis=``."""
    if axes is None or len(axes) != 1 or len(shape) != 1:
        return ""
    fits = [i for i, n in enumerate(x_shape) if n == shape[0]]
    if not fits:
        return ""
    ax = 1 if 1 in fits else fits[0]  # NCHW's channel axis first
    make = f"PReLU({shape[0]}, axis={ax})" if ".nnx." in owner else f"PReLU(axis={ax})"
    return (
        f" The input's axis {ax} has {shape[0]} entries: for channels-first input (NCHW), create "
        f"the module as {make}."
    )


def apply_prelu(
    owner: str,
    x: ArrayLike,
    slope: Array,
    axes: tuple[int, ...] | None,
    dtype: Any,
) -> Array:
    """``jrelu.prelu`` with ``slope`` laid out along ``axes`` of ``x``; the output has ``dtype``.

    The slope keeps its own dtype (``param_dtype``): the kernel computes in float32 (or wider) and rounds
    once, so a float32 slope is never rounded to bfloat16 on the way, and its gradient comes back in
    ``param_dtype``.
    """
    if dtype is not None:
        x = jnp.asarray(x, dtype)
    x = jnp.asarray(x)
    check_slope_shape(owner, x.shape, slope.shape, axes)
    if axes is not None:
        pos = normalise_axes(owner, axes, x.ndim)
        # Lay the slopes out along their axes, then drop the leading 1s: prelu aligns trailing axes.
        order = sorted(range(len(pos)), key=lambda i: pos[i])
        slope = jnp.transpose(slope, order) if order != list(range(len(pos))) else slope
        full = [1] * x.ndim
        for p in pos:
            full[p] = x.shape[p]
        slope = slope.reshape(full[min(pos) :])
    with renamed_errors(owner, "prelu"):
        return prelu(x, slope)


def check_init(owner: str, init: Any, param_dtype: Any = None) -> None:
    """``negative_slope_init`` is a finite real number (also in ``param_dtype``, the slope's dtype) or an
    initializer ``(key, shape, dtype)``."""
    if callable(init):
        return
    if isinstance(init, bool) or not isinstance(init, numbers.Real | np.ndarray | jax.Array):
        raise TypeError(
            f"{owner}: negative_slope_init must be a real number or an initializer "
            f"(key, shape, dtype) -> array, got {init!r}."
        )
    arr = np.asarray(init)
    if arr.shape != ():
        raise ValueError(
            f"{owner}: negative_slope_init must be a scalar (every slope starts there) or an "
            f"initializer, got shape {arr.shape}."
        )
    if not np.isfinite(float(arr)):
        raise ValueError(f"{owner}: negative_slope_init must be finite, got {float(arr)!r}.")
    if param_dtype is not None:
        dt = jnp.dtype(param_dtype)
        with np.errstate(over="ignore"):
            as_param = np.asarray(float(arr), dt)
        if not np.isfinite(as_param):
            raise ValueError(
                f"{owner}: negative_slope_init={float(arr)!r} overflows to inf in param_dtype {dt}; "
                f"use a value within ±{float(jnp.finfo(dt).max):.4g}, or a wider param_dtype."
            )


def init_slope(init: Any, key: Array | None, shape: tuple[int, ...], dtype: Any) -> Array:
    if callable(init):
        out = init(key, shape, dtype)
        # Flax metadata boxes (nn.with_partitioning, ...) pass through for Flax to unbox.
        return out if hasattr(out, "unbox") else jnp.asarray(out, dtype)
    return jnp.full(shape, init, dtype)


def check_param_dtype(owner: str, name: str, dtype: Any, *, optional: bool) -> None:
    if dtype is None and optional:
        return
    try:
        dt = jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{owner}: {name} must be a floating point dtype, got {dtype!r}.") from e
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"{owner}: {name} must be a floating point dtype, got {dt}; e.g. jnp.float32 or "
            "jnp.bfloat16."
        )
