"""The multi-device checks, run by ``tests/test_sharding.py`` in a child process.

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
  same step on one device;
* under ``jax.set_mesh``: every variant and alpha_dropout on three placements, jitted (and
  eager: everywhere for the keyed variants, on the 2-D placement for the rest); the random nnx and linen modules; a data-parallel linen step with AlphaDropout and RReLU; the
  draws inside ``shard_map`` with and without ``fold_in``; the sharding guide's code, run as written;
* inside ``jax.shard_map`` with ``check_vma`` on, ``x`` sharded and the hyperparameters and keys
  replicated: every function, variant and key, forward, grad and jvp, against one device block by
  block and the peer formulation (:func:`shard_map_vma`).

Pass part names (``set_mesh_cases``, ...) as arguments to run only those.
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
        if (
            "sharding" in spec.not_applicable
        ):  # reglu: stated in the table, asserted in test_registry
            continue
        for v in spec.variants or ({},):
            params = {**spec.params, **v}
            if not spec.needs_key:  # alpha_dropout has no form without a key
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


# Under ``jax.set_mesh``: the mesh is in the context, as a user of explicit sharding has it.
SET_MESH_SHAPE = (16, 128)  # 16 per device on either axis of an 8-device mesh: 2 mask words
SET_MESH_PLACEMENTS = {  # (mesh shape, axis names, the input's spec)
    "8:data,-": ((8,), ("data",), ("data", None)),
    "8:-,data": ((8,), ("data",), (None, "data")),
    "2x4:model,data": ((2, 4), ("data", "model"), ("model", "data")),
}
# Eager calls (no jit around them) are as costly as the compiled programs. They run for every variant on the
# 2-D placement (both axes split at once), and on the 1-D ones for the variants that draw from a key, where
# eager dispatch once failed (alpha_dropout's hash once came out replicated); jitted fwd/bwd/jvp run everywhere.
SET_MESH_EAGER_EVERYWHERE = "2x4:model,data"


def random_variants() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every registered variant, and alpha_dropout (not in the registry) with and without shared axes."""
    yield from variants()
    for dims in ((), (0,), (1,)):
        yield "alpha_dropout", {"rate": 0.2, "broadcast_dims": dims}, True


def _fn(name: str, params: dict[str, Any], with_key: bool) -> Callable[[Any], Any]:
    import jax

    import jrelu

    fn = jrelu.alpha_dropout if name == "alpha_dropout" else jrelu.FUNCTIONS[name].fn
    kw = {"key": jax.random.key(0)} if with_key else {}
    return lambda v: fn(v, **params, **kw)


