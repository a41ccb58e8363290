"""Measure what activations do inside a model: dead units, sparsity, statistics, gradient norms.

Two layers of tools:

* **Pure functions over arrays** (jit-compatible, any JAX model): :func:`dead_units`,
  :func:`dead_fraction`, :func:`sparsity`, :func:`summary` for one activation tensor, and
  :func:`gradient_norms` for a parameter (or gradient) tree.
* **Flax integration** (Flax is imported only when these are called): :func:`capture` runs a Linen or
  NNX model once and returns the output of every jrelu module (plus anything the model ``sow``-ed as an
  intermediate), :func:`layer_stats` turns those into per-layer statistics, and :func:`collect` does both
  in one call. :func:`format_stats` prints them as a table for a training log.

Conventions: the *batch axis* (``axis``, default 0) indexes examples; every other axis indexes *units*
(features, or channels × positions for convolutions). Statistics are computed in float32 (float64 input
stays float64) and returned as 0-d JAX arrays, so they can be computed inside a jitted training step.

Example:
  >>> import jax.numpy as jnp
  >>> from jrelu import diagnostics
  >>> a = jnp.array([[0.0, 1.0, 0.0],
  ...                [0.0, 2.0, 3.0]])      # 2 examples x 3 units
  >>> float(diagnostics.dead_fraction(a))  # unit 0 is zero for both examples
  0.3333333432674408
  >>> float(diagnostics.sparsity(a))       # 3 of the 6 values are exactly zero
  0.5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jrelu._core import describe

__all__ = [
    "STATS",
    "activations",
    "capture",
    "collect",
    "dead_fraction",
    "dead_units",
    "format_stats",
    "gradient_norms",
    "is_jrelu_module",
    "layer_stats",
    "sparsity",
    "summary",
]

STATS = ("mean", "std", "negative_fraction", "sparsity", "dead_fraction")
"""The keys of :func:`summary`'s dictionary, in order."""

_CRITERIA = ("zero", "nonpositive")


# --------------------------------------------------------------------------------------------------
# Pure functions over one activation tensor
# --------------------------------------------------------------------------------------------------


def _as_float(fname: str, x: Any) -> jax.Array:
    if x is None:
        raise TypeError(
            f"jrelu.diagnostics.{fname}: activations must be an array of real numbers, got None; "
            "pass the layer's output, e.g. the array an activation returned."
        )
    try:
        x = jnp.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"jrelu.diagnostics.{fname}: activations must be an array of real numbers, got "
            f"{describe(x)}."
        ) from e
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(
            f"jrelu.diagnostics.{fname}: activations must be real numbers, got dtype {x.dtype}."
        )
    # float32 or wider, as promote_types(dtype, float32) says (which strict promotion refuses to ask).
    wide = jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize >= 4
    return x if wide else x.astype(jnp.float32)


def _batch_axes(fname: str, x: jax.Array, axis: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(axis, int | np.integer):
        axes: tuple[Any, ...] = (axis,)
    elif isinstance(axis, Sequence) and not isinstance(axis, str):
        axes = tuple(axis)
    else:
        raise TypeError(
            f"jrelu.diagnostics.{fname}: axis must be an int or a sequence of ints, got {axis!r}."
        )
    if x.ndim == 0:
        raise ValueError(
            f"jrelu.diagnostics.{fname}: activations must have a batch axis, got a scalar; pass an "
            "array of shape (batch, units...)."
        )
    out = []
    for a in axes:
        if not isinstance(a, int | np.integer):
            raise TypeError(
                f"jrelu.diagnostics.{fname}: axis must be an int or a sequence of ints, got {axis!r}."
            )
        if not -x.ndim <= a < x.ndim:
            raise ValueError(
                f"jrelu.diagnostics.{fname}: axis {a} is out of range for activations of shape "
                f"{x.shape} ({x.ndim} axes)."
            )
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"jrelu.diagnostics.{fname}: repeated axis in {axis!r}.")
    return tuple(out)


def _check_atol(fname: str, atol: Any) -> float:
    if isinstance(atol, bool) or not isinstance(atol, int | float | np.floating | np.integer):
        raise TypeError(f"jrelu.diagnostics.{fname}: atol must be a number, got {atol!r}.")
    if not (np.isfinite(atol) and atol >= 0):
        raise ValueError(f"jrelu.diagnostics.{fname}: atol must be finite and >= 0, got {atol!r}.")
    return float(atol)


