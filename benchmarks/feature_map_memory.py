"""What a 4-D activation keeps, jrelu vs jax.nn: in a CNN and in a pointwise MLP on an NHWC map.

    python benchmarks/feature_map_memory.py     # compile only, about a minute on two CPU cores; prints

On XLA:CPU the rules keep ``x``, not ``y``, for a 4-D input
(``jrelu._core.keeps_x_on_cpu``): in a CNN keeping ``y`` saved nothing and cost step time. This prints
the compiled training step's temp memory and bytes accessed for jrelu and the jax.nn formulation, in
the bench's CNN (3x3 convolutions: the convolution keeps its own transposed copy of the activation)
and in a pointwise MLP over an NHWC map (a matmul reads the activation itself, so keeping ``y`` is
free there), both as the local backend compiles them and with the choice switched off (``y`` kept),
to show what the choice costs and saves. Deterministic: no timing.
"""

from __future__ import annotations

import argparse
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import jrelu
from jrelu import _core
from jrelu._cli.bench import models as bm
from jrelu._cli.bench import speed as bs
from jrelu._testing import memory

FUNCTIONS = ("relu", "leaky_relu", "prelu", "squared_relu", "elu")
WIDTH, SIDE, BATCH = 64, 16, 16


class Pointwise(nn.Module):
    """Three residual pointwise MLP blocks (Dense 4C, act, Dense C) on a (batch, H, W, C) map."""

    act: Any

    @nn.compact
    def __call__(self, x: jax.Array, key: jax.Array) -> jax.Array:
        for i in range(3):
            x = x + nn.Dense(WIDTH)(self.act(nn.Dense(4 * WIDTH)(x), jax.random.fold_in(key, i)))
        return nn.Dense(10)(x.mean(axis=(1, 2)))


def pointwise_step(case: bs.Case, impl: str) -> Any:
    net = Pointwise(case.act(impl))
    kx, kp, ka = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (BATCH, SIDE, SIDE, WIDTH), jnp.float32)
    labels = jnp.zeros((BATCH,), jnp.int32)
    params = net.init(kp, x, ka)

    def step(p: Any) -> Any:
        def loss(p: Any) -> jax.Array:
            logits = net.apply(p, x, ka)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        return jax.grad(loss)(p)

    return jax.jit(step).lower(params).compile()


def figures(compiled: Any) -> tuple[float, float]:
    """Temp memory and bytes accessed, MiB."""
    return memory.temp_size(compiled) / 2**20, memory.cost(compiled)["bytes accessed"] / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fns", nargs="+", default=list(FUNCTIONS), choices=list(jrelu.FUNCTIONS))
    args = ap.parse_args()
    cases = {c.label: c for c in bs.build_cases(args.fns)}
    dims = bm.train_dims("default")["cnn"]
    builders = {
        "cnn": lambda case, impl: bm.train_program(case, impl, "cnn", dims).compile().compiled,
        "pointwise": pointwise_step,
    }
    print(f"backend {jax.default_backend()}; temp memory and bytes accessed, MiB")
    keep_x = _core.keeps_x_on_cpu
    for model, build in builders.items():
        for label, case in cases.items():
            peer = figures(build(case, "jax.nn"))
            row = [f"{model:9s} {label:13s} jax.nn temp {peer[0]:6.2f} bytes {peer[1]:7.1f}"]
            for name, rule in (("jrelu", keep_x), ("y kept", lambda x: False)):
                _core.keeps_x_on_cpu = rule
                try:
                    temp, nbytes = figures(build(case, "jrelu"))
                finally:
                    _core.keeps_x_on_cpu = keep_x
                row.append(
                    f"{name} temp {temp:6.2f} ({temp / peer[0]:.2f}x) bytes {nbytes / peer[1]:.3f}x"
                )
            print("  ".join(row))


if __name__ == "__main__":
    main()
