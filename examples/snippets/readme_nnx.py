import jax.numpy as jnp
from flax import nnx

from jrelu import nnx as jnn

rngs = nnx.Rngs(0)
model = nnx.Sequential(
    nnx.Linear(8, 32, rngs=rngs),
    jnn.PReLU(32),  # one learned slope per channel of the last axis, from 0.25
    nnx.Linear(32, 32, rngs=rngs),
    jnn.ELU(alpha=1.0),
    nnx.Linear(32, 1, rngs=rngs),
)
x = jnp.ones((4, 8))
loss, grads = nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(model)