def dead_units(
    activations: ArrayLike,
    axis: int | Sequence[int] = 0,
    *,
    atol: float = 0.0,
    criterion: str = "zero",
) -> jax.Array:
    """Which units are dead: inactive for every example along the batch axis.

    A unit is one position along the non-batch axes (a feature of a dense layer; a channel at one pixel
    of a convolution -- reduce over the spatial axes too, ``axis=(0, 1, 2)`` for NHWC, to ask about
    whole channels).

    Args:
      activations: array of shape ``(batch, units...)`` (or with the batch axis elsewhere).
      axis: the batch axis or axes (default 0), reduced over.
      atol: tolerance (default 0.0: exact zeros).
      criterion: ``"zero"`` (default): ``|a| <= atol`` for every example -- a dead ReLU, whose output and
        gradient are both zero. ``"nonpositive"``: ``a <= atol`` for every example -- the unit never
        enters its linear region. Use it on leaky_relu / prelu / elu / selu outputs (which are negative,
        not zero, there) to ask whether a unit *would* be dead as a ReLU; for those functions such a unit
        still has a gradient and can recover.

    Returns:
      A boolean array of the unit shape (``activations``' shape without the batch axes).

    Raises:
      TypeError: for non-real activations or a bad ``axis``/``atol`` type.
      ValueError: for an unknown ``criterion``, an out-of-range ``axis`` or a negative ``atol``.

    Note:
      Dead over one minibatch is not dead over the data set. Evaluate on a large batch, or accumulate over
      batches: ``alive |= ~dead_units(batch_activations)``.
    """
    x = _as_float("dead_units", activations)
    axes = _batch_axes("dead_units", x, axis)
    atol = _check_atol("dead_units", atol)
    if criterion == "zero":
        inactive = jnp.abs(x) <= atol
    elif criterion == "nonpositive":
        inactive = x <= atol
    else:
        raise ValueError(
            f"jrelu.diagnostics.dead_units: criterion must be one of {', '.join(_CRITERIA)}, got "
            f"{criterion!r}."
        )
    return jnp.all(inactive, axis=axes)


def dead_fraction(
    activations: ArrayLike,
    axis: int | Sequence[int] = 0,
    *,
    atol: float = 0.0,
    criterion: str = "zero",
) -> jax.Array:
    """Fraction of units that are dead (see :func:`dead_units` for the arguments).

    Returns:
      A 0-d float32 array in [0, 1]: the mean of :func:`dead_units`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import diagnostics
      >>> y = jnp.array([[0.0, -0.1, 2.0, 0.0],
      ...                [0.0, -0.3, 0.0, 0.0]])
      >>> float(diagnostics.dead_fraction(y))                          # units 0 and 3
      0.5
      >>> float(diagnostics.dead_fraction(y, criterion="nonpositive"))  # units 0, 1 and 3
      0.75
    """
    dead = dead_units(activations, axis, atol=atol, criterion=criterion)
    return jnp.mean(dead.astype(jnp.float32))


def sparsity(activations: ArrayLike, *, atol: float = 0.0) -> jax.Array:
    """Fraction of activation values that are zero (``|a| <= atol``; exact zeros by default).

    Counts every element of every example, unlike :func:`dead_fraction`, which counts units that are zero
    for *all* examples. Only relu and relu6 produce exact zeros; leaky_relu, prelu, rrelu, elu, celu and
    selu do not (their sparsity is 0 unless ``atol > 0``).

    Returns:
      A 0-d float32 array in [0, 1].

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import diagnostics
      >>> float(diagnostics.sparsity(jnp.array([0.0, 1.0, 0.0, -2.0])))
      0.5
    """
    x = _as_float("sparsity", activations)
    atol = _check_atol("sparsity", atol)
    return jnp.mean((jnp.abs(x) <= atol).astype(jnp.float32))


