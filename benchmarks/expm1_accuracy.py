"""Float32 accuracy of jrelu's expm1 and of elu, celu, selu (values, default and precise derivatives).

Errors in ulps against extended-precision (``np.longdouble``) references of the closed forms:

* ``expm1`` on every float32 in the polynomial's own range (``|x| <= 0.36``, ``|x| >= 2^-12``: below,
  ``r^2 q`` is under 2^-13 of ``r``), on 2^24 uniform points over ``[-17.4, 88.7]`` (every
  ``k`` of the range reduction), and on the grid below;
* elu, celu, selu on the 400,001-point grid of ``tests/test_precise.py`` (-110 to 10, plus the kink and
  the points where the default derivative is 0 in float32): values relative; default derivatives in
  ulps of ``max(|f'|, s)`` (``s`` = the derivative at the kink, as ``jrelu check``); ``precise=True``
  first and second derivatives relative.

    python benchmarks/expm1_accuracy.py      # output kept in benchmarks/results/expm1_accuracy.txt
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import jrelu
from jrelu._core import expm1
from jrelu.testing import ulp

L = np.longdouble
F32 = np.finfo(np.float32)
SELU_SA = L("1.6732632423543772848170429916717") * L("1.0507009873554804934193349852946")
SELU_S = L("1.0507009873554804934193349852946")


def ulps(got, want, floor=None):
    """|got - want| in ulps of max(|want|, floor) (relative without a floor); flushed and overflowed
    results handled as tests/test_precise.py does."""
    got = np.asarray(got).astype(L)
    want = np.asarray(want, L)
    scale = np.abs(want) if floor is None else np.maximum(np.abs(want), L(floor))
    with np.errstate(invalid="ignore"):  # jrelu.testing.ulp: of the normal range's ends beyond it
        err = np.abs(got - want) / ulp(scale, np.float32)
    err[(np.abs(want) < L(float(F32.tiny))) & (got == 0)] = 0.0
    over = np.abs(want) > L(float(F32.max))
    err[over] = np.where(got[over] == np.sign(want[over]) * L(np.inf), 0.0, np.inf)
    return err


def worst(err, x):
    i = int(np.argmax(err))
    return f"{float(err[i]):.3f} ulp (at x={float(x[i])!r})"


_expm1 = jax.jit(expm1)


def expm1_report() -> None:
    bits = []
    for lo, hi in ((2.0**-12, 0.36),):
        a = np.arange(np.float32(lo).view(np.int32), np.float32(hi).view(np.int32), dtype=np.int32)
        bits.append(a.view(np.float32))
    pos = np.concatenate(bits)
    err_max, at = 0.0, 0.0
    for part in (pos, -pos):
        for s in range(0, part.size, 2**23):
            x = part[s : s + 2**23]
            e = ulps(np.asarray(_expm1(jnp.asarray(x))), np.expm1(x.astype(L)))
            i = int(np.argmax(e))
            if e[i] > err_max:
                err_max, at = float(e[i]), float(x[i])
    print(
        f"expm1, every float32 with 2^-12 <= |x| <= 0.36 ({2 * pos.size:,}): {err_max:.3f} ulp (at x={at!r})"
    )
    x = np.random.default_rng(0).uniform(-17.4, 88.7, 2**24).astype(np.float32)
    e = ulps(np.asarray(_expm1(jnp.asarray(x))), np.expm1(x.astype(L)))
    print(f"expm1, 2^24 uniform on [-17.4, 88.7]: {worst(e, x)}")
    x = grid()
    e = ulps(np.asarray(_expm1(jnp.asarray(x))), np.expm1(x.astype(L)))
    print(f"expm1, the 400,001-point grid: {worst(e, x)}")


def grid():
    extra = [0.0, -0.0, -1e-30, 1e-30, -16.98, -20.0, -100.0]
    return np.concatenate([np.linspace(-110.0, 10.0, 400_001), extra]).astype(np.float32)


CASES = [
    ("elu", 1.0),
    ("elu", 0.3),
    ("elu", -0.5),
    ("celu", 1.0),
    ("celu", 0.3),
    ("celu", 2.5),
    ("celu", -1.0),
    ("selu", None),
]


def reference(name, a, x):
    """value, f', f'' in longdouble; a is alpha as float32 holds it."""
    x = x.astype(L)
    neg = np.minimum(x, 0)
    with np.errstate(over="ignore"):
        if name == "selu":
            e = np.exp(neg)
            return (
                np.where(x > 0, SELU_S * x, SELU_SA * np.expm1(neg)),
                np.where(x > 0, SELU_S, SELU_SA * e),
                np.where(x > 0, 0, SELU_SA * e),
            )
        if name == "elu":
            e = np.exp(neg)
            return (
                np.where(x > 0, x, a * np.expm1(neg)),
                np.where(x > 0, 1, a * e),
                np.where(x > 0, 0, a * e),
            )
        e = np.exp(neg / a)
        return (
            np.where(x > 0, x, a * np.expm1(neg / a)),
            np.where(x > 0, 1, e),
            np.where(x > 0, 0, e / a),
        )


def functions_report() -> None:
    x = grid()
    xj = jnp.asarray(x)
    for name, alpha in CASES:
        f = getattr(jrelu, name)

        def fn(v, precise, f=f, alpha=alpha):
            return f(v, precise=precise) if alpha is None else f(v, alpha, precise=precise)

        a = None if alpha is None else L(float(np.float32(alpha)))
        ref, d1, d2 = reference(name, a, x)
        s = {"elu": max(1.0, abs(alpha or 1)), "celu": 1.0, "selu": float(SELU_SA)}[name]
        y = jax.jit(functools.partial(fn, precise=False))(xj)
        g = jax.jit(jax.vmap(jax.grad(functools.partial(fn, precise=False))))(xj)
        pg = jax.jit(jax.vmap(jax.grad(functools.partial(fn, precise=True))))(xj)
        pgg = jax.jit(jax.vmap(jax.grad(jax.grad(functools.partial(fn, precise=True)))))(xj)
        label = name if alpha is None else f"{name}(alpha={alpha:g})"
        print(
            f"{label}: value {worst(ulps(y, ref), x)}; derivative {worst(ulps(g, d1, s), x)}; "
            f"precise f' {worst(ulps(pg, d1), x)}, f'' {worst(ulps(pgg, d2), x)}"
        )


if __name__ == "__main__":
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}")
    expm1_report()
    functions_report()
