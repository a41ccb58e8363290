import jax
import jax.numpy as jnp

import jrelu


def along(g, v):
    """u -> g'(u) v, through jrelu's derivative rules."""
    return lambda u: jax.jvp(g, (u,), (v,))[1]


def taylor(f, x, v, order):
    """f(x) and [f'(x) v, f''(x) v^2, ...]: what jax.experimental.jet returns for the
    input series (v, 0, ..., 0), by nested jvp."""
    terms, g = [], f
    for _ in range(order):
        g = along(g, v)
        terms.append(g(x))
    return f(x), terms


x = jnp.array([-2.5, -0.7, 0.4, 3.0])
y, (d1, d2, d3) = taylor(jrelu.elu, x, jnp.ones_like(x), order=3)
