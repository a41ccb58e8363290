"""The multi-device checks of issue 6, run by ``tests/test_sharding.py`` in a child process.

The child gets 8 simulated CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``) so that
the parent test session stays single-device. It prints one JSON report on its last line of output;
the parent turns each entry into a test. Run it by hand to see the figures::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu python tests/sharding_worker.py

What is measured, on a 2-D ``('data', 'model')`` mesh of 2 x 4 devices, for both of JAX's sharding modes
(``Explicit`` axes, the default of ``jax.make_mesh``, and ``Auto`` axes, classic GSPMD propagation):

* every function of :data:`jrelu.FUNCTIONS` in every registered hyperparameter variant (negative slopes
  and alphas run the 1-bit-mask rules; ``rrelu`` also with a PRNG key), on ``(16, 256)`` inputs sharded
  ``P('data', 'model')`` and on last axes whose per-device width is not a multiple of the 32-bit mask
  word (``(16, 96)``: 24 per device, ``(16, 12)``: 3 per device): the forward pass, the backward pass
  (``vjp``) and ``jvp``; the collectives in each compiled program; the outputs' shardings; equality with
  the single-device results;
* ``prelu`` with a per-channel slope sharded along the channel axis: the slope's gradient, its
  sharding, and the one all-reduce (over the ``data`` axis) it needs;
* a data-parallel training step of a small Flax model built from ``jrelu.linen`` modules against the
  same step on one device.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

MESH_SHAPE = (2, 4)
SHAPES = {"wide": (16, 256), "narrow": (16, 96), "small": (16, 12)}  # 64, 24 and 3 per device
MODES = ("explicit", "auto")
COLLECTIVES = ("all-reduce", "all-gather", "collective-permute", "all-to-all", "reduce-scatter")
_COLLECTIVE = re.compile(
    r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(?P<type>.*?)\s*"
    r"\b(?P<op>all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter)(?:-start)?\("
    r"(?P<rest>.*)$",
    re.M,
)


def variants() -> Iterator[tuple[str, dict[str, float], bool]]:
    """(function, hyperparameters, with a key) for every registered variant; the registry is the list."""
    import jrelu

    for name, spec in jrelu.FUNCTIONS.items():
        for v in spec.variants or ({},):
            params = {**spec.params, **v}
            yield name, params, False
            if spec.random:
                yield name, params, True


def case_id(mode: str, shape: str, name: str, params: dict[str, float], key: bool) -> str:
    p = ",".join(f"{k}={v:g}" for k, v in params.items())
    return f"{mode}-{shape}-{name}" + (f"({p})" if p else "") + ("-key" if key else "")


def collectives(hlo: str) -> list[dict[str, Any]]:
    """The collectives of a compiled HLO module: op, result type, replica-group size (if readable)."""
    out = []
    for m in _COLLECTIVE.finditer(hlo):
        rest = m.group("rest")
        out.append(
            {
                "op": m.group("op"),
                "type": m.group("type"),
                "group_size": _group_size(rest),
                "hlo": re.sub(r",\s*metadata=\{.*", "", m.group(0).strip())[:300],
            }
        )
    return out


def _group_size(rest: str) -> int | None:
    """Devices per replica group, from any of XLA's spellings (explicit lists, iota, mesh axes)."""
    g = re.search(r"replica_groups=\{\{([\d,]*)\}", rest)
    if g:
        return len(g.group(1).split(","))
    g = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", rest)
    if g:
        return int(g.group(2))
    g = re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", rest)
    if g:
        sizes = dict(re.findall(r"'(\w+)'=(\d+)", g.group(1)))
        names = re.findall(r"'(\w+)'", g.group(2))
        return math.prod(int(sizes[n]) for n in names) if names else None
    return None


def _mesh(mode: str, shape: tuple[int, ...], names: tuple[str, ...]) -> Any:
    import jax
    from jax.sharding import AxisType

    kind = AxisType.Explicit if mode == "explicit" else AxisType.Auto
    return jax.make_mesh(shape, names, axis_types=(kind,) * len(names))


