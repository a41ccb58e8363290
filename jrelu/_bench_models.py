"""``jrelu bench``: backward memory (compiled, nothing run) and training-step time (Flax + optax).

Backward memory is :func:`jrelu._memory.extra_tensors_per_layer`: activation-sized tensors per layer that
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

import jax
import jax.numpy as jnp
import numpy as np

from jrelu import _memory
from jrelu._bench_speed import Case, Plan, Program, sync_jax, time_interleaved
from jrelu._memory import extra_tensors_per_layer

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


def extra_tensors(case: Case, impl: str, model: str) -> float:
    """:func:`jrelu._memory.extra_tensors_per_layer` for ``case`` run as ``impl`` (float32).

    Hyperparameters the Spec requires (prelu's slope) are learned: one value per channel per layer.
    """
    act = case.act(impl)
    key = jax.random.key(0)
    if case.learned:
        (name,) = case.learned  # one learned hyperparameter (prelu's slope)
        width = memory_dims()["width"]
        return extra_tensors_per_layer(
            lambda z, a: act(z, key, **{name: a}),
            model=model,
            learned=np.full((width,), case.spec.params[name], np.float32),
        )
    return extra_tensors_per_layer(lambda z: act(z, key), model=model)


def memory_row(
    case: Case | None, impl: str, model: str, value: float, **extra: Any
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
    row.update(impl=impl, extra_tensors_per_layer=value, dtype="float32", **extra)
    return row


# --------------------------------------------------------------------------------------------------
# Training step
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelDims:
    batch: int
    width: int  # MLP features / CNN channels
    depth: int  # activation layers
    side: int = 0  # CNN image side (0 for the MLP)
    in_channels: int = 3


def train_dims(quick: bool) -> dict[str, ModelDims]:
    if quick:
        return {"mlp": ModelDims(64, 256, 4), "cnn": ModelDims(8, 32, 3, side=32)}
    return {"mlp": ModelDims(256, 512, 4), "cnn": ModelDims(32, 32, 3, side=32)}


def _model(
    kind: str, act: Callable[..., jax.Array], learned: dict[str, float], dims: ModelDims
) -> Any:
    """A Flax linen MLP (Dense layers) or CNN (3x3 convolutions, global mean pool) with ``act`` after
    every layer; ``learned`` hyperparameters get one parameter per channel per layer."""
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array, key: jax.Array) -> jax.Array:
            for i in range(dims.depth):
                if kind == "mlp":
                    x = nn.Dense(dims.width)(x)
                else:
                    x = nn.Conv(dims.width, (3, 3))(x)
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
def _base_params(kind: str, dims: ModelDims, seed: int) -> Any:
    """The layers' initial parameters, shared by every case and impl (one compiled init per model)."""
    x, _, kp, ka = _data(kind, dims, seed)
    return jax.jit(_model(kind, lambda x, key: x, {}, dims).init)(kp, x, ka)


def train_program(case: Case, impl: str, kind: str, dims: ModelDims, seed: int = 0) -> Program:
    """The jitted training step (loss, grad, adam update) of ``kind`` with ``case`` as ``impl``, lowered
    for the same initial parameters for every case and impl."""
    import optax

    learned = {p: float(case.spec.params[p]) for p in case.learned}
    net = _model(kind, case.act(impl), learned, dims)
    x, labels, _, ka = _data(kind, dims, seed)
    base = _base_params(kind, dims, seed)
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
        )
        rows.append(row)
    return rows
