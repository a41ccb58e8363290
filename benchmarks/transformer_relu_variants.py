"""Why ``jrelu.relu`` cost time in examples/08_transformer.py's training step on XLA:CPU: variants.

    python benchmarks/transformer_relu_variants.py [REPEATS]

Times the 08 transformer's compiled training step (3 blocks, d=64, batch 32 x 64; the example's own
``step_costs``, interleaved repeats) with the FFN activation written several ways, each a ``custom_jvp``
relu that differs from the plain one (``maximum`` forward, ``where(y > 0, t, 0)`` tangent) in one
respect; jrelu's rule has all of them. Prints temporary memory, what each block adds (hidden-sized
tensors) and the median step time with quartiles. On 2 quiet CPU cores (2026-12-02, jax 0.10.2) each of
two choices alone cost about 25%: the ``where(x <= 0, 0, x)`` forward value and the ``jax.checkpoint``
around the tangent map -- the two that keep the MLP backward at 0 extra tensors
(``tests/test_memory.py``). Nothing else in the rule (symbolic zeros, the static mode argument, the
``y != 0`` gate, the NaN factor) moved the time.

The cause behind both (2026-12-06): on the 3-D ``(batch, seq, hidden)`` view XLA:CPU fuses the rule's
forward value a second time into the transposed copy of the cotangent that the 3-D matmul's weight
gradient makes, which then re-reads the pre-activation. jrelu now runs its rules on the ``(rows,
features)`` view (``jrelu._core.on_rows``); the row "jrelu.relu, 3-D view" is the rule as it was.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp

import jrelu
from jrelu import _core

ROOT = pathlib.Path(__file__).resolve().parent.parent


def variant(*, where_value: bool = False, checkpoint: bool = False):
    """A custom_jvp relu: ``maximum`` or ``where`` forward, the tangent map plain or checkpointed."""

    def value(x):
        return jnp.where(x <= 0, jnp.zeros_like(x), x) if where_value else jnp.maximum(x, 0.0)

    f = jax.custom_jvp(value)

    def tangent(y, t):
        return jnp.where(y > 0, t, jnp.zeros_like(t))

    @f.defjvp
    def _(primals, tangents):
        y = f(primals[0])
        return y, (jax.checkpoint(tangent) if checkpoint else tangent)(y, tangents[0])

    return f


def three_d(x):
    """jrelu.relu with the (rows, features) view switched off while it is traced."""
    free = _core.rows_are_free
    _core.rows_are_free = lambda v: False
    try:
        return jrelu.relu(x)
    finally:
        _core.rows_are_free = free


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    spec = importlib.util.spec_from_file_location("t08", ROOT / "examples" / "08_transformer.py")
    assert spec is not None and spec.loader is not None
    t08 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t08)
    variants = {
        "jax.nn.relu": jax.nn.relu,
        "jrelu.relu": jrelu.relu,
        "jrelu.relu, 3-D view": three_d,
        "plain custom_jvp": variant(),
        "+ where forward": variant(where_value=True),
        "+ checkpointed tangent": variant(checkpoint=True),
    }
    t08.FFNS["relu"] = (False, variants)
    t08.FORMULAS.update({("relu", k): k for k in variants})
    cfg = {"layers": 3, "d_model": 64, "heads": 4, "ffn_mult": 4, "context": 64, "batch": 32}
    cfg |= {
        "steps": 1000,
        "warmup": 50,
        "lr": 3e-3,
        "seed": 0,
        "eval_windows": 128,
        "time_warmup": 3,
    }
    cfg |= {"time_repeats": repeats}
    out = t08.step_costs(cfg, t08.text_data(cfg), ["relu"])
    print(f"{jax.default_backend()}, jax {jax.__version__}, {repeats} interleaved repeats")
    for v in out.values():
        q = v["step_ms_quartiles"]
        print(
            f"{v['formulation']:24s} temp {v['temp_bytes'] / 2**20:6.2f} MiB  per block "
            f"{v['per_block_hidden_tensors']:.2f}  median {v['step_ms_median']:5.1f} ms "
            f"({q[0]:.1f}-{q[1]:.1f})"
        )


if __name__ == "__main__":
    main()