def _hlo(fn: Callable[..., Any], *args: Any) -> str:
    import jax

    return jax.jit(fn).lower(*args).compile().as_text()


def _leaves(tree: Any) -> list[Any]:
    import jax

    return jax.tree_util.tree_leaves(tree)


def _equal(a: Any, b: Any) -> bool:
    import numpy as np

    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(_leaves(a), _leaves(b), strict=True)
    )


def _masked(name: str, params: dict[str, float], key: bool, _seen: list[int] = [0]) -> bool:  # noqa: B006
    """Whether the backward pass of this variant packs a bit mask: ``pack_mask`` is watched while the
    backward pass is traced (on one device, at a shape of its own so that no trace cache is hit)."""
    import jax
    import numpy as np

    import jrelu
    import jrelu._core as core

    calls, pack = [], core.pack_mask
    core.pack_mask = lambda bits: calls.append(1) or pack(bits)
    try:
        _seen[0] += 1
        kw = {"key": jax.random.key(0)} if key else {}
        x = np.ones((2, 100 + _seen[0]), np.float32)
        fn = jrelu.FUNCTIONS[name].fn
        jax.make_jaxpr(lambda v: jax.vjp(lambda u: fn(u, **params, **kw), v)[1](v))(x)
    finally:
        core.pack_mask = pack
    return bool(calls)


def plan() -> list[tuple[str, str, str, dict[str, float], bool, bool]]:
    """(mode, shape, function, params, key, masked) to run: every variant on the wide shape; on the
    narrow and small ones, the variants that pack a mask (the only code that is not elementwise) and
    relu as a control."""
    masked = [(v, _masked(*v)) for v in variants()]
    if not any(m for _, m in masked):  # the watch on jrelu._core.pack_mask saw nothing: it moved
        raise RuntimeError("no variant packs a mask through jrelu._core.pack_mask; update _masked")
    return [
        (mode, shape, *v, m)
        for mode in MODES
        for shape in SHAPES
        for v, m in masked
        if shape == "wide" or m or v[0] == "relu"
    ]


def _ulps(a: Any, b: Any, scale: Any = 0.0) -> float:
    """Largest difference between two float32 pytrees (NaN = NaN), in ulps of ``max(|b|, |scale|)``.

    ``scale`` is the incoming tangent or cotangent: a derivative ``d * t`` computed with or without a
    fused multiply-add differs by about one ulp of ``d`` (of 1 where ``d`` is near 0) times ``|t|``.
    """
    import numpy as np

    worst = 0.0
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            size = np.maximum(np.maximum(np.abs(y), np.abs(scale)), np.finfo(np.float32).tiny)
            spacing = np.spacing(size.astype(np.float32)).astype(np.float64)
            worst = max(worst, float(np.max(np.where(same, 0, np.abs(x - y) / spacing))))
    return worst


