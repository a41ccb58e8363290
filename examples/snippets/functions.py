import jax
import jax.numpy as jnp

import jrelu

x = jnp.linspace(-3, 3, 7)
y = jrelu.leaky_relu(x, negative_slope=0.01)  # jax.nn's names and arguments
# at the kink x = 0 the derivative is the slope, as in PyTorch (jax.nn: 1)
kink = jax.grad(lambda x: jrelu.leaky_relu(x).sum())(jnp.zeros(3))
p = jrelu.prelu(x, negative_slope=jnp.full((7,), 0.25))  # broadcast slopes
r = jrelu.rrelu(x, key=jax.random.key(0))  # random slopes; no key: the mean
e = jrelu.elu(x, alpha=1.0, precise=True)  # the backward keeps x: exact tails
act = jrelu.get("celu", alpha=0.5)  # by name, from jrelu.FUNCTIONS