def summary(
    activations: ArrayLike,
    axis: int | Sequence[int] = 0,
    *,
    atol: float = 0.0,
) -> dict[str, jax.Array]:
    """Summary statistics of one activation tensor, for logging.

    Args:
      activations: array of shape ``(batch, units...)``.
      axis: the batch axis or axes, for ``dead_fraction``.
      atol: zero tolerance for ``sparsity`` and ``dead_fraction``.

    Returns:
      A dict with the keys of :data:`STATS`, each a 0-d array:
      ``mean`` and ``std`` (population, ``ddof=0``) over all elements; ``negative_fraction``: the
      fraction of values ``< 0`` (0 for relu, which the source article calls non-zero-centred);
      ``sparsity``: see :func:`sparsity`; ``dead_fraction``: see :func:`dead_fraction` (criterion
      ``"zero"``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import diagnostics
      >>> s = diagnostics.summary(jnp.array([[-1.0, 0.0], [1.0, 0.0]]))
      >>> {k: round(float(v), 3) for k, v in s.items()}
      {'mean': 0.0, 'std': 0.707, 'negative_fraction': 0.25,
       'sparsity': 0.5, 'dead_fraction': 0.5}
    """
    x = _as_float("summary", activations)
    return {
        "mean": jnp.mean(x),
        "std": jnp.std(x),
        "negative_fraction": jnp.mean((x < 0).astype(jnp.float32)),
        "sparsity": sparsity(x, atol=atol),
        "dead_fraction": dead_fraction(x, axis, atol=atol),
    }


# --------------------------------------------------------------------------------------------------
# Gradient norms of a parameter tree
# --------------------------------------------------------------------------------------------------


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)  # pragma: no cover - every jax key type has one of the above


def _path_names(path: Sequence[Any]) -> list[str]:
    # NNX State leaves are Variables whose array sits at attribute ``value``: not part of the name.
    return [
        _key_name(k)
        for k in path
        if not (isinstance(k, jax.tree_util.GetAttrKey) and k.name in ("value", "raw_value"))
    ]


def _natural_key(name: str) -> list[Any]:
    # "Dense_10" after "Dense_9"; jax flattens dicts in plain string order.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def gradient_norms(tree: Any, *, by: str = "layer") -> dict[str, jax.Array]:
    """L2 norm of each layer's (or each leaf's) arrays in a parameter or gradient tree.

    Works on any pytree: a Flax Linen ``params`` dict, an NNX ``State`` (from ``nnx.grad`` or
    ``nnx.state``), a list of ``{"w": ..., "b": ...}`` dicts. A *layer* is the node that holds the arrays:
    the leaf's path without its last key (``Dense_3/kernel`` and ``Dense_3/bias`` form ``Dense_3``).
    Arrays at the top level of the tree (a flat ``{"w1": ..., "b1": ...}`` dict) are each their own layer.
    Stacked layers (``nn.scan``, ``nnx.vmap``-ed init) form one layer; index them apart first, e.g.
    ``[jax.tree.map(lambda a: a[i], stacked) for i in range(n)]``.

    Args:
      tree: the pytree; leaves that are not floating point arrays are skipped.
      by: ``"layer"`` (default): one norm per layer, over all its arrays, ``sqrt(sum of squares)``;
        ``"leaf"``: one norm per array.

    Returns:
      An ordered dict from the ``/``-joined path to a 0-d float32 array (float64 for float64 leaves), in
      the tree's order with numbers compared as numbers (``layer_2`` before ``layer_10``).

    Raises:
      ValueError: for an unknown ``by``, or a tree without floating point leaves.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import diagnostics
      >>> g = {"Dense_0": {"kernel": jnp.array([[3.0], [4.0]]), "bias": jnp.array([0.0])},
      ...      "Dense_1": {"kernel": jnp.array([[1.0]]), "bias": jnp.array([0.0])}}
      >>> {k: float(v) for k, v in diagnostics.gradient_norms(g).items()}
      {'Dense_0': 5.0, 'Dense_1': 1.0}
    """
    if by not in ("layer", "leaf"):
        raise ValueError(
            f"jrelu.diagnostics.gradient_norms: by must be 'layer' or 'leaf', got {by!r}."
        )
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    groups: dict[str, list[jax.Array]] = {}
    for path, leaf in leaves:
        if not hasattr(leaf, "dtype") or not jnp.issubdtype(leaf.dtype, jnp.floating):
            continue
        names = _path_names(path)
        if by == "layer" and len(names) > 1:
            names = names[:-1]
        leaf = jnp.asarray(leaf)
        groups.setdefault("/".join(names) or ".", []).append(
            _norm(leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32)).reshape(-1))
        )
    if not groups:
        raise ValueError(
            "jrelu.diagnostics.gradient_norms: the tree has no floating point arrays "
            f"(got {type(tree).__name__})."
        )
    return {name: _norm(jnp.stack(groups[name])) for name in sorted(groups, key=_natural_key)}