def activations() -> dict[str, dict[str, Any]]:
    """Per case: collectives (fwd, bwd, jvp compiled apart on the wide explicit mesh -- the headline
    figures -- and as one program elsewhere), shardings kept, and the distance from one device."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jrelu

    rng = np.random.default_rng(0)
    data = {
        shape: [rng.normal(scale=3.0, size=dims).astype(np.float32) for _ in range(3)]
        for shape, dims in SHAPES.items()
    }
    for arrays in data.values():  # the kinks, exactly
        arrays[0].reshape(-1)[:4] = [0.0, -0.0, 6.0, 0.0]
    single: dict[tuple, Any] = {}
    meshes = {mode: _mesh(mode, MESH_SHAPE, ("data", "model")) for mode in MODES}
    report = {}
    for mode, shape, name, params, with_key, masked in plan():
        sharding = NamedSharding(meshes[mode], P("data", "model"))
        host = data[shape]
        x, c, t = (jax.device_put(a, sharding) for a in host)
        spec = jrelu.FUNCTIONS[name]
        kw = {"key": jax.random.key(0)} if with_key else {}

        def f(v: Any, spec: Any = spec, params: dict = params, kw: dict = kw) -> Any:
            return spec.fn(v, **params, **kw)

        programs = {
            "fwd": lambda v, ct, tt, f=f: f(v),
            "bwd": lambda v, ct, tt, f=f: jax.vjp(f, v)[1](ct)[0],
            "jvp": lambda v, ct, tt, f=f: jax.jvp(f, (v,), (tt,)),
        }
        together = {
            "all": lambda v, ct, tt, programs=programs: {
                k: p(v, ct, tt) for k, p in programs.items()
            }
        }
        entry: dict[str, Any] = {
            "mode": mode,
            "shape": list(SHAPES[shape]),
            "function": name,
            "params": params,
            "key": with_key,
            "mask": masked,
            "collectives": {},
            "hlo": [],
            "error": None,
        }
        ref_key = (shape, name, tuple(params.items()), with_key)
        if ref_key not in single:
            single[ref_key] = jax.jit(together["all"])(*host)
        ref = single[ref_key]
        try:
            runs = programs if (mode, shape) == ("explicit", "wide") else together
            try:
                outs = {}
                for label, fn in runs.items():
                    compiled = jax.jit(fn).lower(x, c, t).compile()
                    found = collectives(compiled.as_text())
                    entry["collectives"][label] = len(found)
                    entry["hlo"] += [f"{label}: {h['hlo']}" for h in found]
                    out = compiled(x, c, t)
                    outs.update(out if label == "all" else {label: out})
            except Exception as e:  # say which of fwd, bwd, jvp cannot be traced
                entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                entry["failing"] = []
                for label, fn in programs.items():
                    try:
                        jax.jit(fn).lower(x, c, t)
                    except Exception:
                        entry["failing"].append(label)
                raise
            entry["sharding_kept"] = {
                k: all(leaf.sharding.is_equivalent_to(sharding, leaf.ndim) for leaf in _leaves(v))
                for k, v in outs.items()
            }
            incoming = {"fwd": 0.0, "bwd": host[1], "jvp": host[2]}
            entry["ulps_from_one_device"] = {k: _ulps(outs[k], ref[k], incoming[k]) for k in outs}
        except Exception:
            pass
        report[case_id(mode, shape, name, params, with_key)] = entry
    return report


def prelu_slope() -> dict[str, dict[str, Any]]:
    """x (16, 256) on P('data', 'model'), one slope per channel on P('model')."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jrelu

    rng = np.random.default_rng(1)
    xh = rng.normal(size=(16, 256)).astype(np.float32)
    ch = rng.normal(size=(16, 256)).astype(np.float32)
    ah = rng.uniform(-0.5, 0.5, size=256).astype(np.float32)

    def bwd(a: Any, x: Any, ct: Any) -> Any:
        return jax.vjp(jrelu.prelu, x, a)[1](ct)

    ref = jax.jit(bwd)(ah, xh, ch)
    report = {}
    for mode in MODES:
        mesh = _mesh(mode, MESH_SHAPE, ("data", "model"))
        xs, slope_s = NamedSharding(mesh, P("data", "model")), NamedSharding(mesh, P("model"))
        a, x, ct = jax.device_put(ah, slope_s), jax.device_put(xh, xs), jax.device_put(ch, xs)
        found = collectives(_hlo(bwd, a, x, ct))
        gx, ga = jax.jit(bwd)(a, x, ct)
        report[mode] = {
            "collectives": found,
            "grad_x_equal": _equal(gx, ref[0]),
            "grad_slope_max_rel_err": float(
                np.max(
                    np.abs(np.asarray(ga) - np.asarray(ref[1]))
                    / (np.abs(np.asarray(ref[1])) + 1e-6)
                )
            ),
            "grad_slope_sharding_kept": ga.sharding.is_equivalent_to(slope_s, 1),
            "grad_x_sharding_kept": gx.sharding.is_equivalent_to(xs, 2),
            "data_axis_size": MESH_SHAPE[0],
            "slope_shard": 256 // MESH_SHAPE[1],
        }
    return report


