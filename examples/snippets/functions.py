import jax
import jax.numpy as jnp

import jrelu

x = jnp.linspace(-3, 3, 7)
y = jrelu.leaky_relu(x, negative_slope=0.01)  # names and arguments are jax.nn's
kink = jax.grad(lambda x: jrelu.leaky_relu(x).sum())(jnp.zeros(3))  # 0.01 at x = 0: PyTorch's
p = jrelu.prelu(x, negative_slope=jnp.full((7,), 0.25))  # the slope broadcasts against x
r = jrelu.rrelu(x, key=jax.random.key(0))  # one drawn slope each; no key: (lower + upper) / 2
e = jrelu.elu(x, alpha=1.0, precise=True)  # precise: the backward keeps x, for tiny derivatives
act = jrelu.get("celu", alpha=0.5)  # by name, from jrelu.FUNCTIONS; unknown names list the known
