import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jrelu import nnx as jnn


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(8, 64, rngs=rngs)
        self.act = jnn.PReLU(64)  # one learned slope per channel, from 0.25
        self.out = nnx.Linear(64, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(self.act(self.hidden(x)))


x = jax.random.normal(jax.random.key(0), (256, 8))
y = jnp.sin(x.sum(axis=1, keepdims=True))
model = MLP(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)


@nnx.jit
def step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    optimizer.update(model, grads)
    return loss


losses = [float(step(model, optimizer, x, y)) for _ in range(100)]
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
