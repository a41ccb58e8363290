"""jrelu's activations as Flax linen modules.

Every module calls the matching :mod:`jrelu` function (the derivative rules, kink conventions and
memory behaviour are the functions'); attributes carry the functions' argument names. Hyperparameters are
checked when the module is constructed, and errors name the module.

* Stateless, one per function of :data:`jrelu.FUNCTIONS` without learned or random parameters:
  :class:`ReLU`, :class:`ReLU6`, :class:`LeakyReLU`, :class:`ELU`, :class:`CELU`, :class:`SELU`,
  :class:`SquaredReLU`, :class:`ReGLU`.
* Learned: :class:`PReLU` (per channel, shared, or per element; slopes inferred at init).
* Random, with ``deterministic`` and an rng collection (default ``"dropout"``, so the ``rngs={"dropout":
  key}`` a model already passes for ``nn.Dropout`` serves them too): :class:`RReLU`,
  :class:`AlphaDropout`.

Importing this module imports Flax; ``import jrelu`` alone does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jrelu import _flax_common as common
from jrelu._exponential import celu, elu, selu
from jrelu._random import rrelu
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
_OWNER = "jrelu.linen."


def _merge_deterministic(
    owner: str, attribute: bool | None, argument: bool | None, hint: str
) -> bool:
    # flax.linen.merge_param's rule (exactly one of the two), with the module's name in the message.
    common.check_flag(owner, "deterministic", argument)
    if attribute is None and argument is None:
        raise ValueError(
            f"{owner}: deterministic is not set; pass it as an attribute or at call time "
            f"(True: {hint}; False: draw from the rng collection)."
        )
    if attribute is not None and argument is not None:
        raise ValueError(
            f"{owner}: deterministic was given both as an attribute ({attribute}) and at call time "
            f"({argument}); give it in one place only (Flax's merge_param rule)."
        )
    return bool(attribute if argument is None else argument)


# --------------------------------------------------------------------------------------------------
# Stateless activations
# --------------------------------------------------------------------------------------------------


class _Stateless(nn.Module):
    """A stateless activation: ``function`` applied with the module's attributes as its arguments.

    A subclass's body is its ``function`` (a :data:`jrelu.FUNCTIONS` entry), its attributes (the
    function's arguments after ``x``, with its defaults, checked when the class is defined) and its
    docstring. The attributes are checked at construction and errors name the module.
    """

    function: ClassVar[Callable[..., Array]]
    _function: ClassVar[Callable[..., Array]]  # what __call__ calls, as in jrelu.nnx
    _owner: ClassVar[str]
    _arguments: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        fn = cls.__dict__.get("function")
        if fn is not None:
            if not isinstance(fn, staticmethod):  # kept as a plain function, not bound as a method
                cls.function = staticmethod(fn)
            cls._function = staticmethod(cls.function)
            cls._owner = _OWNER + cls.__name__
            signature = common.stateless_signature(cls._owner, cls._function)
            annotations = inspect.get_annotations(cls)
            common.check_stateless_attributes(
                cls._owner,
                signature,
                {k: cls.__dict__.get(k, inspect.Parameter.empty) for k in annotations},
            )
            cls._arguments = tuple(signature.parameters)
        super().__init_subclass__(**kwargs)

    @nn.nowrap
    def _params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._arguments}

    def __post_init__(self) -> None:
        common.check_stateless(self._owner, self._function, self._params())
        super().__post_init__()

    def __call__(self, inputs: ArrayLike) -> Array:
        return common.call_stateless(self._owner, self._function, inputs, self._params())


class ReLU(_Stateless):
    """:func:`jrelu.relu` as a linen module: ``max(0, x)``, relu'(0) = 0.

    Shape:
      Input: any shape. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.ReLU().apply({}, jnp.array([-1.0, 0.0, 2.0]))
      Array([0., 0., 2.], dtype=float32)
    """

    function = relu


class ReLU6(_Stateless):
    """:func:`jrelu.relu6` as a linen module: ``min(max(0, x), 6)``.

    Shape:
      Input: any shape. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.ReLU6().apply({}, jnp.array([-1.0, 3.0, 9.0]))
      Array([0., 3., 6.], dtype=float32)
    """

    function = relu6


class LeakyReLU(_Stateless):
    """:func:`jrelu.leaky_relu` as a linen module: ``x`` if ``x > 0`` else ``negative_slope * x``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      negative_slope: the slope for ``x <= 0`` (default 0.01), any finite real number (or an array
        broadcastable against the input's trailing axes). Checked at construction.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.LeakyReLU(negative_slope=0.2).apply({}, jnp.array([-1.0, 2.0]))
      Array([-0.2,  2. ], dtype=float32)
    """

    function = leaky_relu
    negative_slope: ArrayLike = 0.01


class ELU(_Stateless):
    """:func:`jrelu.elu` as a linen module: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      alpha: the negative-side scale (default 1.0), finite. Checked at construction.
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.ELU(alpha=0.5).apply({}, jnp.array([-1.0, 2.0]))
      Array([-0.31606027,  2.        ], dtype=float32)
    """

    function = elu
    alpha: ArrayLike = 1.0
    precise: bool = False


class CELU(_Stateless):
    """:func:`jrelu.celu` as a linen module: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      alpha: the scale (default 1.0), finite and nonzero. Checked at construction.
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.CELU(alpha=2.0).apply({}, jnp.array([-2.0, 2.0]))
      Array([-1.2642411,  2.       ], dtype=float32)
    """

    function = celu
    alpha: ArrayLike = 1.0
    precise: bool = False


class SELU(_Stateless):
    """:func:`jrelu.selu` as a linen module: the self-normalising ELU (pair it with :class:`AlphaDropout`).

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      precise: a Python bool (default False): derivatives computed from the input, which the backward
        pass then keeps (one activation-sized tensor), accurate relative to themselves (see the function).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.SELU().apply({}, jnp.array([-1.0, 1.0]))
      Array([-1.1113307,  1.050701 ], dtype=float32)
    """

    function = selu
    precise: bool = False


class SquaredReLU(_Stateless):
    """:func:`jrelu.squared_relu` as a linen module: ``relu(x) ** 2``.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.SquaredReLU().apply({}, jnp.array([-1.0, 3.0]))
      Array([0., 9.], dtype=float32)
    """

    function = squared_relu


class ReGLU(_Stateless):
    """:func:`jrelu.reglu` as a linen module: ``a * relu(b)`` for the halves ``a, b`` of ``axis``.

    Shape:
      Input: even size along ``axis``. Output: half that size along ``axis``, the input's dtype.

    Attributes:
      axis: the axis split into value and gate halves (default -1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> jnn.ReGLU().apply({}, jnp.array([2.0, 3.0, -1.0, 0.5]))
      Array([0. , 1.5], dtype=float32)
    """

    function = reglu
    axis: int = -1


# --------------------------------------------------------------------------------------------------
# PReLU
# --------------------------------------------------------------------------------------------------


class PReLU(nn.Module):
    """Parametric ReLU (He et al. 2015) with learned slopes, laid out along any axes.

    ``y = x`` for ``x > 0`` and ``negative_slope * x`` otherwise, through :func:`jrelu.prelu` (at the kink
    d/dx = the slope and d/dslope = 0, as in PyTorch). The slope shape is inferred at init from the
    input and ``axis``:

    * ``axis=None`` (default): one shared slope, as Flax's ``nn.PReLU``, PyTorch's ``PReLU()`` and
      ``jrelu.nnx.PReLU()``;
    * ``axis=-1``: one slope per channel, channels last (NHWC, ``(batch, features)``), as
      ``jrelu.nnx.PReLU(C)``;
    * ``axis=1``: one per channel for channels-first (NCHW) input, as PyTorch's ``PReLU(C)``;
    * a tuple, e.g. ``(-3, -2, -1)`` on NHWC: one slope per element of those axes, shape ``(H, W, C)``
      (Keras' default).

    The parameter is named ``negative_slope`` (as in Flax), shaped by the sizes of ``axis`` in the order
    given, and starts at 0.25 (He et al., PyTorch; Flax starts at 0.01). He et al. apply no weight decay
    to it: :func:`jrelu.weight_decay_mask` builds optax's ``mask=`` for that.

    Shape:
      Input: any shape, floating point, with the sizes on ``axis`` that the module was initialised with.
      Output: the input's shape, in ``dtype`` (default: the input's dtype).
      Parameter ``negative_slope``: ``()`` for ``axis=None``, else the input's sizes on ``axis``.

    Attributes:
      axis: None (default: one shared slope), an int or a tuple of ints (see above). Negative axes keep working when a batch axis
        is added or removed.
      negative_slope_init: the initial slope (default 0.25), or a Flax initializer
        ``(key, shape, dtype) -> array``.
      dtype: the dtype of the output; the input is cast to it (default None: keep the input's dtype).
        Whatever it is, the math runs in float32 or wider and rounds once.
      param_dtype: the slope's dtype (default float32). The slope is not cast to ``dtype``: bfloat16
        activations with float32 slopes compute with the float32 slopes, and the slope's gradient comes
        back in float32.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> x = jnp.array([[-1.0, -2.0, 3.0]])
      >>> variables = jnn.PReLU(axis=-1).init(jax.random.key(0), x)
      >>> variables["params"]["negative_slope"]
      Array([0.25, 0.25, 0.25], dtype=float32)
      >>> jnn.PReLU(axis=-1).apply(variables, x)
      Array([[-0.25, -0.5 ,  3.  ]], dtype=float32)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015.
    """

    axis: int | Sequence[int] | None = None
    negative_slope_init: Any = 0.25
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32

    def __post_init__(self) -> None:
        owner = _OWNER + "PReLU"
        common.check_axis(owner, self.axis)
        common.check_param_dtype(owner, "dtype", self.dtype, optional=True)
        common.check_param_dtype(owner, "param_dtype", self.param_dtype, optional=False)
        common.check_init(owner, self.negative_slope_init, self.param_dtype)
        super().__post_init__()

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> Array:
        """Apply the activation; on the first (init) call, create the slopes for ``inputs``' layout."""
        owner = _OWNER + "PReLU"
        axes = common.check_axis(owner, self.axis)
        shape = common.slope_shape(owner, jnp.shape(inputs), axes)
        if self.has_variable("params", "negative_slope"):
            # Check before self.param does, to name both shapes in jrelu's words.
            current: Any = self.get_variable("params", "negative_slope")
            current = current.unbox() if hasattr(current, "unbox") else current  # nn.Partitioned
            common.check_slope_shape(owner, jnp.shape(inputs), jnp.shape(current), axes)
        init = self.negative_slope_init
        slope = self.param(
            "negative_slope",
            lambda key, s, dt: common.init_slope(init, key, s, dt),
            shape,
            self.param_dtype,
        )
        return common.apply_prelu(owner, inputs, slope, axes, self.dtype)


# --------------------------------------------------------------------------------------------------
# Random modules
# --------------------------------------------------------------------------------------------------


class RReLU(nn.Module):
    """Randomised leaky ReLU (Xu et al. 2015): :func:`jrelu.rrelu` as a linen module.

    Training (``deterministic=False``): every element draws its slope from ``U(lower, upper)``, with a
    key from the rng collection ``rng_collection`` (default ``"dropout"``), so pass
    ``rngs={"dropout": key}`` to ``apply``. Evaluation (``deterministic=True``): the fixed slope
    ``(lower + upper) / 2``, as PyTorch's ``RReLU`` in eval mode. ``deterministic`` is given either as
    an attribute or at call time (Flax's ``merge_param`` rule, as ``nn.Dropout``).

    The backward pass re-draws the slopes from the key instead of storing them.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      lower: smallest slope (default 1/8).
      upper: largest slope (default 1/3); ``lower <= upper``, checked at construction.
      deterministic: True for the evaluation slope, False to draw slopes; None (default) to give it at
        call time.
      rng_collection: the rng collection drawn from in training (default ``"dropout"``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> x = -jnp.ones(4)
      >>> jnn.RReLU(0.1, 0.3, deterministic=True).apply({}, x)
      Array([-0.2, -0.2, -0.2, -0.2], dtype=float32)
      >>> rngs = {"dropout": jax.random.key(0)}
      >>> y = jnn.RReLU(0.1, 0.3).apply({}, x, deterministic=False, rngs=rngs)
      >>> bool(jnp.all((-y >= 0.1) & (-y <= 0.3)))
      True

    References:
      Xu, Wang, Chen & Li, *Empirical Evaluation of Rectified Activations in Convolutional Network*, 2015.
    """

    lower: ArrayLike = 1.0 / 8.0
    upper: ArrayLike = 1.0 / 3.0
    deterministic: bool | None = None
    rng_collection: str = "dropout"

    def __post_init__(self) -> None:
        owner = _OWNER + "RReLU"
        common.check_hyperparameters(owner, rrelu, lower=self.lower, upper=self.upper)
        common.check_flag(owner, "deterministic", self.deterministic)
        super().__post_init__()

    def __call__(
        self, inputs: ArrayLike, deterministic: bool | None = None, rng: Array | None = None
    ) -> Array:
        """Apply; ``rng`` overrides the key drawn from the rng collection."""
        owner = _OWNER + "RReLU"
        det = _merge_deterministic(
            owner, self.deterministic, deterministic, "the slope (lower + upper) / 2"
        )
        with common.renamed_errors(owner, "rrelu"):
            if det:
                return rrelu(inputs, self.lower, self.upper)
            key = self.make_rng(self.rng_collection) if rng is None else rng
            return rrelu(inputs, self.lower, self.upper, key=key)


class AlphaDropout(nn.Module):
    """Alpha dropout (Klambauer et al. 2017), SELU's companion: :func:`jrelu.alpha_dropout` as a module.

    Keeps mean 0 and variance 1 of a standardised input: dropped units take SELU's saturation value,
    then an affine map restores the moments (the dropped value equals PyTorch's, -1.23616 at
    ``rate=0.2``). Identity when ``deterministic``. The key comes from the rng collection
    ``rng_collection`` (default ``"dropout"``, as ``nn.Dropout``). The backward pass keeps only the key.

    Shape:
      Input: any shape, floating point. Output: the input's shape and dtype.

    Attributes:
      rate: the probability of dropping a unit, in [0, 1] (not the keep rate).
      broadcast_dims: axes that share one mask entry, e.g. ``(1, 2)`` on NHWC to drop whole channels.
      deterministic: True for the identity, False to drop; None (default) to give it at call time.
      rng_collection: the rng collection drawn from (default ``"dropout"``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jrelu import linen as jnn
      >>> x = jax.random.normal(jax.random.key(0), (100_000,))
      >>> y = jnn.AlphaDropout(0.2).apply({}, x, deterministic=False,
      ...                                 rngs={"dropout": jax.random.key(1)})
      >>> print(f"{y.mean():.2f} {y.std():.2f} {y.min() > -3.9}")
      0.00 1.00 True
      >>> bool(jnp.all(jnn.AlphaDropout(0.2, deterministic=True).apply({}, x) == x))
      True

    References:
      Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
    """

    rate: float
    broadcast_dims: Sequence[int] = ()
    deterministic: bool | None = None
    rng_collection: str = "dropout"

    def __post_init__(self) -> None:
        owner = _OWNER + "AlphaDropout"
        common.check_dropout_attributes(owner, self.rate, self.broadcast_dims)
        common.check_flag(owner, "deterministic", self.deterministic)
        super().__post_init__()

    def __call__(
        self, inputs: ArrayLike, deterministic: bool | None = None, rng: Array | None = None
    ) -> Array:
        """Apply; ``rng`` overrides the key drawn from the rng collection."""
        owner = _OWNER + "AlphaDropout"
        det = _merge_deterministic(owner, self.deterministic, deterministic, "the identity")
        if det or self.rate == 0.0:
            return common.check_float_input(owner, inputs)
        key = self.make_rng(self.rng_collection) if rng is None else rng
        return common.apply_alpha_dropout(owner, inputs, self.rate, self.broadcast_dims, key)
