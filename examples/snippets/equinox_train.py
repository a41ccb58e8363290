import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import jrelu
from jrelu import equinox as jeqx

k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
model = eqx.nn.Sequential(
    [
        eqx.nn.Conv2d(3, 8, 3, padding=1, key=k1),
        jeqx.PReLU(8),  # one slope per channel of the unbatched (C, H, W) input, from 0.25
        eqx.nn.Conv2d(8, 8, 3, padding=1, key=k2),
        eqx.nn.Lambda(jrelu.selu),
        jeqx.AlphaDropout(0.1),  # draws its mask from the key Sequential hands it
        eqx.nn.Conv2d(8, 1, 1, key=k3),
    ]
)
x = jax.random.normal(jax.random.key(1), (32, 3, 8, 8))  # a batch: vmapped below
y = jnp.sin(x).sum(1, keepdims=True)

# He et al. put no weight decay on the slopes: weight_decay_mask leaves negative_slope out.
tx = optax.adamw(1e-2, weight_decay=1e-4, mask=jrelu.weight_decay_mask)
opt_state = tx.init(eqx.filter(model, eqx.is_array))


@eqx.filter_jit
def step(model, opt_state, key):
    def loss_fn(model):
        keys = jax.random.split(key, x.shape[0])  # one key per example, as for eqx.nn.Dropout
        return jnp.mean((jax.vmap(model)(x, key=keys) - y) ** 2)

    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


for key in jax.random.split(jax.random.key(2), 50):
    model, opt_state, loss = step(model, opt_state, key)
inference = eqx.nn.inference_mode(model)  # AlphaDropout is the identity, no key needed
print(model.layers[1].negative_slope.shape, float(jnp.mean((jax.vmap(inference)(x) - y) ** 2)))
