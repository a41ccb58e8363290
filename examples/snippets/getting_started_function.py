import jax
import jax.numpy as jnp

import jrelu

x = jnp.array([-2.0, 0.0, 3.0])
y = jrelu.leaky_relu(x)  # jax.nn.leaky_relu's name and argument: [-0.02, 0, 3]
# the derivative, [0.01, 0.01, 1]: at the kink x = 0 the slope, as in PyTorch
dy = jax.grad(lambda x: jrelu.leaky_relu(x).sum())(x)
y2 = jax.jit(jrelu.elu)(x)  # jit, grad, vmap, jvp, ... all work
