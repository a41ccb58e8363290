import flax.linen as nn
import jax
import jax.numpy as jnp

from jrelu import linen as jnn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = jnn.PReLU(axis=-1)(nn.Dense(32)(x))  # one learned slope per feature, from 0.25
        x = jnn.AlphaDropout(0.1)(jnn.SELU()(nn.Dense(32)(x)), deterministic=not train)
        return nn.Dense(1)(x)


x = jnp.ones((4, 8))
model = MLP()
params = model.init(jax.random.key(0), x)
loss = lambda p: model.apply(p, x, train=True, rngs={"dropout": jax.random.key(1)}).mean()  # noqa: E731
grads = jax.grad(loss)(params)  # the slopes' gradient too: grads["params"]["PReLU_0"]
