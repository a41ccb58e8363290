"""What the (rows, features) view changes in the programs other compilers get: transformer blocks
exported for CUDA and TPU from this machine (no device needed).

    python benchmarks/blocks_export.py > benchmarks/results/blocks-export.txt

For each function, the gradient of two pre-LN transformer blocks (``jrelu.testing``'s ``"transformer"``
model, float32 and bfloat16) is exported with ``jax.export`` for ``cuda`` and ``tpu`` twice: as jrelu
runs it on one device (the rule on the ``(rows, features)`` view) and with the view switched off (the
rule on ``(batch, seq, hidden)``), and beside it jax.nn's formulation. Printed per program: the
StableHLO operations by kind that differ between the two jrelu exports, custom calls and host
callbacks (none is the goal: jax.nn has none), and jrelu's operation count against jax.nn's.

What it found (2026-12-06, jax 0.10.2): the view adds ``stablehlo.reshape`` ops around each rule and
nothing else, on both platforms; a reshape that merges leading axes of a row-major array is a bitcast
for XLA (no data moves) -- what XLA:GPU's and XLA:TPU's fusion then does with it can only be measured
on the device (``benchmarks/gpu_run.sh`` runs ``jrelu bench``'s blocks section there). relu and
squared_relu count 10 ops more than before XLA:CPU's choice for small 3-D activations
(``jrelu._core.keeps_small_x_on_cpu``; these blocks have 2**16 hidden elements): the one-branch
``stablehlo.case`` ops that hold the ``y`` rule for cuda and tpu, with their returns and constants.
"""

from __future__ import annotations

import collections
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
from jax import export

import jrelu
from jrelu import _core
from jrelu._testing import memory

F = jrelu.FUNCTIONS
PLATFORMS = ("cuda", "tpu")
OP = re.compile(r"=\s*\"?(stablehlo\.[a-z_]+|func\.call|call)")
CASES = {
    "relu": (jrelu.relu, F["relu"].baseline, False, False),
    "squared_relu": (jrelu.squared_relu, F["squared_relu"].baseline, False, False),
    "elu": (jrelu.elu, F["elu"].baseline, False, False),
    "leaky_relu(-0.2)": (
        functools.partial(jrelu.leaky_relu, negative_slope=-0.2),
        functools.partial(jax.nn.leaky_relu, negative_slope=-0.2),
        False,
        False,
    ),
    "prelu[per-channel]": (jrelu.prelu, F["prelu"].baseline, True, False),
    "reglu": (jrelu.reglu, F["reglu"].baseline, False, True),
}


def _grad(act, learned: bool, gated: bool, dtype):
    batch, seq, width = 4, 64, 64
    xshape, layer, _ = memory._shapes("transformer", batch, seq, width, gated)

    def struct(v):
        return jax.ShapeDtypeStruct(v, dtype) if isinstance(v, tuple) else [struct(u) for u in v]

    slope = jax.ShapeDtypeStruct((memory._FFN_MULT * width,), dtype) if learned else None
    params = [[*map(struct, layer), slope] for _ in range(2)]

    def loss(params, x):
        for *layer, extra in params:
            x = memory._layer(
                "transformer", act, x, tuple(layer), () if extra is None else (extra,)
            )
        return jnp.sum(x.astype(jnp.float32) ** 2)

    return jax.jit(jax.grad(loss)), params, jax.ShapeDtypeStruct(xshape, dtype)


def ops(act, learned: bool, gated: bool, dtype, platform: str) -> collections.Counter:
    fn, params, x = _grad(act, learned, gated, dtype)
    text = export.export(fn, platforms=[platform])(params, x).mlir_module()
    found = collections.Counter(OP.findall(text))
    found["custom_call"] = text.count("stablehlo.custom_call")
    found["host callback"] = len(re.findall(r"callback", text))
    return found


def main() -> None:
    print(
        f"jax {jax.__version__}; exported from {jax.default_backend()} for {', '.join(PLATFORMS)}"
    )
    free = _core.rows_are_free
    for name, (ours, peer, learned, gated) in CASES.items():
        for dtype in (np.float32, jnp.bfloat16):
            for platform in PLATFORMS:
                rows = ops(ours, learned, gated, dtype, platform)
                _core.rows_are_free = lambda x: False
                try:
                    plain = ops(ours, learned, gated, dtype, platform)
                finally:
                    _core.rows_are_free = free
                theirs = ops(peer, learned, gated, dtype, platform)
                diff = {k: rows[k] - plain[k] for k in rows | plain if rows[k] != plain[k]}
                print(
                    f"{name:19s} {jnp.dtype(dtype).name:8s} {platform:4s}  rows view vs 3-D view: "
                    f"{diff or 'identical'}; custom calls {rows['custom_call']}, host callbacks "
                    f"{rows['host callback']} (jax.nn: {theirs['custom_call']}, "
                    f"{theirs['host callback']}); ops {sum(rows.values())} (jax.nn "
                    f"{sum(theirs.values())})"
                )


if __name__ == "__main__":
    main()
