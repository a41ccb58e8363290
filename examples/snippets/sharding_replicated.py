import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

import jrelu

mesh = jax.make_mesh((8,), ("d",), axis_types=(jax.sharding.AxisType.Auto,))
x = jnp.linspace(-2.0, 2.0, 64).reshape(8, 8)
a = jnp.float32(0.25)


def step(x, a):  # a replicated slope, a device-varying x
    return jax.grad(lambda a: jax.lax.psum(jrelu.prelu(x, a).sum(), "d"))(a)


g = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=(P("d"), P()), out_specs=P()))(x, a)