def set_mesh_cases() -> dict[str, dict[str, Any]]:
    """Per placement and variant, under ``with jax.set_mesh(mesh)``: fwd, bwd and jvp compiled apart,
    their collectives, whether they keep the input's sharding, their distance from one device; and the
    same three run eagerly (no jit around them)."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    rng = np.random.default_rng(3)
    host = [rng.normal(scale=3.0, size=SET_MESH_SHAPE).astype(np.float32) for _ in range(3)]
    host[0].reshape(-1)[:4] = [0.0, -0.0, 6.0, 0.0]
    report = {}
    for name, params, with_key in random_variants():
        f = _fn(name, params, with_key)
        programs = {
            "fwd": lambda v, ct, tt, f=f: f(v),
            "bwd": lambda v, ct, tt, f=f: jax.vjp(f, v)[1](ct)[0],
            "jvp": lambda v, ct, tt, f=f: jax.jvp(f, (v,), (tt,)),
        }
        ref = {k: jax.jit(p)(*host) for k, p in programs.items()}  # one device, no mesh
        for placement, (mshape, names, spec) in SET_MESH_PLACEMENTS.items():
            mesh = _mesh("explicit", mshape, names)
            sharding = NamedSharding(mesh, P(*spec))
            entry: dict[str, Any] = {
                "function": name,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                "key": with_key,
                "placement": placement,
                "collectives": {},
                "hlo": [],
                "error": None,
            }
            try:
                with jax.set_mesh(mesh):
                    x, c, t = (jax.device_put(a, sharding) for a in host)
                    outs, eager = {}, {}
                    for label, fn in programs.items():
                        compiled = jax.jit(fn).lower(x, c, t).compile()
                        found = collectives(compiled.as_text())
                        entry["collectives"][label] = len(found)
                        entry["hlo"] += [f"{label}: {h['hlo']}" for h in found]
                        outs[label] = compiled(x, c, t)
                        if with_key or placement == SET_MESH_EAGER_EVERYWHERE:
                            eager[label] = fn(x, c, t)
                entry["sharding_kept"] = {
                    f"{how}-{k}": all(
                        leaf.sharding.is_equivalent_to(sharding, leaf.ndim) for leaf in _leaves(v)
                    )
                    for how, d in (("jit", outs), ("eager", eager))
                    for k, v in d.items()
                }
                incoming = {"fwd": 0.0, "bwd": host[1], "jvp": host[2]}
                entry["ulps_from_one_device"] = {
                    f"{how}-{k}": _ulps(d[k], ref[k], incoming[k])
                    for how, d in (("jit", outs), ("eager", eager))
                    for k in d
                }
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            report[f"{placement}-{case_id('explicit', '', name, {}, with_key)}-{params}"] = entry
    return report


def gated_set_mesh() -> dict[str, dict[str, Any]]:
    """The gated functions (reglu) under ``jax.set_mesh``, split along either axis, on every placement:
    fwd, bwd and jvp compiled apart, their collectives, the output shardings, the distance from one
    device. Where the split axis is not sharded the function is elementwise per device and must add no
    collective; where it is, the gate half lives on other devices than the value half, so collectives
    are inherent and only the result and its sharding are held."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jrelu

    rng = np.random.default_rng(5)
    report = {}
    for name, spec in jrelu.FUNCTIONS.items():
        if not spec.gated:
            continue
        for axis in (0, -1):
            x_h = rng.normal(scale=3.0, size=SET_MESH_SHAPE).astype(np.float32)
            t_h = rng.normal(size=SET_MESH_SHAPE).astype(np.float32)
            f = lambda v, fn=spec.fn, axis=axis: fn(v, axis=axis)  # noqa: E731
            c_h = rng.normal(size=jax.eval_shape(f, x_h).shape).astype(np.float32)
            programs = {
                "fwd": lambda v, ct, tt, f=f: f(v),
                "bwd": lambda v, ct, tt, f=f: jax.vjp(f, v)[1](ct)[0],
                "jvp": lambda v, ct, tt, f=f: jax.jvp(f, (v,), (tt,)),
            }
            ref = {k: jax.jit(p)(x_h, c_h, t_h) for k, p in programs.items()}
            for placement, (mshape, names, pspec) in SET_MESH_PLACEMENTS.items():
                mesh = _mesh("explicit", mshape, names)
                sharding = NamedSharding(mesh, P(*pspec))
                entry: dict[str, Any] = {
                    "function": name,
                    "axis": axis,
                    "placement": placement,
                    "split_axis_sharded": pspec[axis] is not None,
                    "collectives": {},
                    "error": None,
                }
                try:
                    with jax.set_mesh(mesh):
                        x, c, t = (jax.device_put(a, sharding) for a in (x_h, c_h, t_h))
                        outs = {}
                        for label, fn in programs.items():
                            compiled = jax.jit(fn).lower(x, c, t).compile()
                            entry["collectives"][label] = len(collectives(compiled.as_text()))
                            outs[label] = compiled(x, c, t)
                    entry["sharding_kept"] = {
                        k: all(
                            leaf.sharding.is_equivalent_to(sharding, leaf.ndim)
                            for leaf in _leaves(v)
                        )
                        for k, v in outs.items()
                    }
                    incoming = {"fwd": 0.0, "bwd": c_h, "jvp": t_h}
                    entry["ulps_from_one_device"] = {
                        k: _ulps(outs[k], ref[k], 0.0 if k == "fwd" else np.abs(incoming[k]).max())
                        for k in outs
                    }
                except Exception as e:
                    entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                report[f"{placement}-{name}-axis{axis}"] = entry
    return report


