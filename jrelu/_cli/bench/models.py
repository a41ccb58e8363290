"""``jrelu bench``: backward memory (compiled, nothing run) and training-step time (Flax + optax).

Backward memory is :func:`jrelu.testing.extra_tensors_per_layer`: activation-sized tensors per layer that
a compiled ``jit(grad(loss))`` keeps beyond the identity network, whose own figure (the floor) is reported
too. Hyperparameters a :class:`~jrelu._registry.Spec` requires (prelu's slope) are learned, one value per
channel, here and in the training step: a PReLU with a fixed slope is a leaky ReLU, measured already.

The training step is ``jit`` of loss, gradient and an ``optax.adam`` update for a Flax linen MLP and a
small CNN, with the activation swapped; state is threaded through the timed steps as in training.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jrelu import _registry
from jrelu._cli.bench.speed import Case, Plan, Program, sync_jax, time_interleaved
from jrelu._testing import memory as _memory
from jrelu._testing.memory import cost, extra_tensors_detail, extra_tensors_per_layer, temp_size

MODELS = ("mlp", "cnn")

# --------------------------------------------------------------------------------------------------
# Backward memory
# --------------------------------------------------------------------------------------------------


def memory_dims() -> dict[str, Any]:
    """The model sizes :func:`extra_tensors_per_layer` uses by default (reported in the JSON)."""
    params = inspect.signature(extra_tensors_per_layer).parameters
    out = {k: params[k].default for k in ("batch", "width", "depths")}
    out["depths"] = list(out["depths"])
    out["cnn_side"] = getattr(_memory, "_SIDE", 16)
    return out


def floor_tensors_per_layer(model: str) -> float:
    """What the identity network itself keeps per layer, in float32 activation-sized tensors: the
    floor that the extra figures are counted from (0 for the MLP; 1 for the CNN on XLA:CPU)."""
    dims = memory_dims()
    size = dims["batch"] * dims["width"] * 4 * (dims["cnn_side"] ** 2 if model == "cnn" else 1)
    # The same compiled measurement extra_tensors_per_layer subtracts (and caches).
    grow = _memory._identity_slope(
        model, dims["batch"], dims["width"], tuple(dims["depths"]), "float32"
    )
    return grow / size


def extra_tensors(case: Case, impl: str, model: str) -> dict[str, Any]:
    """:func:`jrelu.testing.extra_tensors_detail` for ``case`` run as ``impl`` (float32): the figure
    and the raw temporary bytes it comes from.

    Hyperparameters the Spec requires (prelu's slope) are learned: one value per channel per layer.
    """
    act = case.act(impl)
    key = jax.random.key(0)
    if case.learned:
        (name,) = case.learned  # one learned hyperparameter (prelu's slope)
        width = memory_dims()["width"]
        return extra_tensors_detail(
            lambda z, a: act(z, key, **{name: a}),
            model=model,
            learned=np.full((width,), case.spec.params[name], np.float32),
        )
    return extra_tensors_detail(lambda z: act(z, key), model=model, gated=case.spec.gated)


def relu_probe(model: str = "mlp") -> dict[str, Any]:
    """``jax.nn.relu``'s figure, which must be 1 (it keeps its input for the backward pass): where it
    measures 0 the backend's ``memory_analysis()`` does not see the activations, and every memory
    figure of the run is vacuous."""
    return extra_tensors_detail(jax.nn.relu, model=model)


def memory_available(probe: dict[str, Any]) -> tuple[bool, str]:
    """Whether the memory figures of a run mean something, judged by :func:`relu_probe`'s result."""
    if not probe["available"]:
        return False, "memory_analysis() reports no temporary bytes on this backend"
    if probe["extra_tensors_per_layer"] < 0.5:
        return False, (
            f"jax.nn.relu measures {probe['extra_tensors_per_layer']:.3f} extra tensors per layer "
            "(it keeps its input: 1): memory_analysis() does not see the activations here"
        )
    return True, ""


def memory_row(
    case: Case | None, impl: str, model: str, detail: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model}
    if case is None:
        row.update(fn="identity", label="identity", key=False)
    else:
        row.update(fn=case.fn, label=case.label, key=case.key)
        if impl == "jax.nn":
            row["peer"] = case.peer_name
        if case.learned:
            row["learned"] = list(case.learned)
    row.update(impl=impl, **detail, dtype="float32", **extra)
    return row


# --------------------------------------------------------------------------------------------------
# Training step
# --------------------------------------------------------------------------------------------------


def program_cost(p: Program) -> dict[str, float]:
    """XLA's bytes accessed and flops of a compiled program (-1 where the backend gives none): a
    device-independent proxy for the step's cost where memory traffic bounds it (accelerators)."""
    c = cost(p.compiled)
    return {"bytes_accessed": c["bytes accessed"], "flops": c["flops"]}


@dataclasses.dataclass(frozen=True)
class ModelDims:
    batch: int
    width: int  # MLP features / CNN channels
    depth: int  # activation layers
    side: int = 0  # CNN image side (0 for the MLP)
    in_channels: int = 3


def train_dims(mode: str | bool) -> dict[str, ModelDims]:
    """The timed training steps' models for a run mode (``True``: ``"quick"``, ``False``: ``"full"``)."""
    mode = ("quick" if mode else "full") if isinstance(mode, bool) else mode
    if mode == "quick":
        return {"mlp": ModelDims(64, 256, 4), "cnn": ModelDims(8, 32, 3, side=32)}
    if mode == "default":
        return {"mlp": ModelDims(128, 512, 4), "cnn": ModelDims(16, 32, 3, side=32)}
    return {"mlp": ModelDims(256, 512, 4), "cnn": ModelDims(32, 32, 3, side=32)}


def _model(
    kind: str,
    act: Callable[..., jax.Array],
    learned: dict[str, float],
    dims: ModelDims,
    gated: bool = False,
) -> Any:
    """A Flax linen MLP (Dense layers) or CNN (3x3 convolutions, global mean pool) with ``act`` after
    every layer; ``learned`` hyperparameters get one parameter per channel per layer."""

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array, key: jax.Array) -> jax.Array:
            out = 2 * dims.width if gated else dims.width  # a gated act halves it back
            for i in range(dims.depth):
                if kind == "mlp":
                    x = nn.Dense(out)(x)
                else:
                    x = nn.Conv(out, (3, 3))(x)
                extra = {
                    p: self.param(f"{p}_{i}", nn.initializers.constant(v), (dims.width,))
                    for p, v in learned.items()
                }
                x = act(x, jax.random.fold_in(key, i), **extra)
            if kind == "cnn":
                x = x.mean(axis=(1, 2))
            return nn.Dense(10)(x)

    return Net()