def training_step() -> dict[str, dict[str, Any]]:
    """A data-parallel step (batch on 8 devices, parameters replicated) against the one-device step."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    try:
        import jrelu.linen as jnn

        modules = "jrelu.linen"
        act = [
            lambda: jnn.PReLU(),
            lambda: jnn.LeakyReLU(negative_slope=-0.2),
            lambda: jnn.ELU(alpha=-0.5),
            lambda: jnn.SELU(),
        ]
    except ImportError:  # before the Flax modules existed: the functions inside flax.linen
        import jrelu

        modules = "flax.linen + jrelu functions"

        class PReLU(nn.Module):
            @nn.compact
            def __call__(self, x: Any) -> Any:
                a = self.param("negative_slope", nn.initializers.constant(0.25), (x.shape[-1],))
                return jrelu.prelu(x, a)

        act = [
            PReLU,
            lambda: lambda x: jrelu.leaky_relu(x, -0.2),
            lambda: lambda x: jrelu.elu(x, -0.5),
            lambda: jrelu.selu,
        ]

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            for make in act:
                x = make()(nn.Dense(64)(x))
            return nn.Dense(1)(x)

    model = MLP()
    tx = optax.adam(1e-2)
    rng = np.random.default_rng(2)
    xh = rng.normal(size=(64, 16)).astype(np.float32)
    yh = np.sin(xh.sum(axis=1, keepdims=True)).astype(np.float32)
    params0 = model.init(jax.random.key(0), xh[:1])
    opt0 = tx.init(params0)

    def step(params: Any, opt: Any, x: Any, y: Any) -> Any:
        def loss_fn(p: Any) -> Any:
            return jnp.mean((model.apply(p, x) - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        # optax's bias correction is not dtype-strict (a Python float ** an int32 count): standard
        # promotion for it alone; the model runs under the strict settings the suite passes down.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    def run(params: Any, opt: Any, x: Any, y: Any, n: int = 3) -> tuple[Any, list[float]]:
        fn, losses = jax.jit(step), []
        for _ in range(n):
            params, opt, loss = fn(params, opt, x, y)
            losses.append(float(loss))
        return params, losses

    ref_params, ref_losses = run(params0, opt0, xh, yh)
    report = {}
    for mode in MODES:
        mesh = _mesh(mode, (8,), ("data",))
        rep, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
        params, opt = jax.device_put(params0, rep), jax.device_put(opt0, rep)
        x, y = jax.device_put(xh, batch), jax.device_put(yh, batch)
        found = collectives(_hlo(step, params, opt, x, y))
        new, losses = run(params, opt, x, y)
        diffs = [
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(_leaves(new), _leaves(ref_params), strict=True)
        ]
        slope = new["params"]["PReLU_0"]["negative_slope"] if modules == "jrelu.linen" else None
        report[mode] = {
            "modules": modules,
            "collective_ops": sorted({c["op"] for c in found}),
            "collectives": len(found),
            "max_param_diff": max(diffs),
            "losses": losses,
            "ref_losses": ref_losses,
            "params_replicated": all(leaf.sharding.is_fully_replicated for leaf in _leaves(new)),
            "slope_moved": None
            if slope is None
            else float(np.max(np.abs(np.asarray(slope) - 0.25))),
        }
    return report


def main() -> int:
    import jax

    if jax.device_count() != 8:
        print(json.dumps({"error": f"expected 8 devices, got {jax.device_count()}"}))
        return 1
    import time

    report: dict[str, Any] = {"devices": jax.device_count(), "jax": jax.__version__, "seconds": {}}
    for part in (activations, prelu_slope, training_step):
        start = time.perf_counter()
        report[part.__name__] = part()
        report["seconds"][part.__name__] = round(time.perf_counter() - start, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
