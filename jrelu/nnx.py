"""jrelu's activations as Flax NNX modules.

The same set and behaviour as :mod:`jrelu.linen`, in NNX's idiom: hyperparameters and shapes are given at
construction (checked there, errors name the module), PReLU's slopes are an ``nnx.Param`` named
``negative_slope``, and the random modules take ``rngs=`` and switch with ``.train()`` / ``.eval()`` /
``nnx.view(..., deterministic=...)`` like ``nnx.Dropout``. Their default rng stream is ``"dropout"``
(falling back to ``"default"``, as NNX streams do).

Importing this module imports Flax; ``import jrelu`` alone does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from jrelu import _flax_common as common
from jrelu._exponential import celu, elu, selu
from jrelu._random import check_key, rrelu
from jrelu._rectifiers import leaky_relu, reglu, relu, relu6, squared_relu

__all__ = [
    "CELU",
    "ELU",
    "SELU",
    "AlphaDropout",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ReGLU",
    "ReLU",
    "ReLU6",
    "SquaredReLU",
]

Array = jax.Array
Dtype = Any
_OWNER = "jrelu.nnx."
_data = getattr(nnx, "data", lambda v: v)  # marks a None attribute as data (Flax >= 0.12)


# --------------------------------------------------------------------------------------------------
# Stateless activations
# --------------------------------------------------------------------------------------------------


class _Stateless(nnx.Module):
    """A stateless activation: ``function`` applied with the module's attributes as its arguments.

    A subclass's body is its ``function`` (a :data:`jrelu.FUNCTIONS` entry), its attributes (annotated:
    the function's arguments after ``x``, checked when the class is defined) and its docstring. The
    constructor takes the function's arguments, with its defaults and kinds (positional or keyword-only),
    checks them and errors name the module.
    """

    function: ClassVar[Callable[..., Array]]
    _function: ClassVar[Callable[..., Array]]  # what __call__ calls (see below)
    _owner: ClassVar[str]
    _signature: ClassVar[inspect.Signature]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fn = cls.__dict__.get("function")
        if fn is None:
            return
        if not isinstance(fn, staticmethod):  # kept as a plain function, not bound as a method
            cls.function = staticmethod(fn)
        # nnx.capture(..., method_outputs=...) instruments the public callables in the class's own
        # __dict__ only: each class holds __call__ itself (or its outputs would not be captured), and
        # calls its function under a private name (``function`` is wrapped as a method meanwhile).
        cls.__call__ = _Stateless.__dict__["__call__"]  # type: ignore[method-assign]  # on purpose
        cls._function = staticmethod(cls.function)
        cls._owner = _OWNER + cls.__name__
        cls._signature = common.stateless_signature(cls._owner, cls._function)
        common.check_stateless_attributes(
            cls._owner,
            cls._signature,
            dict.fromkeys(inspect.get_annotations(cls), inspect.Parameter.empty),
        )
        # What inspect.signature, help() and the API reference show: the function's own arguments.
        cls.__signature__ = cls._signature  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self._owner}: {e}; its arguments are {self._signature}.") from None
        bound.apply_defaults()
        common.check_stateless(self._owner, self._function, bound.arguments)
        for k, v in bound.arguments.items():
            setattr(self, k, v)

    def __call__(self, inputs: ArrayLike) -> Array:
        params = {k: getattr(self, k) for k in self._signature.parameters}
        return common.call_stateless(self._owner, self._function, inputs, params)


class ReLU(_Stateless):
    """:func:`jrelu.relu` as an NNX module: ``max(0, x)``, relu'(0) = 0.

    Shape:
      Input: any shape. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.ReLU()(jnp.array([-1.0, 0.0, 2.0]))
      Array([0., 0., 2.], dtype=float32)
    """

    function = relu


class ReLU6(_Stateless):
    """:func:`jrelu.relu6` as an NNX module: ``min(max(0, x), 6)``.

    Shape:
      Input: any shape. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.ReLU6()(jnp.array([-1.0, 3.0, 9.0]))
      Array([0., 3., 6.], dtype=float32)
    """

    function = relu6


class LeakyReLU(_Stateless):
    """:func:`jrelu.leaky_relu` as an NNX module: ``x`` if ``x > 0`` else ``negative_slope * x``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      negative_slope: the slope for ``x <= 0`` (default 0.01), any finite real number. Checked at
        construction.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.LeakyReLU(negative_slope=0.2)(jnp.array([-1.0, 2.0]))
      Array([-0.2,  2. ], dtype=float32)
    """

    function = leaky_relu
    negative_slope: ArrayLike


class ELU(_Stateless):
    """:func:`jrelu.elu` as an NNX module: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      alpha: the negative-side scale (default 1.0), finite. Checked at construction.
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.ELU(alpha=0.5)(jnp.array([-1.0, 2.0]))
      Array([-0.31606027,  2.        ], dtype=float32)
    """

    function = elu
    alpha: ArrayLike
    precise: bool


class CELU(_Stateless):
    """:func:`jrelu.celu` as an NNX module: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      alpha: the scale (default 1.0), finite and nonzero. Checked at construction.
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.CELU(alpha=2.0)(jnp.array([-2.0, 2.0]))
      Array([-1.2642411,  2.       ], dtype=float32)
    """

    function = celu
    alpha: ArrayLike
    precise: bool


class SELU(_Stateless):
    """:func:`jrelu.selu` as an NNX module: the self-normalising ELU (pair it with :class:`AlphaDropout`).

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.SELU()(jnp.array([-1.0, 1.0]))
      Array([-1.1113307,  1.050701 ], dtype=float32)
    """

    function = selu
    precise: bool


class SquaredReLU(_Stateless):
    """:func:`jrelu.squared_relu` as an NNX module: ``relu(x) ** 2``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.SquaredReLU()(jnp.array([-1.0, 3.0]))
      Array([0., 9.], dtype=float32)
    """

    function = squared_relu


class ReGLU(_Stateless):
    """:func:`jrelu.reglu` as an NNX module: ``a * relu(b)`` for the halves ``a, b`` of ``axis``.

    Shape:
      Input: even size along ``axis``. Output: half that size along ``axis``, the input's dtype.

    Attributes:
      axis: the axis split into value and gate halves (default -1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> jnn.ReGLU()(jnp.array([2.0, 3.0, -1.0, 0.5]))
      Array([0. , 1.5], dtype=float32)
    """

    function = reglu
    axis: int


# --------------------------------------------------------------------------------------------------
# PReLU
# --------------------------------------------------------------------------------------------------


class PReLU(nnx.Module):
    """Parametric ReLU (He et al. 2015) with learned slopes: per channel, shared, or per element.

    ``y = x`` for ``x > 0`` and ``negative_slope * x`` otherwise, through :func:`jrelu.prelu` (at the kink
    d/dx = the slope and d/dslope = 0, as in PyTorch). NNX builds parameters eagerly, so the slope shape
    comes from ``num_channels``:

    * ``PReLU(C)``: one slope per channel on ``axis`` (default -1, channels last; ``axis=1`` for NCHW,
      as PyTorch's ``PReLU(C)``);
    * ``PReLU()`` (``num_channels=None``): one shared slope (Flax's ``nnx.PReLU``, PyTorch's
      ``PReLU()``); ``axis`` is then unused;
    * ``PReLU((H, W, C), axis=(-3, -2, -1))``: one slope per element of those axes (Keras' default).

    The parameter ``negative_slope`` (an ``nnx.Param``) starts at 0.25 (He et al., PyTorch; Flax starts
    at 0.01). He et al. apply no weight decay to it: :func:`jrelu.weight_decay_mask` builds optax's
    ``mask=`` for that.

    Shape:
      Input: floating point, with sizes ``num_channels`` on ``axis``. Output: the input's shape, in
      ``dtype`` (default: the input's dtype). Parameter ``negative_slope``: ``num_channels`` (``()`` for
      None; ``(C,)`` for an int).

    Attributes:
      negative_slope: the ``nnx.Param`` of slopes, in ``param_dtype``.
      axis: the input axes the slopes run along (a tuple), or None for one shared slope.
      dtype: the output dtype (None: the input's). The math runs in float32 or wider and rounds once.
      param_dtype: the slope's dtype (default float32). The slope is not cast to ``dtype``, and its
        gradient comes back in ``param_dtype``.

    Args:
      num_channels: None, an int, or a tuple of sizes (one per axis in ``axis``).
      axis: an int or a tuple of ints (default -1); unused (and may be None) for a shared slope.
      negative_slope_init: the initial slope (default 0.25) or an initializer ``(key, shape, dtype)``
        (which needs ``rngs``).
      dtype, param_dtype: as above.
      rngs: only needed for an initializer ``negative_slope_init`` (its ``params`` stream is used).
      negative_slope_metadata: metadata for the ``nnx.Param`` (e.g. sharding).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import nnx as jnn
      >>> act = jnn.PReLU(3)
      >>> act.negative_slope[...]
      Array([0.25, 0.25, 0.25], dtype=float32)
      >>> act(jnp.array([[-1.0, -2.0, 3.0]]))
      Array([[-0.25, -0.5 ,  3.  ]], dtype=float32)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015.
    """

    def __init__(
        self,
        num_channels: int | Sequence[int] | None = None,
        *,
        axis: int | Sequence[int] | None = -1,
        negative_slope_init: Any = 0.25,
        dtype: Dtype | None = None,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs | None = None,
        negative_slope_metadata: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        owner = _OWNER + "PReLU"
        axes = common.check_axis(owner, axis)
        if num_channels is not None and axes is None:
            raise ValueError(
                f"{owner}: num_channels={num_channels!r} needs the axis it runs along, got axis=None; "
                "use axis=-1 (channels last), or num_channels=None for one shared slope."
            )
        shape = _channel_shape(owner, num_channels, axes or ())
        common.check_param_dtype(owner, "dtype", dtype, optional=True)
        common.check_param_dtype(owner, "param_dtype", param_dtype, optional=False)
        common.check_init(owner, negative_slope_init, param_dtype)
        key = None
        if callable(negative_slope_init):
            if rngs is None:
                raise TypeError(
                    f"{owner}: negative_slope_init is an initializer, which needs a key; pass "
                    "rngs=nnx.Rngs(0) (its 'params' stream is used), or give a number."
                )
            key = rngs.params()
        value = common.init_slope(negative_slope_init, key, shape, param_dtype)
        self.negative_slope = nnx.Param(value, **negative_slope_metadata)
        self.axis = None if num_channels is None else axes
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(self, inputs: ArrayLike) -> Array:
        return common.apply_prelu(
            _OWNER + "PReLU", inputs, self.negative_slope[...], self.axis, self.dtype
        )


def _channel_shape(owner: str, num: Any, axes: tuple[int, ...]) -> tuple[int, ...]:
    if num is None:
        return ()
    sizes = (num,) if isinstance(num, int | np.integer) and not isinstance(num, bool) else num
    if (
        not isinstance(sizes, Sequence)
        or isinstance(sizes, str)
        or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in sizes)
    ):
        raise TypeError(
            f"{owner}: num_channels must be None (one shared slope), an int or a tuple of ints, got "
            f"{num!r}."
        )
    if any(n < 1 for n in sizes):
        raise ValueError(f"{owner}: num_channels must be positive, got {num!r}.")
    if len(sizes) != len(axes):
        raise ValueError(
            f"{owner}: num_channels={num!r} gives {len(sizes)} size(s) but axis="
            f"{axes[0] if len(axes) == 1 else axes} names {len(axes)} axis/axes; give one size per "
            "axis, e.g. PReLU((H, W, C), axis=(-3, -2, -1))."
        )
    return tuple(int(n) for n in sizes)


# --------------------------------------------------------------------------------------------------
# Random modules
# --------------------------------------------------------------------------------------------------


def _fork(owner: str, rngs: Any, collection: str) -> Any:
    # As nnx.Dropout: keep a forked stream, so the module draws its own keys.
    if isinstance(rngs, nnx.Rngs):
        return rngs[collection].fork()
    if isinstance(rngs, nnx.RngStream):
        return rngs.fork()
    if rngs is None:
        return _data(None)
    if isinstance(rngs, jax.Array | np.ndarray) and (
        jax.dtypes.issubdtype(rngs.dtype, jax.dtypes.prng_key) or rngs.dtype == np.uint32
    ):
        # A key at construction seeds the module's own stream (as nnx.Rngs(key) would): every call
        # then draws a fresh key from it. (A key given at call time is used as it is.)
        with common.renamed_errors(owner, "rrelu"):
            check_key("rrelu", rngs)
        try:
            return nnx.Rngs(**{collection: jnp.asarray(rngs)})[collection].fork()
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{owner}: rngs is not a usable PRNG key (dtype {rngs.dtype}, shape {rngs.shape}); "
                "pass jax.random.key(seed) or nnx.Rngs(seed)."
            ) from e
    raise TypeError(
        f"{owner}: rngs must be an nnx.Rngs, an nnx.RngStream, a PRNG key or None, got "
        f"{type(rngs).__name__}."
    )


def _key(owner: str, call_rngs: Any, own_rngs: Any, collection: str) -> Array:
    rngs = own_rngs if call_rngs is None else call_rngs
    if rngs is None:
        raise ValueError(
            f"{owner}: deterministic is False but no rngs were given; pass rngs=nnx.Rngs(0) to the "
            "constructor or to the call, or switch to evaluation with .eval() or deterministic=True."
        )
    if isinstance(rngs, nnx.Rngs):
        return rngs[collection]()
    if isinstance(rngs, nnx.RngStream):
        return rngs()
    if isinstance(rngs, jax.Array):
        return rngs
    raise TypeError(
        f"{owner}: rngs must be an nnx.Rngs, an nnx.RngStream or a key, got {type(rngs).__name__}."
    )


def _deterministic(owner: str, attribute: bool | None, argument: bool | None) -> bool:
    common.check_flag(owner, "deterministic", argument)
    value = attribute if argument is None else argument
    if value is None:
        raise ValueError(
            f"{owner}: deterministic is None; set it with .train() / .eval(), nnx.view(model, "
            "deterministic=...), the constructor or the call."
        )
    return bool(value)


class RReLU(nnx.Module):
    """Randomised leaky ReLU (Xu et al. 2015): :func:`jrelu.rrelu` as an NNX module.

    Training (``deterministic=False``, the default, or after ``.train()``): every element draws its slope
    from ``U(lower, upper)`` with a key from ``rngs`` (stream ``rng_collection``, default ``"dropout"``).
    Evaluation (``.eval()`` or ``deterministic=True``): the fixed slope ``(lower + upper) / 2``, as
    PyTorch's ``RReLU`` in eval mode. A ``deterministic`` or ``rngs`` given at call time takes
    precedence, as in ``nnx.Dropout``. The backward pass re-draws the slopes from the key.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      lower: smallest slope (default 1/8).
      upper: largest slope (default 1/3); ``lower <= upper``, checked at construction.
      deterministic: True for the evaluation slope, False (default) to draw slopes.
      rng_collection: the stream drawn from (default ``"dropout"``).
      rngs: the module's own forked stream, or None. The constructor takes an ``nnx.Rngs``, an
        ``nnx.RngStream`` or a PRNG key (which seeds the stream, as ``nnx.Rngs(key)``: each call then
        draws a new key; a key given at call time is used as it is).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jrelu import nnx as jnn
      >>> act = jnn.RReLU(0.1, 0.3, rngs=nnx.Rngs(0))
      >>> y = act(-jnp.ones(4))
      >>> bool(jnp.all((-y >= 0.1) & (-y <= 0.3)))
      True
      >>> act.eval()
      >>> act(-jnp.ones(4))
      Array([-0.2, -0.2, -0.2, -0.2], dtype=float32)

    References:
      Xu, Wang, Chen & Li, *Empirical Evaluation of Rectified Activations in Convolutional Network*, 2015.
    """

    def __init__(
        self,
        lower: ArrayLike = 1.0 / 8.0,
        upper: ArrayLike = 1.0 / 3.0,
        *,
        deterministic: bool | None = False,
        rng_collection: str = "dropout",
        rngs: nnx.Rngs | nnx.RngStream | Array | None = None,
    ) -> None:
        owner = _OWNER + "RReLU"
        common.check_hyperparameters(owner, rrelu, lower=lower, upper=upper)
        common.check_flag(owner, "deterministic", deterministic)
        self.lower = lower
        self.upper = upper
        self.deterministic = deterministic
        self.rng_collection = rng_collection
        self.rngs = _fork(owner, rngs, rng_collection)

    def __call__(
        self,
        inputs: ArrayLike,
        *,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | Array | None = None,
    ) -> Array:
        owner = _OWNER + "RReLU"
        with common.renamed_errors(owner, "rrelu"):
            if _deterministic(owner, self.deterministic, deterministic):
                return rrelu(inputs, self.lower, self.upper)
            key = _key(owner, rngs, self.rngs, self.rng_collection)
            return rrelu(inputs, self.lower, self.upper, key=key)

    def set_view(self, deterministic: bool | None = None) -> None:
        """Used by ``nnx.view``: ``deterministic=True`` for the evaluation slope."""
        if deterministic is not None:
            self.deterministic = deterministic


class AlphaDropout(nnx.Module):
    """Alpha dropout (Klambauer et al. 2017), SELU's companion: :func:`jrelu.alpha_dropout` as a module.

    Keeps mean 0 and variance 1 of a standardised input: dropped units take SELU's saturation value,
    then an affine map restores the moments (the dropped value equals PyTorch's, -1.23616 at
    ``rate=0.2``). Identity when deterministic (``.eval()``). Keys come from ``rngs`` (stream
    ``rng_collection``, default ``"dropout"``), as in ``nnx.Dropout``, whose switching it shares:
    ``.train()`` / ``.eval()``, ``nnx.view``, or ``deterministic=`` / ``rngs=`` at call time. The
    backward pass keeps only the key.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      rate: the probability of dropping a unit, in [0, 1] (not the keep rate).
      broadcast_dims: axes that share one mask entry, e.g. ``(1, 2)`` on NHWC to drop whole channels.
      deterministic: True for the identity, False (default) to drop.
      rng_collection: the stream drawn from (default ``"dropout"``).
      rngs: the module's own forked stream, or None. The constructor takes an ``nnx.Rngs``, an
        ``nnx.RngStream`` or a PRNG key (which seeds the stream, as ``nnx.Rngs(key)``: each call then
        draws a new key; a key given at call time is used as it is).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from jrelu import nnx as jnn
      >>> drop = jnn.AlphaDropout(0.2, rngs=nnx.Rngs(0))
      >>> y = drop(jax.random.normal(jax.random.key(0), (100_000,)))
      >>> print(f"{y.mean():.2f} {y.std():.2f}")
      0.00 1.00
      >>> drop.eval()
      >>> drop(jnp.array([1.0, -1.0]))
      Array([ 1., -1.], dtype=float32)

    References:
      Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
    """

    def __init__(
        self,
        rate: float,
        *,
        broadcast_dims: Sequence[int] = (),
        deterministic: bool | None = False,
        rng_collection: str = "dropout",
        rngs: nnx.Rngs | nnx.RngStream | Array | None = None,
    ) -> None:
        owner = _OWNER + "AlphaDropout"
        self.rate = common.check_dropout_attributes(owner, rate, broadcast_dims)
        common.check_flag(owner, "deterministic", deterministic)
        self.broadcast_dims = common.check_dims_type(owner, broadcast_dims)
        self.deterministic = deterministic
        self.rng_collection = rng_collection
        self.rngs = _fork(owner, rngs, rng_collection)

    def __call__(
        self,
        inputs: ArrayLike,
        *,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | Array | None = None,
    ) -> Array:
        owner = _OWNER + "AlphaDropout"
        if _deterministic(owner, self.deterministic, deterministic) or self.rate == 0.0:
            return common.check_float_input(owner, inputs)
        key = _key(owner, rngs, self.rngs, self.rng_collection)
        return common.apply_alpha_dropout(owner, inputs, self.rate, self.broadcast_dims, key)

    def set_view(self, deterministic: bool | None = None) -> None:
        """Used by ``nnx.view``: ``deterministic=True`` for the identity."""
        if deterministic is not None:
            self.deterministic = deterministic
