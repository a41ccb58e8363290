"""jrelu's stateful and random activations as Equinox modules.

Equinox's conventions: each is an ``eqx.Module`` (a pytree) applied to one **unbatched** example,
channels first (``jax.vmap`` it over a batch), and every ``__call__`` takes ``*, key=None`` so the
modules compose in ``eqx.nn.Sequential``. The random ones switch like ``eqx.nn.Dropout``: an
``inference`` attribute (toggled by ``eqx.nn.inference_mode``) that a call-time ``inference=`` overrides,
and a ``key=`` at call time in training.

* :class:`PReLU` -- learned slopes (``negative_slope``): one shared, or one per channel along ``axis``.
* :class:`RReLU` -- random slopes in training, ``(lower + upper) / 2`` in inference.
* :class:`AlphaDropout` -- SELU's dropout; the identity in inference.

The stateless functions need no module: pass them as they are (``eqx.nn.MLP(activation=jrelu.elu)``,
``eqx.nn.Lambda(jrelu.selu)``, ``jrelu.get("leaky_relu", negative_slope=0.2)``).

Importing this module imports Equinox (``pip install "jrelu[equinox]"``); ``import jrelu`` alone does not.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

try:
    import equinox as eqx
except ImportError as e:  # pragma: no cover - exercised in a subprocess without equinox
    raise ImportError(
        "jrelu.equinox needs Equinox, which is not installed; install it with "
        "pip install 'jrelu[equinox]' (or pip install 'equinox>=0.13.0'). The functions in jrelu "
        "itself work without it."
    ) from e

from jrelu import _flax_common as common
from jrelu._core import check_input, is_concrete
from jrelu._random import rrelu
from jrelu._rectifiers import prelu

__all__ = ["AlphaDropout", "PReLU", "RReLU"]

Array = jax.Array
_OWNER = "jrelu.equinox."


def _inference(owner: str, attribute: Any, argument: Any) -> bool:
    """The call-time ``inference`` if given, else the attribute (as ``eqx.nn.Dropout``)."""
    common.check_flag(owner, "inference", argument)
    value = attribute if argument is None else argument
    if not is_concrete(value):
        raise TypeError(
            f"{owner}: inference must be a Python bool, got a tracer; keep it static: use "
            "eqx.filter_jit (which treats bools as static) rather than jax.jit on the module."
        )
    return bool(value)


def _need_key(owner: str, key: Any, what: str) -> Any:
    if key is None:
        # RuntimeError, as eqx.nn.Dropout raises for the same mistake.
        raise RuntimeError(
            f"{owner} requires a key when inference=False (training): pass key=jax.random.key(0) "
            "at call time (eqx.nn.Sequential splits its key= among its layers), or switch to "
            f"inference ({what}) with eqx.nn.inference_mode(model) or inference=True."
        )
    return key


# --------------------------------------------------------------------------------------------------
# PReLU
# --------------------------------------------------------------------------------------------------


class PReLU(eqx.Module):
    """Parametric ReLU (He et al. 2015) with learned slopes: one shared, or one per channel.

    ``y = x`` for ``x > 0`` and ``negative_slope * x`` otherwise, through :func:`jrelu.prelu`: **at the
    kink d/dx = the slope and d/dslope = 0** (PyTorch's convention; ``eqx.nn.PReLU`` gives d/dx = 1
    there, and equals this module everywhere else). The backward pass of a learned slope keeps ``x``
    and a 1-bit mask.

    * ``PReLU()``: one shared slope (``eqx.nn.PReLU()``, PyTorch's ``PReLU()``); any input shape,
      scalars included (so it serves as ``eqx.nn.MLP(activation=PReLU())``, which learns one slope
      per neuron).
    * ``PReLU(C)``: one slope per channel along ``axis`` of the unbatched input (default 0: channels
      first, ``(C, H, W)``, as every Equinox layer). For a batch, ``jax.vmap`` the module.

    He et al. apply no weight decay to the slopes: :func:`jrelu.weight_decay_mask` keeps the field
    ``negative_slope`` out of optax's decay.

    Shape:
      Input: floating point, unbatched; with ``num_channels``, size ``num_channels`` on ``axis``.
      Output: the input's shape and dtype. Field ``negative_slope``: ``()`` or ``(num_channels,)``.

    Attributes:
      negative_slope: the learned slopes (an array leaf, trained like any Equinox weight).
      axis: the input axis the slopes run along, or None for one shared slope (a static field).

    Args:
      num_channels: None (one shared slope, the default) or the number of channels, a positive int.
      axis: the axis of the unbatched input the channels are on (default 0); unused without
        ``num_channels``.
      init: the initial slope, a finite real number (default 0.25, He et al. and PyTorch).
      dtype: the slopes' dtype (keyword only; default None: JAX's default float, float32 or float64
        under ``jax_enable_x64``, as Equinox's layers). The math runs in float32 or wider and rounds
        once to the input's dtype; the slope's gradient comes back in ``dtype``.

    Raises:
      TypeError: for a ``num_channels``, ``axis``, ``init`` or ``dtype`` of the wrong type.
      ValueError: for a ``num_channels`` below 1 or an ``init`` that is not finite; at call time, for
        an input whose size on ``axis`` is not ``num_channels`` (the message names both shapes).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import equinox as jeqx
      >>> act = jeqx.PReLU(3)  # one slope per channel of a (C, H, W) input
      >>> act.negative_slope
      Array([0.25, 0.25, 0.25], dtype=float32)
      >>> act(-jnp.ones((3, 2, 2)))[:, 0, 0]
      Array([-0.25, -0.25, -0.25], dtype=float32)
      >>> jax.vmap(act)(-jnp.ones((8, 3, 2, 2))).shape  # a batch: vmap, as every Equinox layer
      (8, 3, 2, 2)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015.
    """

    negative_slope: Array
    axis: int | None = eqx.field(static=True)

    def __init__(
        self,
        num_channels: int | None = None,
        axis: int = 0,
        init: float = 0.25,
        *,
        dtype: Any = None,
    ) -> None:
        owner = _OWNER + "PReLU"
        if num_channels is not None and (
            not isinstance(num_channels, int | np.integer) or isinstance(num_channels, bool)
        ):
            raise TypeError(
                f"{owner}: num_channels must be None (one shared slope) or an int (one slope per "
                f"channel along axis), got {num_channels!r}."
            )
        if num_channels is not None and num_channels < 1:
            raise ValueError(f"{owner}: num_channels must be positive, got {num_channels!r}.")
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(
                f"{owner}: axis must be an int (the channel axis of the unbatched input, e.g. 0 for "
                f"(C, H, W) or -1 for channels last), got {axis!r}."
            )
        if isinstance(init, bool) or not isinstance(init, numbers.Real):
            raise TypeError(
                f"{owner}: init must be a real number (every slope starts there), got {init!r}; "
                "to start from other values, build the module and set negative_slope with "
                "eqx.tree_at."
            )
        if not np.isfinite(float(init)):
            raise ValueError(f"{owner}: init must be finite, got {float(init)!r}.")
        if dtype is None:
            dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # Equinox's default float
        common.check_param_dtype(owner, "dtype", dtype, optional=False)
        shape = () if num_channels is None else (int(num_channels),)
        self.negative_slope = jnp.full(shape, float(init), dtype)
        self.axis = None if num_channels is None else int(axis)

    def __call__(self, x: ArrayLike, *, key: ArrayLike | None = None) -> Array:
        """Apply to one unbatched input; ``key`` is ignored (it is there for ``eqx.nn.Sequential``)."""
        del key
        owner = _OWNER + "PReLU"
        with jax.named_scope(owner), common.renamed_errors(owner, "prelu"):
            if self.axis is None:
                return prelu(x, self.negative_slope)
            x = check_input("prelu", x)
            (channels,) = self.negative_slope.shape
            if not -x.ndim <= self.axis < x.ndim or x.shape[self.axis] != channels:
                raise ValueError(
                    f"{owner}: the module has {channels} slopes for axis {self.axis}, but the input "
                    f"has shape {x.shape}. Equinox modules take one unbatched example (channels "
                    f"first, e.g. (C, H, W)): jax.vmap the module over a batch, or create it with "
                    "the axis its channels are on."
                )
            return prelu(x, self.negative_slope, axis=self.axis)


# --------------------------------------------------------------------------------------------------
# Random modules
# --------------------------------------------------------------------------------------------------


class RReLU(eqx.Module):
    """Randomised leaky ReLU (Xu et al. 2015): :func:`jrelu.rrelu` as an Equinox module.

    Training (``inference=False``, the default): every element draws its slope from
    ``U(lower, upper)`` with the ``key`` given at call time (required, as ``eqx.nn.Dropout``'s; the
    same key gives the same slopes as ``jrelu.rrelu(x, lower, upper, key=key)``). Inference
    (``inference=True``, set by ``eqx.nn.inference_mode``): the fixed slope ``(lower + upper) / 2``,
    as PyTorch's ``RReLU`` in eval mode. A call-time ``inference`` takes precedence over the field.
    The backward pass keeps the output and the key and re-draws the slopes (on XLA:CPU, for a traced
    input of 4 or more axes, the input in place of the output).

    The slopes are a hash of the key and each element's position in the (unbatched) input: under
    ``jax.vmap`` give every example its own key (``jax.random.split(key, batch)``), as for
    ``eqx.nn.Dropout``; one shared key gives every example the same slopes.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      lower: smallest slope (default 1/8).
      upper: largest slope (default 1/3); ``lower <= upper``, checked at construction.
      inference: True for the fixed slope, False (default) to draw slopes.

    Raises:
      TypeError / ValueError: at construction, for bad bounds or an ``inference`` that is not a bool.
      RuntimeError: when called in training without a key.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> import equinox as eqx
      >>> from jrelu import equinox as jeqx
      >>> act = jeqx.RReLU(0.1, 0.3)
      >>> y = act(-jnp.ones(4), key=jax.random.key(0))
      >>> bool(jnp.all((-y >= 0.1) & (-y <= 0.3)))
      True
      >>> eqx.nn.inference_mode(act)(-jnp.ones(4))
      Array([-0.2, -0.2, -0.2, -0.2], dtype=float32)

    References:
      Xu, Wang, Chen & Li, *Empirical Evaluation of Rectified Activations in Convolutional Network*, 2015.
    """

    # Not static, as eqx.nn.Dropout's p and inference: they may be changed with eqx.tree_at.
    lower: float
    upper: float
    inference: bool

    def __init__(
        self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0, inference: bool = False
    ) -> None:
        owner = _OWNER + "RReLU"
        common.check_hyperparameters(owner, rrelu, lower=lower, upper=upper)
        common.check_flag(owner, "inference", inference)
        if inference is None:
            raise TypeError(f"{owner}: inference must be True or False, got None.")
        self.lower = lower
        self.upper = upper
        self.inference = bool(inference)

    def __call__(
        self, x: ArrayLike, *, key: ArrayLike | None = None, inference: bool | None = None
    ) -> Array:
        """Apply to ``x`` with ``key`` (training), or with the fixed slope (inference)."""
        owner = _OWNER + "RReLU"
        with jax.named_scope(owner), common.renamed_errors(owner, "rrelu"):
            if _inference(owner, self.inference, inference):
                return rrelu(x, self.lower, self.upper)
            return rrelu(
                x,
                self.lower,
                self.upper,
                key=_need_key(owner, key, "the slope (lower + upper) / 2"),
            )


class AlphaDropout(eqx.Module):
    """Alpha dropout (Klambauer et al. 2017), SELU's companion: :func:`jrelu.alpha_dropout` as a module.

    Keeps mean 0 and variance 1 of a standardised input: dropped units take SELU's saturation value,
    then an affine map restores the moments (the dropped value equals PyTorch's, -1.23616 at
    ``rate=0.2``). Training (``inference=False``, the default) needs ``key`` at call time, as
    ``eqx.nn.Dropout``; the same key gives the same mask as ``jrelu.alpha_dropout(x, rate, key=key)``.
    Inference (``inference=True``, ``eqx.nn.inference_mode``) and ``rate=0`` are the identity, with
    no key needed. The backward pass keeps only the key. Under ``jax.vmap``, split the key per example
    (the mask is a hash of the key and the position in the unbatched input).

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      rate: the probability of dropping a unit, in [0, 1] (not the keep rate).
      broadcast_dims: axes of the unbatched input that share one mask entry, e.g. ``(1, 2)`` on
        ``(C, H, W)`` to drop whole channels (PyTorch's ``FeatureAlphaDropout``). A static field.
      inference: True for the identity, False (default) to drop.

    Raises:
      TypeError / ValueError: at construction, for a bad ``rate``, ``broadcast_dims`` or ``inference``.
      RuntimeError: when called in training (``rate > 0``) without a key.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import equinox as jeqx
      >>> drop = jeqx.AlphaDropout(0.2)
      >>> y = drop(jax.random.normal(jax.random.key(0), (100_000,)), key=jax.random.key(1))
      >>> print(f"{y.mean():.2f} {y.std():.2f}")
      0.00 1.00
      >>> drop(jnp.array([1.0, -1.0]), inference=True)
      Array([ 1., -1.], dtype=float32)

    References:
      Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
    """

    rate: float
    broadcast_dims: tuple[int, ...] = eqx.field(static=True)
    inference: bool

    def __init__(
        self, rate: float, broadcast_dims: Sequence[int] = (), inference: bool = False
    ) -> None:
        owner = _OWNER + "AlphaDropout"
        self.rate = common.check_dropout_attributes(owner, rate, broadcast_dims)
        common.check_flag(owner, "inference", inference)
        if inference is None:
            raise TypeError(f"{owner}: inference must be True or False, got None.")
        self.broadcast_dims = common.check_dims_type(owner, broadcast_dims)
        self.inference = bool(inference)

    def __call__(
        self, x: ArrayLike, *, key: ArrayLike | None = None, inference: bool | None = None
    ) -> Array:
        """Apply to ``x`` with ``key`` (training), or return it unchanged (inference)."""
        owner = _OWNER + "AlphaDropout"
        with jax.named_scope(owner):
            rate = self.rate
            if _inference(owner, self.inference, inference) or (is_concrete(rate) and rate == 0.0):
                return common.check_float_input(owner, x)
            key = _need_key(owner, key, "the identity")
            return common.apply_alpha_dropout(owner, x, rate, self.broadcast_dims, key)
