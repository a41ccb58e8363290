import jax
import jax.numpy as jnp
import optax
from flax import nnx

import jrelu
from jrelu import nnx as jnn


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(8, 32, rngs=rngs)
        self.act = jnn.PReLU(32)  # one slope per channel on the last axis, from 0.25
        self.fc2 = nnx.Linear(32, 32, rngs=rngs)
        self.selu = jnn.SELU()
        self.drop = jnn.AlphaDropout(0.1, rngs=rngs)  # draws from the "dropout" stream
        self.out = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x):
        x = self.act(self.fc1(x))
        x = self.drop(self.selu(self.fc2(x)))
        return self.out(x)


x = jax.random.normal(jax.random.key(0), (128, 8))
y = jnp.sin(x).sum(-1, keepdims=True)
model = MLP(nnx.Rngs(0))
optimizer = nnx.Optimizer(
    model, optax.adamw(1e-2, weight_decay=1e-4, mask=jrelu.weight_decay_mask), wrt=nnx.Param
)


@nnx.jit
def step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    optimizer.update(model, grads)
    return loss


model.train()  # AlphaDropout drops (and RReLU draws slopes)
for _ in range(100):
    loss = step(model, optimizer, x, y)
model.eval()  # AlphaDropout is the identity (and RReLU uses (lower + upper) / 2)
print(model.act.negative_slope[...].shape, float(jnp.mean((model(x) - y) ** 2)))