def _norm(v: jax.Array) -> jax.Array:
    # sqrt(sum(v**2)) scaled by max|v| first, so that neither the squares of tiny gradients (below
    # ~1e-19 in float32) underflow to 0 nor those of huge ones (above ~1e19) overflow to inf.
    m = jnp.max(jnp.abs(v), initial=0.0)
    safe = jnp.where((m > 0) & jnp.isfinite(m), m, 1.0)
    return jnp.where(jnp.isfinite(m), safe * jnp.sqrt(jnp.sum(jnp.square(v / safe))), m)


# --------------------------------------------------------------------------------------------------
# Flax integration (Flax imported lazily)
# --------------------------------------------------------------------------------------------------


def is_jrelu_module(module: Any, method_name: str = "__call__") -> bool:
    """True for the ``__call__`` of a module defined in jrelu (``jrelu.linen`` or ``jrelu.nnx``).

    Usable directly as a Linen ``capture_intermediates`` filter:
    ``model.apply(variables, x, capture_intermediates=diagnostics.is_jrelu_module,
    mutable=["intermediates"])``.
    """
    module_name = type(module).__module__ or ""
    return method_name == "__call__" and (
        module_name == "jrelu" or module_name.startswith("jrelu.")
    )


def _is_linen(model: Any) -> bool:
    import flax.linen as nn

    return isinstance(model, nn.Module)


def _is_nnx(model: Any) -> bool:
    from flax import nnx

    return isinstance(model, nnx.Module)


def _add(out: dict[str, jax.Array], name: str, values: Any) -> None:
    values = tuple(values) if isinstance(values, tuple | list) else (values,)
    if len(values) == 1:
        out[name] = values[0]
    else:  # the module was called (or the name sown) several times
        for i, v in enumerate(values):
            out[f"{name}#{i}"] = v


def activations(intermediates: Any, model: Any = None) -> dict[str, jax.Array]:
    """Flatten captured intermediates into ``{"layer/path": array}``.

    Args:
      intermediates: a Linen ``intermediates`` collection (``state["intermediates"]`` after
        ``apply(..., capture_intermediates=..., mutable=["intermediates"])``), or the NNX ``State``
        returned by ``nnx.capture(..., nnx.Intermediate, method_outputs=nnx.Intermediate)``.
      model: for NNX with ``method_outputs``, the model: then only the outputs of jrelu modules (and
        values sown by name) are kept, not every method output of every module.

    Returns:
      A dict from the module's path (``Block_0/ReLU_0``; a sown value: ``Block_0/name``) to the array;
      a module called several times gives ``path#0``, ``path#1``, ... Order: Linen's is the call order;
      NNX keeps none, so its names are sorted (numbers compared as numbers: ``layers/2`` before
      ``layers/10``).
    """
    modules: dict[tuple[str, ...], Any] | None = None
    if model is not None and _is_nnx(model):
        from flax import nnx

        modules = {
            tuple(map(str, p)): m for p, m in nnx.iter_graph(model) if isinstance(m, nnx.Module)
        }
    out: dict[str, jax.Array] = {}
    nnx_state = (type(intermediates).__module__ or "").startswith("flax.nnx")
    if nnx_state:
        from flax import nnx

        to_pure = getattr(nnx, "to_pure_dict", None)
        intermediates = to_pure(intermediates) if to_pure else intermediates.to_pure_dict()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, (*path, str(k)))
            return
        if path and path[-1] == "__call__":  # a captured module output
            prefix = path[:-1]
            if modules is not None and not is_jrelu_module(modules.get(prefix)):
                return
            _add(out, "/".join(prefix) or ".", node)
            return
        if modules is not None and path[:-1] in modules:  # NNX: a method output, or a sown value?
            owner = modules[path[:-1]]
            if callable(getattr(type(owner), path[-1], None)):
                return
        _add(out, "/".join(path), node)

    walk(intermediates, ())
    if nnx_state or modules is not None:  # NNX keeps no call order; sort names, numbers as numbers
        return {k: out[k] for k in sorted(out, key=_natural_key)}
    return out


