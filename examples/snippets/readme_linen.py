import flax.linen as nn
import jax
import jax.numpy as jnp

from jrelu import linen as jnn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = jnn.PReLU(axis=-1)(nn.Dense(32)(x))  # a learned slope per feature
        x = jnn.SELU()(nn.Dense(32)(x))
        x = jnn.AlphaDropout(0.1)(x, deterministic=not train)
        return nn.Dense(1)(x)


def loss(params, x):
    rngs = {"dropout": jax.random.key(1)}  # AlphaDropout's stream, as nn.Dropout's
    return model.apply(params, x, train=True, rngs=rngs).mean()


x = jnp.ones((4, 8))
model = MLP()
params = model.init(jax.random.key(0), x)
grads = jax.grad(loss)(params, x)  # the slopes too: grads["params"]["PReLU_0"]
