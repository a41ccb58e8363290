import flax.linen as nn
import jax

from jrelu import diagnostics
from jrelu import linen as jnn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in (64, 64):
            x = jnn.ReLU()(nn.Dense(width)(x))
        return nn.Dense(10)(x)


x = jax.random.normal(jax.random.key(0), (256, 32))
model = MLP()
variables = model.init(jax.random.key(1), x)
out, stats = diagnostics.collect(model, variables, x)
# one row per layer: mean, std, negative_fraction, sparsity, dead_fraction
print(diagnostics.format_stats(stats))
norms = diagnostics.gradient_norms(jax.grad(lambda v: model.apply(v, x).sum())(variables))
