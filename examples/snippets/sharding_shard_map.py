from functools import partial

import jax
from jax.sharding import PartitionSpec as P

import jrelu

mesh = jax.make_mesh((8,), ("data",))


@jax.jit
@partial(jax.shard_map, mesh=mesh, in_specs=P("data"), out_specs=P("data"))
def per_device(x):
    key = jax.random.fold_in(jax.random.key(0), jax.lax.axis_index("data"))
    return jrelu.rrelu(x, key=key)
