"""Elementwise ops per element in the compiled forward HLO of the exponential and random functions.

Counts the ops of shape (1024, 1024) in ``jax.jit(f).lower(x, key).compile().as_text()`` (parameters,
constants, broadcasts and bitcasts left out): the per-element work XLA fused. The key is an argument, so
its digest stays scalar work and is not counted.

    python benchmarks/elementwise_ops.py float32
"""

import collections
import re
import sys

import jax
import jax.numpy as jnp

import jrelu

dt = jnp.dtype(sys.argv[1] if len(sys.argv) > 1 else "float32")
x = jnp.zeros((1024, 1024), dt)
key = jax.random.key(1)
fns = {
    "relu": lambda v, k: jrelu.relu(v),
    "elu": lambda v, k: jrelu.elu(v),
    "selu": lambda v, k: jrelu.selu(v),
    "celu": lambda v, k: jrelu.celu(v),
    "rrelu+key": lambda v, k: jrelu.rrelu(v, key=k),
    "alpha_dropout": lambda v, k: jrelu.alpha_dropout(v, 0.1, key=k),
}
SKIP = {"parameter", "constant", "fusion", "tuple", "get-tuple-element", "broadcast", "bitcast"}
for name, f in fns.items():
    txt = jax.jit(f).lower(x, key).compile().as_text()
    ops = collections.Counter()
    for line in txt.splitlines():
        m = re.match(r"\s*(ROOT )?%[\w.\-]+ = (\w+)\[1024,1024\]\S* ([\w\-]+)\(", line)
        if m and m.group(3) not in SKIP:
            ops[m.group(3)] += 1
    print(
        f"{name}: {sum(ops.values())} elementwise ops  "
        + " ".join(f"{k}:{v}" for k, v in sorted(ops.items()))
    )
