"""Optimiser helpers: keep PReLU's slopes out of weight decay (He et al. 2015).

Works on any parameter pytree -- linen's ``variables["params"]``, NNX's ``nnx.state(model, nnx.Param)``
(whose leaves sit under ``nnx.Variable`` nodes), Equinox modules -- by reading leaf names off the key
paths; it does not import Flax.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax

# Attribute names under which a Flax ``nnx.Variable`` keeps its array; skipped when naming a leaf.
_VARIABLE_FIELDS = frozenset({"value", "raw_value"})


def _leaf_name(path: tuple[Any, ...]) -> str | None:
    """The name of the parameter a key path leads to: its last dict key or attribute name."""
    names = []
    for entry in path:
        if isinstance(entry, jax.tree_util.DictKey):
            names.append((str(entry.key), False))
        elif isinstance(entry, jax.tree_util.GetAttrKey):
            names.append((entry.name, True))
    # A trailing ``.value`` is an nnx.Variable's own field, not the parameter's name.
    while len(names) > 1 and names[-1][1] and names[-1][0] in _VARIABLE_FIELDS:
        names.pop()
    return names[-1][0] if names else None


def weight_decay_mask(params: Any, *, exclude: Iterable[str] = ("negative_slope",)) -> Any:
    """A pytree of booleans for optax's ``mask=``: True where weight decay applies.

    PReLU's learned slopes (parameters named ``negative_slope``, in :mod:`jrelu.linen`, :mod:`jrelu.nnx`
    and Flax's own ``PReLU``) get False: He et al. (2015) apply no weight decay to them, since decay
    pulls every slope towards 0 and so turns PReLU back into ReLU. Everything else gets True.

    Pass the function itself as the mask (optax calls it with the parameters), or call it on the
    parameters once. It matches the structure of what it is given, for linen parameter dicts and NNX
    ``State`` alike.

    Args:
      params: the parameter pytree.
      exclude: parameter names to keep out of weight decay (default ``("negative_slope",)``). A common
        wider choice is ``("negative_slope", "bias", "scale")``: slopes, biases and norm scales.

    Returns:
      A pytree of Python bools with the structure of ``params``.

    Raises:
      TypeError: if ``exclude`` is a single string or holds non-strings.

    Examples:
      >>> import jax.numpy as jnp, optax, jrelu
      >>> params = {"Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)},
      ...           "PReLU_0": {"negative_slope": jnp.full(2, 0.25)}}
      >>> jrelu.weight_decay_mask(params)
      {'Dense_0': {'bias': True, 'kernel': True}, 'PReLU_0': {'negative_slope': False}}
      >>> tx = optax.adamw(1e-3, weight_decay=1e-4, mask=jrelu.weight_decay_mask)

    References:
      He, Zhang, Ren & Sun, *Delving Deep into Rectifiers*, ICCV 2015 (section 2.1: no weight decay on
      the slopes).
    """
    if isinstance(exclude, str):
        raise TypeError(
            f"jrelu.weight_decay_mask: exclude must be a collection of names, got the string "
            f"{exclude!r}; write ({exclude!r},)."
        )
    names = tuple(exclude)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"jrelu.weight_decay_mask: exclude must hold strings, got {names!r}.")
    skip = frozenset(names)
    return jax.tree_util.tree_map_with_path(lambda path, _: _leaf_name(path) not in skip, params)
