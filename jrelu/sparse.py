"""Exact sparse FFN computation: ReLU's zeros turned into skipped work.

A ReLU-family FFN's hidden activation is exactly zero for many units; the rows of the down projection
they would multiply need not be read. :func:`down_projection` computes ``act(h) @ w_down`` from the
rows of the units active anywhere in the batch, with a static ``capacity`` and a dense fallback under
``lax.cond``, so the result is the dense one up to the order of summation (the bound is in its
docstring); :func:`ffn` is a whole FFN block around it, and :func:`active` the units it reads.
Supported: relu, relu6, squared_relu and reglu. Plain functions over arrays, usable from Flax (linen,
nnx) and Equinox modules alike; importing this module imports neither.

Whether it pays depends on the device, the sizes and how many units a batch shares: the measurements
are ``jrelu bench --sections sparse`` and ``benchmarks/sparse_ffn.py`` (see benchmarks/README.md).

>>> import jax.numpy as jnp
>>> from jrelu import sparse
>>> h = jnp.array([[1.0, -2.0, 0.0, 3.0]])
>>> w = jnp.ones((4, 2))
>>> sparse.down_projection(h, w, "relu", capacity=2)
Array([[4., 4.]], dtype=float32)
"""

from jrelu._sparse import ACTIVATIONS as ACTIVATIONS
from jrelu._sparse import active as active
from jrelu._sparse import down_projection as down_projection
from jrelu._sparse import ffn as ffn

__all__ = ["ACTIVATIONS", "active", "down_projection", "ffn"]