def set_mesh_modules() -> dict[str, dict[str, Any]]:
    """The random Flax modules (nnx and linen) under ``jax.set_mesh``, input on P('data'): output
    and input gradient against the same module, same seed, on one device."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jrelu.linen as jl
    import jrelu.nnx as jx

    rng = np.random.default_rng(4)
    xh = rng.normal(size=(16, 64)).astype(np.float32)
    ch = rng.normal(size=(16, 64)).astype(np.float32)
    key = jax.random.key(1)
    modules: dict[str, Callable[[], Callable[[Any], Any]]] = {
        "nnx.AlphaDropout": lambda: jx.AlphaDropout(0.2, rngs=nnx.Rngs(dropout=1)),
        "nnx.RReLU": lambda: jx.RReLU(rngs=nnx.Rngs(dropout=1)),
        "nnx.RReLU(-0.2, 0.1)": lambda: jx.RReLU(-0.2, 0.1, rngs=nnx.Rngs(dropout=1)),
        "linen.AlphaDropout": lambda: (
            lambda v: jl.AlphaDropout(0.2, deterministic=False).apply({}, v, rngs={"dropout": key})
        ),
        "linen.RReLU": lambda: (
            lambda v: jl.RReLU(deterministic=False).apply({}, v, rngs={"dropout": key})
        ),
    }

    def run(make: Callable[[], Callable[[Any], Any]], x: Any, ct: Any) -> Any:
        m = make()
        if isinstance(m, nnx.Module):

            @nnx.jit
            def both(m: Any, x: Any, ct: Any) -> Any:
                # One call of the module (one key drawn): the cotangent's dot product, with y aside.
                def loss(v: Any, m: Any) -> Any:
                    y = m(v)
                    return jnp.sum(y * ct), y

                (_, y), dx = nnx.value_and_grad(loss, has_aux=True)(x, m)
                return y, dx

            return both(m, x, ct)
        return jax.jit(lambda x, ct: (lambda y, vjp: (y, vjp(ct)[0]))(*jax.vjp(m, x)))(x, ct)

    mesh = _mesh("explicit", (8,), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    report = {}
    for label, make in modules.items():
        ref = run(make, xh, ch)
        entry: dict[str, Any] = {"error": None}
        try:
            with jax.set_mesh(mesh):
                x, c = jax.device_put(xh, sharding), jax.device_put(ch, sharding)
                y, dx = run(make, x, c)
            entry["y_equal"] = _equal(y, ref[0])
            entry["dx_ulps"] = _ulps(dx, ref[1], ch)
            entry["sharding_kept"] = all(v.sharding.is_equivalent_to(sharding, 2) for v in (y, dx))
            entry["dropped_or_scaled"] = bool(jnp.any(y != x))
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        report[label] = entry

    # A data-parallel linen step with AlphaDropout (and RReLU) under set_mesh, against one device.
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x: Any, train: bool) -> Any:
            x = jl.SELU()(nn.Dense(32)(x))
            x = jl.AlphaDropout(0.2)(x, deterministic=not train)
            x = jl.RReLU()(nn.Dense(32)(x), deterministic=not train)
            return nn.Dense(1)(x)

    import optax

    model, tx = Net(), optax.sgd(1e-2)
    xb = rng.normal(size=(64, 8)).astype(np.float32)
    yb = np.cos(xb.sum(axis=1, keepdims=True)).astype(np.float32)
    params0 = model.init(jax.random.key(0), xb[:1], False)

    def step(params: Any, opt: Any, x: Any, y: Any, k: Any) -> Any:
        def loss_fn(p: Any) -> Any:
            out = model.apply(p, x, True, rngs={"dropout": k})
            return jnp.mean((out - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    def train(params: Any, x: Any, y: Any) -> tuple[Any, list[float], str]:
        opt, losses, fn = tx.init(params), [], jax.jit(step)
        hlo = fn.lower(params, opt, x, y, jax.random.key(0)).compile().as_text()
        for i in range(3):
            params, opt, loss = fn(params, opt, x, y, jax.random.fold_in(jax.random.key(7), i))
            losses.append(float(loss))
        return params, losses, hlo

    ref_params, ref_losses, _ = train(params0, xb, yb)
    entry = {"error": None}
    try:
        with jax.set_mesh(mesh):
            rep = NamedSharding(mesh, P())
            params = jax.device_put(params0, rep)
            x, y = jax.device_put(xb, sharding), jax.device_put(yb, sharding)
            new, losses, hlo = train(params, x, y)
        entry.update(
            losses=losses,
            ref_losses=ref_losses,
            max_param_diff=max(
                float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(_leaves(new), _leaves(ref_params), strict=True)
            ),
            collective_ops=sorted({c["op"] for c in collectives(hlo)}),
            params_replicated=all(leaf.sharding.is_fully_replicated for leaf in _leaves(new)),
        )
    except Exception as e:
        entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    report["linen training step"] = entry
    return report


def shard_map_streams() -> dict[str, Any]:
    """What the README's sharding section says of ``shard_map``: inside it every device draws the same
    numbers from the same key (positions are local), and ``fold_in(key, axis_index)`` gives each
    device its own; a jitted call on the global array draws per global position."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jrelu

    mesh = _mesh("explicit", (8,), ("data",))
    key = jax.random.key(5)
    draws = {
        "rrelu": lambda v, k: -jrelu.rrelu(-jnp.ones_like(v), 0.0, 1.0, key=k),
        "alpha_dropout": lambda v, k: jrelu.alpha_dropout(jnp.zeros_like(v), 0.5, key=k),
    }
    report = {}
    with jax.set_mesh(mesh):
        x = jax.device_put(np.zeros((8, 256), np.float32), NamedSharding(mesh, P("data")))
        for name, draw in draws.items():

            def same(v: Any, draw: Any = draw) -> Any:
                return draw(v, key)

            def folded(v: Any, draw: Any = draw) -> Any:
                return draw(v, jax.random.fold_in(key, jax.lax.axis_index("data")))

            rows = {}
            for label, fn in (("same key", same), ("fold_in", folded)):
                mapped = jax.shard_map(fn, mesh=mesh, in_specs=P("data"), out_specs=P("data"))
                rows[label] = np.asarray(jax.jit(mapped)(x))
            rows["global"] = np.asarray(jax.jit(same)(x))

            def identical_rows(a: Any) -> float:
                return float(np.mean([np.array_equal(a[i], a[0]) for i in range(1, 8)]))

            report[name] = {label: identical_rows(a) for label, a in rows.items()}
    return report


