import equinox as eqx
import jax
import jax.numpy as jnp

import jrelu
from jrelu import equinox as jeqx

k1, k2 = jax.random.split(jax.random.key(0))
model = eqx.nn.Sequential(
    [
        eqx.nn.Linear(8, 32, key=k1),
        jeqx.PReLU(32),  # one slope per channel of the unbatched input, from 0.25
        eqx.nn.Lambda(jrelu.selu),  # the stateless functions need no module
        eqx.nn.Linear(32, 1, key=k2),
    ]
)
x = jnp.ones((4, 8))
grads = eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(x) ** 2))(model)
