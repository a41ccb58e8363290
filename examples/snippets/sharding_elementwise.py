import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

import jrelu

# 8 devices. On a machine with one CPU and no accelerator, JAX splits the CPU into 8 host
# devices (set before any JAX computation: first in a fresh process or notebook). With 8 GPUs,
# leave this line out.
jax.config.update("jax_num_cpu_devices", 8)
mesh = jax.make_mesh((2, 4), ("data", "model"))  # 2-way data x 4-way model
with jax.set_mesh(mesh):
    x = jax.device_put(jnp.linspace(-3, 3, 16 * 256).reshape(16, 256), P("data", "model"))

    y = jax.jit(jrelu.elu)(x)  # y.sharding == x.sharding, no communication
    g = jax.jit(jax.grad(lambda x: jrelu.elu(x).sum()))(x)  # the backward pass: the same

    # the random functions too: the same numbers as on one device, drawn where each shard lives
    key = jax.random.key(0)
    r = jax.jit(lambda x: jrelu.rrelu(x, key=key))(x)
    d = jax.jit(lambda x: jrelu.alpha_dropout(x, 0.1, key=key))(x)

    # PReLU with one slope per channel, sharded like the channels
    slope = jax.device_put(jnp.full((256,), 0.25), P("model"))
    # the slope's gradient, sharded P("model") as the slope
    dslope = jax.jit(jax.grad(lambda a, x: jrelu.prelu(x, a).sum()))(slope, x)
