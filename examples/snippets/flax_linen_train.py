import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import jrelu
from jrelu import linen as jnn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        # one learned slope per feature (channels last), from 0.25
        x = jnn.PReLU(axis=-1)(nn.Dense(32)(x))
        return nn.Dense(1)(x)


x = jax.random.normal(jax.random.key(0), (128, 8))
y = jnp.sin(x).sum(-1, keepdims=True)
model = MLP()
params = model.init(jax.random.key(1), x)["params"]  # slopes shaped from x at init: (32,)

# He et al. put no weight decay on the slopes: weight_decay_mask leaves them out.
tx = optax.adamw(1e-2, weight_decay=1e-4, mask=jrelu.weight_decay_mask)
opt_state = tx.init(params)


@jax.jit
def step(params, opt_state):
    def loss_fn(p):
        return jnp.mean((model.apply({"params": p}, x) - y) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


for _ in range(100):
    params, opt_state, loss = step(params, opt_state)
print(params["PReLU_0"]["negative_slope"].shape, float(loss))