SHARD_MAP_SHAPE = (16, 12)  # 2 rows of 12 per device on 8 devices: the mask pads its last word


def shard_map_cases() -> Iterator[tuple[str, dict[str, Any], bool, bool]]:
    """(function, hyperparameters, with a key, hyperparameters traced) for every function of the table
    and every registered variant: once with the variant's numbers as constants and once with them
    passed in replicated (``P()``) and differentiated."""
    import jrelu

    for name, spec in jrelu.FUNCTIONS.items():
        for v in spec.variants or ({},):
            params = {**spec.params, **v}
            for with_key in (
                (True,) if spec.needs_key else (False, True) if spec.random else (False,)
            ):
                yield name, params, with_key, False
                if spec.hyper(params):
                    yield name, params, with_key, True


def shard_map_vma() -> dict[str, dict[str, Any]]:
    """Inside ``jax.shard_map`` with ``check_vma=True`` (the default) on 8 devices, ``x`` sharded
    (``P("d")``), the hyperparameters and the key replicated (``P()``), as data-parallel code has them:
    per function, variant and key, the forward value, the gradient in ``x`` and in each replicated
    hyperparameter (through ``psum``, the form a data-parallel loss takes) and the jvp in each
    hyperparameter, against the same computation on one device, block by block (a ``vmap`` over the 8
    blocks: inside ``shard_map`` a key draws by local position), and against the peer formulation
    (``spec.baseline``: jax.nn / ``jnp.where``) in the same ``shard_map`` -- or, for alpha_dropout, the
    NumPy reference of its mask per block. Each case is traced on its own (an error names it), then
    all run as one program per formulation (one compilation each)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import PartitionSpec as P

    import jrelu

    mesh = _mesh("auto", (8,), ("d",))
    n = mesh.shape["d"]
    rng = np.random.default_rng(11)
    # No input at a kink (0, 6): jrelu's kink conventions differ from some peers' there.
    host = rng.uniform(-7.5, 7.5, SHARD_MAP_SHAPE).astype(np.float32)
    host = np.where(np.abs(host) < 1e-3, np.float32(0.5), host)
    host = np.where(np.abs(host - 6) < 1e-3, np.float32(5.5), host)
    x = jnp.asarray(host)
    blocks = x.reshape(n, -1, *x.shape[1:])
    key = jax.random.key(7)
    psum = partial_psum("d")

    def outputs(f: Any, v: Any, h: Any, k: Any, total: Any) -> dict[str, Any]:
        out = {"y": f(v, h, k), "dx": jax.grad(lambda u: total(f(u, h, k).sum()))(v)}
        if h:
            out["dh"] = jax.grad(lambda g: total(f(v, g, k).sum()))(h)
            ones = jax.tree.map(jnp.ones_like, h)
            out["jvp"] = jax.jvp(lambda g: f(v, g, k), (h,), (ones,))[1]
        return out

    def out_specs(h: Any) -> dict[str, Any]:
        return {"y": P("d"), "dx": P("d"), **({"dh": P(), "jvp": P("d")} if h else {})}

    report: dict[str, dict[str, Any]] = {}
    ours, peers, hs = {}, {}, {}
    for name, params, with_key, traced in shard_map_cases():
        spec = jrelu.FUNCTIONS[name]
        hyper = spec.hyper(params) if traced else {}
        const = {k: v for k, v in params.items() if k not in hyper}
        h = {k: jnp.float32(v) for k, v in hyper.items()}

        def f(
            v: Any, h: Any, k: Any, fn: Any = spec.fn, c: Any = const, kw: bool = with_key
        ) -> Any:
            return fn(v, **h, **c, **({"key": k} if kw else {}))

        label = ",".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        label = f"{name}({label}){'-key' if with_key else ''}{'-traced' if traced else ''}"
        entry: dict[str, Any] = {
            "function": name,
            "params": params,
            "key": with_key,
            "traced": traced,
            "error": None,
        }
        report[label] = entry
        try:
            one = jax.shard_map(
                lambda v, h, k, f=f: outputs(f, v, h, k, psum),
                mesh=mesh,
                in_specs=(P("d"), P(), P()),
                out_specs=out_specs(h),
            )
            jax.eval_shape(one, x, h, key)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            continue
        ours[label], hs[label] = f, h
        if not with_key:

            def peer(v: Any, h: Any, k: Any, s: Any = spec, p: Any = params) -> Any:
                return s.baseline(v, **s.hyper({**p, **h}))

            peers[label] = peer

    def run_all(fs: dict[str, Any], v: Any, h: Any, k: Any, total: Any) -> dict[str, Any]:
        return {lab: outputs(f, v, h[lab], k, total) for lab, f in fs.items()}

    def mapped(fs: dict[str, Any]) -> Any:
        specs = {lab: out_specs(hs[lab]) for lab in fs}
        return jax.jit(
            jax.shard_map(
                lambda v, h, k: run_all(fs, v, h, k, psum),
                mesh=mesh,
                in_specs=(P("d"), P(), P()),
                out_specs=specs,
            )
        )

    got = mapped(ours)(x, hs, key)
    ref = jax.jit(jax.vmap(lambda v, h, k: run_all(ours, v, h, k, lambda s: s), (0, None, None)))(
        blocks, hs, key
    )
    peer_got = mapped(peers)(x, {lab: hs[lab] for lab in peers}, key)
    for label in ours:
        entry, g = report[label], got[label]
        r = {
            k: jax.tree.map(lambda a: a.sum(0), v) if k == "dh" else v.reshape(-1, *v.shape[2:])
            for k, v in ref[label].items()
        }
        entry["equal_to_one_device"] = {k: _equal(g[k], r[k]) for k in ("y", "dx")}
        entry["ulps_from_one_device"] = {k: _ulps(g[k], r[k]) for k in g if k != "y"}
        spec = jrelu.FUNCTIONS[entry["function"]]
        if label in peers:
            want = peer_got[label]
        elif spec.needs_key and not entry["traced"]:  # the NumPy reference of the mask, per block
            params = entry["params"]
            want = {
                "y": np.concatenate([spec.value(b, key=key, **params) for b in np.asarray(blocks)])
            }
        else:
            want = {}
        entry["rel_from_peer"] = {
            k: max(
                float(
                    np.max(
                        np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
                        / np.maximum(np.abs(np.asarray(b, np.float64)), 1.0)
                    )
                )
                for a, b in zip(_leaves(g[k]), _leaves(want[k]), strict=True)
            )
            for k in want
        }
    return report


def partial_psum(axis: str) -> Callable[[Any], Any]:
    import jax

    return lambda s: jax.lax.psum(s, axis)


def readme_section() -> dict[str, Any]:
    """The sharding guide's code (docs/guides/sharding.md), run as the files it is spliced from
    (examples/snippets/sharding_*.py, each on its own), and what the guide claims of the results.
    The first block sets up its own 8 devices, so it runs in a fresh process of one device instead
    (tests/test_sharding.py::test_readme_sharding_first_example_runs_on_one_device)."""
    import pathlib
    import runpy

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    snippets = pathlib.Path(__file__).parents[1] / "examples" / "snippets"
    files = ["sharding_data_parallel.py", "sharding_shard_map.py", "sharding_replicated.py"]
    ns: list[dict[str, Any]] = []
    try:
        for name in files:
            # User code runs under JAX's default promotion (optax's Adam is not dtype-strict); jrelu
            # itself is held to the strict settings everywhere else in the suite.
            with jax.numpy_dtype_promotion("standard"):
                ns.append(runpy.run_path(str(snippets / name)))
    except Exception as e:
        return {"blocks": len(ns), "error": f"{type(e).__name__}: {e}"}
    train, shard_map, replicated = ns
    mesh8 = shard_map["mesh"]
    z = jax.device_put(-np.ones((16, 64), np.float32), NamedSharding(mesh8, P("data")))
    rows = np.asarray(shard_map["per_device"](z)).reshape(8, -1)  # one block of 2 rows per device
    return {
        "blocks": len(ns),
        "error": None,
        "loss_finite": bool(np.isfinite(float(train["loss"]))),
        "per_device_blocks_distinct": len({r.tobytes() for r in rows}) == 8,
        # d/da of the sum of prelu over every block: the peer's jnp.where on one device
        "replicated_slope_grad": float(replicated["g"]),
        "replicated_slope_grad_peer": float(
            jax.grad(
                lambda a: jnp.where(replicated["x"] > 0, replicated["x"], a * replicated["x"]).sum()
            )(replicated["a"])
        ),
    }


# The transformer-shaped case: a pre-LN residual FFN step on (batch, seq, d_model) activations
BLOCK_SHAPE = (8, 16, 32)  # hidden 4 * 32; every axis but d_model divides the 2 x 4 mesh
BLOCK_PLACEMENTS = {"batch": ("data", None, None), "sequence": (None, "model", None)}
BLOCK_MODES = ("explicit", "auto", "classic")  # classic: Auto axes, no mesh in the context
BLOCK_FUNCTIONS = ("relu", "leaky_relu(-0.2)", "prelu[per-channel]", "rrelu[key]", "reglu")


def _block_act(label: str, impl: str) -> tuple[Callable[..., Any], bool, bool]:
    """(act, learned, gated) for a BLOCK_FUNCTIONS label: jrelu's or its peer's (Spec.baseline)."""
    import functools

    import jax

    import jrelu

    spec = jrelu.FUNCTIONS[label.split("(")[0].split("[")[0]]
    key = jax.random.key(5)
    if label == "leaky_relu(-0.2)":
        f = jrelu.leaky_relu if impl == "jrelu" else spec.baseline
        return functools.partial(f, negative_slope=-0.2), False, False
    if label == "rrelu[key]":
        if impl == "jrelu":
            return functools.partial(jrelu.rrelu, key=key), False, False
        return lambda z: spec.train_baseline(z, key, **spec.params), False, False
    f = spec.fn if impl == "jrelu" else spec.baseline
    return f, label.startswith("prelu"), spec.gated


def blocks_step() -> dict[str, dict[str, Any]]:
    """The gradient of two pre-LN residual FFN blocks (jrelu.testing's "ffn" model) on (batch, seq,
    d_model) activations sharded along the batch or the sequence axis, under jax.set_mesh with Explicit
    and with Auto axes and under classic jit (no mesh in the context): the collectives of jrelu's
    compiled step and of its peer's, whether jrelu ran its rule on the (rows, features) view, and the
    gradient's distance from one device."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from jrelu._testing import memory

    rng = np.random.default_rng(11)
    report = {}
    for label in BLOCK_FUNCTIONS:
        _, learned, gated = _block_act(label, "jrelu")
        xshape, layer, _ = memory._shapes("ffn", *BLOCK_SHAPE[:2], BLOCK_SHAPE[2], gated)
        host_params = [
            [
                *(rng.normal(size=s).astype(np.float32) / np.sqrt(s[0]) for s in layer),
                np.full((layer[1][0],), 0.25, np.float32) if learned else None,
            ]
            for _ in range(2)
        ]
        host_x = rng.normal(size=xshape).astype(np.float32)
        acts = {impl: _block_act(label, impl)[0] for impl in ("jrelu", "jax.nn")}
        ref = jax.jit(_block_grad(acts["jrelu"]))(host_params, host_x)
        for mode in BLOCK_MODES:
            for placement, spec in BLOCK_PLACEMENTS.items():
                entry: dict[str, Any] = {"function": label, "mode": mode, "placement": placement}
                try:
                    mesh = _mesh(
                        "explicit" if mode == "explicit" else "auto", MESH_SHAPE, ("data", "model")
                    )
                    ctx = jax.set_mesh(mesh) if mode != "classic" else _nullcontext()
                    with ctx:
                        x = jax.device_put(host_x, NamedSharding(mesh, P(*spec)))
                        params = jax.device_put(host_params, NamedSharding(mesh, P()))
                        for impl, act in acts.items():
                            seen, compiled = _compile_watching_rows(_block_grad(act), params, x)
                            entry[f"collectives_{impl}"] = sorted(
                                c["op"] for c in collectives(compiled.as_text())
                            )
                            if impl == "jrelu":
                                entry["rows_view"] = seen
                                got = compiled(params, x)
                    entry["max_grad_rel_diff"] = max(
                        float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))
                        for a, b in zip(_leaves(got), _leaves(ref), strict=True)
                    )
                    entry["error"] = None
                except Exception as e:
                    entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                report[f"{mode}-{placement}-{label}"] = entry
    return report


