"""``jrelu bench``'s ``blocks`` section: the activations where transformers use them.

A pre-LN transformer block (causal self-attention, then the FFN ``x + act(norm(x) @ W1) @ W2``, hidden
``4 * d_model``; :func:`jrelu.testing.extra_tensors_detail`'s ``"transformer"`` model) on ``(batch, seq,
d_model)`` activations, at each ``d_model`` of the run's plan, jrelu against its peer:

* **memory** (compile only): hidden-sized tensors a block keeps for the backward pass beyond the identity
  block (the slope over two depths of XLA's ``memory_analysis()``), and XLA's ``cost_analysis()`` bytes
  accessed and flops of the whole step -- a device-independent proxy where memory traffic bounds the
  step, as on accelerators;
* **time**: the median of interleaved repeats of one SGD step (loss, gradient, update; parameters carried
  from step to step), with the same bytes and flops of the timed program.

The functions are those a transformer's FFN can use: every function of the run but alpha_dropout (a
dropout, not an activation); rrelu with a key (training); prelu's slope learned, shared and one per
hidden unit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu._cli.bench.models import time_sgd_steps
from jrelu._cli.bench.speed import Case, Plan, Program
from jrelu._testing import memory as _memory

MODEL = "transformer"
# rrelu's key in training: one for every block and step (the cost is the same)
KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class BlockDims:
    d_model: int
    batch: int
    seq: int
    # the memory slope's depths (exact at these sizes: tests/test_blocks.py)
    depths: tuple[int, int] = (2, 4)
    depth: int = 2  # blocks in the timed step
    model: str = MODEL  # or "ffn": the FFN block alone (benchmarks/blocks_study.py)

    @property
    def hidden(self) -> int:
        return _memory._FFN_MULT * self.d_model


def block_dims(mode: str) -> list[BlockDims]:
    """The block sizes of a run mode: ``--full`` d_model 64, 256 and 1024 (1024 tokens; 256 at 1024, so
    that a step stays near a third of a second on 2 CPU cores), the default run 64 (with 256 the
    section took 143 s of a 333 s run on 2 CPU cores; with 64 alone 68 s of 272 s), ``--quick`` one
    small block (256 tokens: the smallest at which the memory figures are exact, as in the tests)."""
    if mode == "quick":
        return [BlockDims(64, 4, 64, depth=1)]
    if mode == "full":
        return [BlockDims(64, 8, 128), BlockDims(256, 8, 128), BlockDims(1024, 2, 128)]
    return [BlockDims(64, 8, 128)]


@dataclasses.dataclass(frozen=True)
class BlockCase:
    """One function as a transformer trains it: a bench :class:`Case` and, for a slope the Spec requires
    (prelu), whether it is learned ``"shared"`` or ``"per-channel"``."""

    case: Case
    slope: str = ""

    @property
    def label(self) -> str:
        return f"{self.case.label}[{self.slope}]" if self.slope else self.case.label

    @property
    def gated(self) -> bool:
        return self.case.spec.gated

    def learned(self, dims: BlockDims) -> np.ndarray | None:
        if not self.slope:
            return None
        (name,) = self.case.learned
        shape = () if self.slope == "shared" else (dims.hidden,)
        return np.full(shape, self.case.spec.params[name], np.float32)

    def act(self, impl: str) -> Any:
        """``act(z)``, or ``act(z, slope)`` for a learned slope."""
        act = self.case.act(impl)
        if self.slope:
            (name,) = self.case.learned
            return lambda z, a: act(z, KEY, **{name: a})
        return lambda z: act(z, KEY)


def block_cases(cases: list[Case], mode: str = "default") -> list[BlockCase]:
    """The run's cases as a transformer's FFN uses them (module docstring); ``--quick`` learns prelu's
    slope per channel only."""
    out = []
    for c in cases:
        if c.spec.needs_key or (c.spec.random and not c.key):
            continue  # alpha_dropout; rrelu without a key is leaky_relu
        if c.learned:
            out += [BlockCase(c, s) for s in ("shared", "per-channel")[mode == "quick" :]]
        else:
            out.append(BlockCase(c))
    return out


def _row(bc: BlockCase, impl: str, dims: BlockDims, dtype: str, kind: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "label": bc.label,
        "fn": bc.case.fn,
        "impl": impl,
        "dtype": dtype,
        "d_model": dims.d_model,
        "kind": kind,
    }
    if impl == "jax.nn":
        row["peer"] = bc.case.peer_name
    row["dims"] = {**dataclasses.asdict(dims), "hidden": dims.hidden}
    return row


def memory_row(bc: BlockCase, impl: str, dims: BlockDims, dtype: str) -> dict[str, Any]:
    """Hidden-sized tensors a block keeps beyond the identity block, with the step's bytes and flops."""
    detail = _memory.extra_tensors_detail(
        bc.act(impl),
        model=dims.model,
        batch=dims.batch,
        seq=dims.seq,
        width=dims.d_model,
        depths=dims.depths,
        dtype=jnp.dtype(dtype),
        learned=bc.learned(dims),
        gated=bc.gated,
    )
    row = _row(bc, impl, dims, dtype, "memory")
    row.update(detail)
    return row


def step_program(
    bc: BlockCase, impl: str, dims: BlockDims, dtype: str, seed: int = 0, act: Any = None
) -> Program:
    """The jitted SGD step (loss, gradient, update) of ``dims.depth`` blocks, lowered for real arrays;
    ``act`` replaces ``bc.act(impl)`` (``benchmarks/floor_tradeoff.py``: the rule keeping ``x``)."""
    xshape, layer, _ = _memory._shapes(dims.model, dims.batch, dims.seq, dims.d_model, bc.gated)
    keys = iter(jax.random.split(jax.random.key(seed), 16 * dims.depth + 1))

    def init(shape: Any) -> Any:  # a matrix, or the attention's list of four
        if isinstance(shape, list):
            return [init(s) for s in shape]
        return (jax.random.normal(next(keys), shape) / np.sqrt(shape[0])).astype(dtype)

    learned = bc.learned(dims)
    params = [
        [*map(init, layer), None if learned is None else jnp.asarray(learned, dtype)]
        for _ in range(dims.depth)
    ]
    x = jax.random.normal(next(keys), xshape).astype(dtype)
    act = bc.act(impl) if act is None else act

    def loss(params: list, x: jax.Array) -> jax.Array:
        for *layer, extra in params:
            x = _memory._layer(dims.model, act, x, tuple(layer), () if extra is None else (extra,))
        return jnp.mean(x.astype(jnp.float32) ** 2)

    def step(params: list, x: jax.Array) -> tuple[list, jax.Array]:
        value, grads = jax.value_and_grad(loss)(params, x)
        lr = jnp.asarray(1e-2, dtype)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), value

    return Program.lower(jax.jit(step), params, x)


def time_rows(
    bc: BlockCase, dims: BlockDims, dtype: str, programs: dict[str, Program], plan: Plan
) -> list[dict[str, Any]]:
    """Median seconds of one block training step for each impl (timed interleaved, params carried)."""
    return [
        {**_row(bc, impl, dims, dtype, "time"), **measured}
        for impl, measured in time_sgd_steps(programs, plan).items()
    ]
