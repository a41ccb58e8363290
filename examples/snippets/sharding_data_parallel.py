import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

import jrelu.linen as jnn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        x = jnn.PReLU(axis=-1)(nn.Dense(256)(x))  # one learned slope per channel
        x = jnn.SELU()(nn.Dense(256)(x))
        x = jnn.AlphaDropout(0.1)(x, deterministic=not train)
        return nn.Dense(1)(x)


mesh = jax.make_mesh((8,), ("data",))
model, tx = MLP(), optax.adam(1e-3)


@jax.jit
def step(params, opt_state, x, y, key):
    def loss(p):
        return jnp.mean((model.apply(p, x, rngs={"dropout": key}) - y) ** 2)

    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value


with jax.set_mesh(mesh):
    params = jax.device_put(model.init(jax.random.key(0), jnp.ones((1, 32)), False), P())
    opt_state = tx.init(params)
    x = jax.device_put(jax.random.normal(jax.random.key(1), (256, 32)), P("data"))
    y = jax.device_put(jnp.sin(x.sum(axis=1, keepdims=True)), P("data"))
    # one all-reduce: the gradients' sum over the data axis
    params, opt_state, loss = step(params, opt_state, x, y, jax.random.key(2))