def capture(model: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, jax.Array]]:
    """Run a Flax model once and return its output and the output of every jrelu module in it.

    Values the model ``sow``-s as intermediates (Linen: ``self.sow("intermediates", name, x)``; NNX:
    ``self.sow(nnx.Intermediate, name, x)``) are included too, so activations applied as plain functions
    (``jrelu.relu(x)`` inside ``__call__``) can be measured by sowing them.

    Linen: ``capture(module, variables, *args, rngs=None, method=None, **kwargs)``, forwarded to
    ``module.apply`` with ``capture_intermediates`` and ``mutable=["intermediates"]``.
    NNX: ``capture(model, *args, **kwargs)`` calls ``model(*args, **kwargs)`` under ``nnx.capture``
    (Flax >= 0.12); the model's state is not changed.

    Returns:
      ``(output, {"layer/path": array})`` (see :func:`activations`).

    Raises:
      TypeError: if ``model`` is not a Flax Linen or NNX module.
    """
    try:
        import flax  # noqa: F401
    except ImportError as e:  # pragma: no cover - flax is a dependency
        raise ImportError("jrelu.diagnostics.capture needs Flax: pip install flax.") from e
    if _is_linen(model):
        if not args:
            raise TypeError(
                "jrelu.diagnostics.capture: a Linen module needs its variables, "
                "capture(module, variables, *inputs)."
            )
        variables, *inputs = args
        out, state = model.apply(
            variables,
            *inputs,
            capture_intermediates=is_jrelu_module,
            mutable=["intermediates"],
            **kwargs,
        )
        return out, activations(state.get("intermediates", {}))
    if _is_nnx(model):
        from flax import nnx

        if not hasattr(nnx, "capture"):  # pragma: no cover - older Flax
            raise RuntimeError(
                "jrelu.diagnostics.capture: NNX models need flax.nnx.capture (Flax >= 0.12); "
                "upgrade Flax, or sow the activations and read them with nnx.pop."
            )
        out, inter = nnx.capture(model, nnx.Intermediate, method_outputs=nnx.Intermediate)(
            *args, **kwargs
        )
        return out, activations(inter, model)
    raise TypeError(
        "jrelu.diagnostics.capture: model must be a flax.linen.Module or a flax.nnx.Module, got "
        f"{type(model).__name__}. For other models, pass the activations to "
        "jrelu.diagnostics.summary directly."
    )


def layer_stats(
    acts: Mapping[str, ArrayLike],
    axis: int | Sequence[int] = 0,
    *,
    atol: float = 0.0,
) -> dict[str, dict[str, jax.Array]]:
    """:func:`summary` of each array in ``{"layer": activations}`` (as returned by :func:`capture`)."""
    return {name: summary(a, axis, atol=atol) for name, a in acts.items()}


def collect(
    model: Any,
    *args: Any,
    axis: int | Sequence[int] = 0,
    atol: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, dict[str, dict[str, jax.Array]]]:
    """Run a Flax model once; return its output and per-layer statistics of every jrelu module.

    ``collect(module, variables, x)`` for Linen, ``collect(model, x)`` for NNX: the arguments are those of
    :func:`capture`; ``axis`` and ``atol`` go to :func:`summary`.

    Returns:
      ``(output, stats)`` with ``stats = {"layer/path": {statistic: value}}``, the statistics being
      ``mean``, ``std``, ``negative_fraction``, ``sparsity`` and ``dead_fraction`` as 0-d arrays: log
      them, or print them with :func:`format_stats`.
    """
    out, acts = capture(model, *args, **kwargs)
    return out, layer_stats(acts, axis, atol=atol)


def format_stats(
    stats: Mapping[str, Mapping[str, Any]],
    keys: Iterable[str] | None = None,
    *,
    digits: int = 4,
) -> str:
    """A plain-text table of :func:`layer_stats` / :func:`collect` output: one row per layer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jrelu import diagnostics
      >>> print(diagnostics.format_stats({"fc1": diagnostics.summary(jnp.array([[0.0, 2.0]]))}))
      layer  mean  std  negative_fraction  sparsity  dead_fraction
      fc1    1     1    0                  0.5       0.5
    """
    keys = list(keys) if keys is not None else list(STATS)
    rows = [["layer", *keys]]
    for name, s in stats.items():
        rows.append([name, *(f"{float(s[k]):.{digits}g}" for k in keys)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