def _compile_watching_rows(fn: Callable[..., Any], *args: Any) -> tuple[list[bool], Any]:
    """``jit(fn)`` compiled for ``args``, and what ``jrelu._core.rows_are_free`` answered while it
    was traced (one answer per rule call traced, whatever its rank)."""
    import jax

    from jrelu import _core

    seen: list[bool] = []
    free = _core.rows_are_free

    def watch(x: Any) -> bool:
        seen.append(free(x))
        return seen[-1]

    _core.rows_are_free = watch
    try:
        return seen, jax.jit(fn).lower(*args).compile()
    finally:
        _core.rows_are_free = free


def _block_grad(act: Callable[..., Any]) -> Callable[..., Any]:
    """The gradient of two residual FFN blocks' sum of squares with respect to their parameters."""
    import jax

    from jrelu._testing import memory

    def loss(params: Any, x: Any) -> Any:
        for w1, w2, extra in params:
            x = memory._layer("ffn", act, x, (w1, w2), () if extra is None else (extra,))
        return (x**2).sum()

    return jax.grad(loss)


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()


# Every part of the report, in the order they run; the command line may name a subset.
PARTS = (
    activations,
    prelu_slope,
    training_step,
    set_mesh_cases,
    gated_set_mesh,
    set_mesh_modules,
    shard_map_streams,
    shard_map_vma,
    readme_section,
    blocks_step,
)


def main() -> int:
    import jax

    if jax.device_count() != 8:
        print(json.dumps({"error": f"expected 8 devices, got {jax.device_count()}"}))
        return 1
    import time

    report: dict[str, Any] = {"devices": jax.device_count(), "jax": jax.__version__, "seconds": {}}
    parts = sys.argv[1:]
    for part in PARTS:
        if parts and part.__name__ not in parts:
            continue
        start = time.perf_counter()
        report[part.__name__] = part()
        report["seconds"][part.__name__] = round(time.perf_counter() - start, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