def _data(
    kind: str, dims: ModelDims, seed: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    kx, kl, kp, ka = jax.random.split(jax.random.key(seed), 4)
    if kind == "mlp":
        xshape: tuple[int, ...] = (dims.batch, dims.width)
    else:
        xshape = (dims.batch, dims.side, dims.side, dims.in_channels)
    x = jax.random.normal(kx, xshape, jnp.float32)
    labels = jax.random.randint(kl, (dims.batch,), 0, 10)
    return x, labels, kp, ka


@functools.lru_cache(maxsize=8)
def _base_params(kind: str, dims: ModelDims, seed: int, gated: bool = False) -> Any:
    """The layers' initial parameters, shared by every case and impl (one compiled init per model;
    a gated activation's layers project to twice the width)."""
    x, _, kp, ka = _data(kind, dims, seed)
    ident = (lambda x, key: x[..., : x.shape[-1] // 2]) if gated else (lambda x, key: x)
    return jax.jit(_model(kind, ident, {}, dims, gated).init)(kp, x, ka)


def train_program(case: Case, impl: str, kind: str, dims: ModelDims, seed: int = 0) -> Program:
    """The jitted training step (loss, grad, adam update) of ``kind`` with ``case`` as ``impl``, lowered
    for the same initial parameters for every case and impl."""
    learned = {p: float(case.spec.params[p]) for p in case.learned}
    net = _model(kind, case.act(impl), learned, dims, case.spec.gated)
    x, labels, _, ka = _data(kind, dims, seed)
    base = _base_params(kind, dims, seed, case.spec.gated)
    params = {"params": dict(base["params"])}
    for p, v in learned.items():
        for i in range(dims.depth):
            params["params"][f"{p}_{i}"] = jnp.full((dims.width,), v, jnp.float32)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    def step(params: Any, opt_state: Any, x: jax.Array, labels: jax.Array, key: jax.Array) -> Any:
        def loss_fn(p: Any) -> jax.Array:
            logits = net.apply(p, x, key)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        # optax's bias correction raises a Python float to an int32 count, which strict dtype
        # promotion refuses: its own code, not the activations', so standard promotion just there.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return Program.lower(jax.jit(step), params, opt_state, x, labels, ka)


def train_step_rows(
    case: Case, kind: str, dims: ModelDims, programs: dict[str, Program], plan: Plan
) -> list[dict[str, Any]]:
    """Median seconds of one training step for each impl in ``programs`` (timed interleaved);
    parameters and optimiser state are carried from step to step, as in training."""
    calls = []
    for p in programs.values():
        params, opt_state, x, labels, key = p.args
        state = [params, opt_state]

        def call(
            p: Program = p, state: list = state, x: Any = x, labels: Any = labels, key: Any = key
        ) -> Any:
            state[0], state[1], loss = p.fn(state[0], state[1], x, labels, key)
            return loss

        calls.append(call)
    timings = time_interleaved(calls, sync_jax, plan)
    rows = []
    for (impl, p), timing, call in zip(programs.items(), timings, calls, strict=True):
        loss = float(call())
        row: dict[str, Any] = {
            "model": kind,
            "fn": case.fn,
            "label": case.label,
            "key": case.key,
            "impl": impl,
        }
        if impl == "jax.nn":
            row["peer"] = case.peer_name
        if case.learned:
            row["learned"] = list(case.learned)
        row.update(timing.as_dict())
        row.update(
            compile_seconds=p.compile_seconds,
            dims=dataclasses.asdict(dims),
            loss_finite=bool(np.isfinite(loss)),
            **program_cost(p),
        )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# Transformer FFN: training-step memory and time
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FFNDims:
    batch: int  # tokens
    d_model: int
    hidden: int  # the activation's output width (a gated one is fed 2 * hidden)
    depths: tuple[int, int]  # the two depths whose difference gives the memory slope
    depth: int  # layers of the timed step


def ffn_dims(mode: str | bool) -> FFNDims:
    """The FFN section's sizes for a run mode (``True``: ``"quick"``, ``False``: ``"full"``)."""
    mode = ("quick" if mode else "full") if isinstance(mode, bool) else mode
    if mode == "quick":
        return FFNDims(64, 128, 512, (2, 4), 2)
    if (
        mode == "default"
    ):  # the FFN memory measurement's depths; a timed step of 2 layers compiles faster
        # (depths (2, 4) instead gave reglu bfloat16 0.25 tensors, not 0.125: too shallow for a slope)
        return FFNDims(256, 256, 1024, (4, 8), 2)
    return FFNDims(256, 256, 1024, (4, 8), 4)  # the FFN memory measurement, 4 timed layers


def ffn_specs(names: Any = None) -> list[Any]:
    """The FFN activations of the table (family ``"transformer"``: squared_relu, reglu)."""
    return [
        s
        for s in _registry.FUNCTIONS.values()
        if s.family == "transformer" and (names is None or s.name in names)
    ]


def ffn_peer_text(spec: Any) -> str:
    return "a * jax.nn.relu(b)" if spec.gated else "jnp.square(jax.nn.relu(h))"


def _ffn_act(spec: Any, impl: str) -> Callable[[jax.Array], jax.Array]:
    if (
        impl == "identity"
    ):  # the floor: nothing kept for an activation (a gated one: the value half)
        return (lambda h: h[..., : h.shape[-1] // 2]) if spec.gated else (lambda h: h)
    return spec.fn if impl == "jrelu" else spec.baseline


def _ffn_loss(
    act: Callable[[jax.Array], jax.Array], mean: bool = False
) -> Callable[..., jax.Array]:
    def loss(params: list, x: jax.Array) -> jax.Array:
        for w1, w2 in params:
            x = x + act(x @ w1) @ w2  # the residual FFN block
        sq = x.astype(jnp.float32) ** 2
        # the timed step uses the mean, so that repeated SGD steps stay finite
        return jnp.mean(sq) if mean else jnp.sum(sq)

    return loss


def _ffn_shapes(spec: Any, dims: FFNDims, depth: int, dtype: str) -> tuple[list, Any]:
    s = jax.ShapeDtypeStruct
    width = 2 * dims.hidden if spec.gated else dims.hidden
    params = [
        (s((dims.d_model, width), dtype), s((dims.hidden, dims.d_model), dtype))
        for _ in range(depth)
    ]
    return params, s((dims.batch, dims.d_model), dtype)


def ffn_temp_bytes(spec: Any, impl: str, dims: FFNDims, depth: int, dtype: str) -> int:
    """XLA's temporary allocation of ``jit(grad(loss))`` for ``depth`` residual FFN blocks."""
    params, x = _ffn_shapes(spec, dims, depth, dtype)
    compiled = jax.jit(jax.grad(_ffn_loss(_ffn_act(spec, impl)))).lower(params, x).compile()
    return temp_size(compiled)


@functools.lru_cache(maxsize=32)
def _ffn_floor(name: str, dims: FFNDims, depth: int, dtype: str) -> int:
    return ffn_temp_bytes(
        _registry.FUNCTIONS[name], "identity", dims, depth, dtype
    )  # the same for both impls


def ffn_memory_row(spec: Any, impl: str, dims: FFNDims, dtype: str) -> dict[str, Any]:
    """Hidden-sized tensors per layer kept beyond the identity FFN (slope over ``dims.depths``)."""
    lo, hi = dims.depths
    temp = {d: ffn_temp_bytes(spec, impl, dims, d, dtype) for d in (lo, hi)}
    floor = {d: _ffn_floor(spec.name, dims, d, dtype) for d in (lo, hi)}
    size = dims.batch * dims.hidden * np.dtype(jnp.dtype(dtype)).itemsize
    extra = ((temp[hi] - temp[lo]) - (floor[hi] - floor[lo])) / (hi - lo) / size
    row: dict[str, Any] = {"fn": spec.name, "impl": impl, "dtype": dtype, "kind": "memory"}
    if impl == "jax.nn":
        row["peer"] = ffn_peer_text(spec)
    row.update(
        temp_bytes={str(d): v for d, v in temp.items()},
        floor_temp_bytes={str(d): v for d, v in floor.items()},
        extra_hidden_tensors_per_layer=extra,
        tensor_bytes=int(size),
        available=min(*temp.values(), *floor.values()) >= 0
        and max(*temp.values(), *floor.values()) > 0,
        dims=dataclasses.asdict(dims),
    )
    return row


def ffn_step_program(spec: Any, impl: str, dims: FFNDims, dtype: str, seed: int = 0) -> Program:
    """The jitted training step (loss, grad, SGD update) of ``dims.depth`` residual FFN blocks."""
    shapes, xs = _ffn_shapes(spec, dims, dims.depth, dtype)
    keys = iter(jax.random.split(jax.random.key(seed), 2 * len(shapes) + 1))
    params = [
        tuple(
            (jax.random.normal(next(keys), w.shape) / np.sqrt(w.shape[0])).astype(dtype) for w in ws
        )
        for ws in shapes
    ]
    x = jax.random.normal(next(keys), xs.shape).astype(dtype)
    loss_fn = _ffn_loss(_ffn_act(spec, impl), mean=True)

    def step(params: list, x: jax.Array) -> tuple[list, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        lr = jnp.asarray(1e-2, dtype)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

    return Program.lower(jax.jit(step), params, x)


def time_sgd_steps(programs: dict[str, Program], plan: Plan) -> dict[str, dict[str, Any]]:
    """Per impl, the timing of ``params, loss = p.fn(params, x)`` (timed interleaved, the parameters
    carried from step to step as in training), with the compile time, whether a further step's loss
    is finite, and XLA's bytes and flops of the program."""
    calls = []
    for p in programs.values():
        state = [p.args[0]]

        def call(p: Program = p, state: list = state) -> Any:
            state[0], loss = p.fn(state[0], p.args[1])
            return loss

        calls.append(call)
    timings = time_interleaved(calls, sync_jax, plan)
    return {
        impl: {
            **timing.as_dict(),
            "compile_seconds": p.compile_seconds,
            "loss_finite": bool(np.isfinite(float(call()))),
            **program_cost(p),
        }
        for (impl, p), timing, call in zip(programs.items(), timings, calls, strict=True)
    }


def ffn_time_rows(
    spec: Any, dims: FFNDims, dtype: str, programs: dict[str, Program], plan: Plan
) -> list[dict[str, Any]]:
    """Median seconds of one FFN training step for each impl (timed interleaved, params carried)."""
    rows = []
    for impl, measured in time_sgd_steps(programs, plan).items():
        row: dict[str, Any] = {"fn": spec.name, "impl": impl, "dtype": dtype, "kind": "time"}
        if impl == "jax.nn":
            row["peer"] = ffn_peer_text(spec)
        rows.append({**row, **measured, "dims": dataclasses.asdict(dims)})
    return rows
