"""09 - Does ReLU's sparsity save compute? An exact sparse FFN path, measured against the dense one.

The article's third argument for ReLU is sparse activation: negative inputs give exactly 0, so only part
of the units are active. 08 measures it in a small transformer (two thirds of the FFN's hidden units are
0 on held-out text); this asks whether those zeros can be turned into saved work. A zero activation
multiplies a row of the FFN's down projection that then need not be read: ``jrelu.sparse`` gathers only
the rows of the units active anywhere in the batch, exactly (the dense result up to summation order; a
dense fallback under ``lax.cond`` when more units are active than a static capacity). On the PyTorch
side this pays at high sparsity (ProSparse: 88-89% FFN sparsity and up to 4.5x faster inference after
an L1-style regulariser; TEAL, Deja Vu; TwELL: L1 to 95-99%). This example trains 08's
character-level transformer (the same model, data and optimiser; the model is trained here because 08
keeps no weights) with ReLU and squared-ReLU FFNs, with and without an L1 penalty on the FFN
activation (``loss + l1 * sum over layers of mean |act(h)|``), and measures:

* the held-out loss the penalty costs and the share of exact zeros per token (``jrelu.diagnostics``);
* the share of units active for at least one of B tokens decoded together (the union the sparse path
  must read: B held-out sequences at the same position), for B = 1, 8, 64;
* the real trained FFN (the middle block's, first seed) on held-out tokens: its down projection and
  the whole FFN, ``jrelu.sparse`` against the dense ``jnp`` computation, at B tokens, with the
  capacity that held-out text needs at that batch size;
* decoding: B held-out sequences fed token by token through a key-value cache (teacher-forced, so
  both paths see the same tokens), tokens/s with the sparse FFN against the dense one, and the
  largest difference between their logits;
* the same union sparsity at a 16x wider FFN (d_model 1024, hidden 4096): the down projection alone.

Every timing interleaves the sparse and the dense program and reports the median of the repeats with
quartiles, wall time and CPU time (``time.process_time``, all threads).

Run:  python examples/09_sparse_ffn.py [--quick] [--out DIR]
      python examples/09_sparse_ffn.py --summarise DIR   (summary.md again from DIR/results.json)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pydoc_data.topics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx
from matplotlib.figure import Figure

import jrelu
from jrelu import diagnostics, sparse

NAME = "09_sparse_ffn"
FIGURE = "sparse_ffn.png"  # what --out writes besides results.json and summary.md
QUICK = "relu with and without L1, one seed, one block, B = 8 (seconds)"  # what --quick does
# variant -> (the FFN activation, the weight of the L1 penalty on its output). 0.1 and 0.3: a probe of
# 400 steps (one seed) put relu's exact zeros per held-out token at 89% and 95% with them, about
# ProSparse's 88-89% and the bottom of TwELL's 95-99%.
VARIANTS: dict[str, tuple[str, float]] = {
    "relu": ("relu", 0.0),
    "relu + L1 0.1": ("relu", 0.1),
    "relu + L1 0.3": ("relu", 0.3),
    "squared_relu": ("squared_relu", 0.0),
    "squared_relu + L1 0.1": ("squared_relu", 0.1),
}
BATCHES = (1, 8, 64)  # tokens decoded together: the union of their active units is what is read


# --------------------------------------------------------------------------------------------------
# Data: the pydoc topics, one character per token (08's data, loaded the same way)
# --------------------------------------------------------------------------------------------------


def text_data(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train / held-out token arrays. Every 10th topic (in sorted order) is held out, whole."""
    topics = pydoc_data.topics.topics
    names = sorted(topics)
    held = [topics[n] for i, n in enumerate(names) if i % 10 == 9]
    train = [topics[n] for i, n in enumerate(names) if i % 10 != 9]
    vocab = sorted(set("".join(topics.values())))
    index = {c: i for i, c in enumerate(vocab)}

    def encode(texts: list[str]) -> np.ndarray:
        return np.array([index[c] for c in "\n\n".join(texts)], dtype=np.int32)

    train_ids, held_ids = encode(train), encode(held)
    window = cfg["context"] + 1  # inputs and next-character targets
    n = min(cfg["eval_windows"], len(held_ids) // window)
    return {
        "train": train_ids,
        "held_out": held_ids[: n * window].reshape(n, window),  # fixed, non-overlapping windows
        "vocab": len(vocab),
        "chars": len("".join(topics.values())),
        "topics": len(names),
        "held_out_topics": len(held),
        "train_chars": len(train_ids),
        "held_out_chars": len(held_ids),
    }


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# The model: 08's transformer, with a key-value cache for decoding and a sparse FFN path
# --------------------------------------------------------------------------------------------------


class Attention(nnx.Module):
    """Causal multi-head self-attention, written out (softmax in float32)."""

    def __init__(self, d: int, heads: int, *, rngs: nnx.Rngs):
        self.heads = heads
        self.qkv = nnx.Linear(d, 3 * d, use_bias=False, rngs=rngs)
        self.out = nnx.Linear(d, d, use_bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads), 3, axis=2)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q[:, :, 0], k[:, :, 0]) / math.sqrt(d // self.heads)
        causal = jnp.tril(jnp.ones((t, t), dtype=bool))[None, None]
        weights = jax.nn.softmax(jnp.where(causal, logits, -1e30), axis=-1)
        return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, v[:, :, 0]).reshape(b, t, d))

    def step(
        self, x: jax.Array, cache: tuple[jax.Array, jax.Array], t: jax.Array
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """One new position ``t`` of each sequence: ``x`` (batch, d); the cache (batch, context,
        heads, d / heads) holds the keys and values of the positions before it."""
        b, d = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, 1, 3, self.heads, d // self.heads), 3, axis=2)
        keys = jax.lax.dynamic_update_slice(cache[0], k[:, :, 0], (0, t, 0, 0))
        values = jax.lax.dynamic_update_slice(cache[1], v[:, :, 0], (0, t, 0, 0))
        logits = jnp.einsum("bhd,bkhd->bhk", q[:, 0, 0], keys) / math.sqrt(d // self.heads)
        seen = (jnp.arange(keys.shape[1]) <= t)[None, None]
        weights = jax.nn.softmax(jnp.where(seen, logits, -1e30), axis=-1)
        return self.out(jnp.einsum("bhk,bkhd->bhd", weights, values).reshape(b, d)), (keys, values)


class FFN(nnx.Module):
    """``down(act(up(x)))`` without biases. With ``capacity`` (a static int) it runs as
    ``jrelu.sparse.ffn`` on the same kernels: the rows of ``down`` whose unit is 0 for every row of
    ``x`` are not read."""

    def __init__(self, d: int, hidden: int, act: str, *, rngs: nnx.Rngs):
        self.act = act
        self.up = nnx.Linear(d, hidden, use_bias=False, rngs=rngs)
        self.down = nnx.Linear(hidden, d, use_bias=False, rngs=rngs)
        self.capacity: int | None = None  # None: the dense product

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        if self.capacity is not None:
            up, down = self.up.kernel[...], self.down.kernel[...]
            return sparse.ffn(x, up, down, self.act, capacity=self.capacity), None
        a = jrelu.get(self.act)(self.up(x))
        return self.down(a), a  # a: the hidden activation whose zeros we count


class Block(nnx.Module):
    def __init__(self, cfg: dict[str, Any], act: str, *, rngs: nnx.Rngs):
        d = cfg["d_model"]
        self.norm1 = nnx.LayerNorm(d, rngs=rngs)
        self.attn = Attention(d, cfg["heads"], rngs=rngs)
        self.norm2 = nnx.LayerNorm(d, rngs=rngs)
        self.ffn = FFN(d, cfg["ffn_mult"] * d, act, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None, jax.Array]:
        x = x + self.attn(self.norm1(x))  # pre-norm residual blocks
        u = self.norm2(x)
        y, a = self.ffn(u)
        return x + y, a, u  # u: the FFN's input

    def step(
        self, x: jax.Array, cache: tuple[jax.Array, jax.Array], t: jax.Array
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        y, cache = self.attn.step(self.norm1(x), cache, t)
        x = x + y
        return x + self.ffn(self.norm2(x))[0], cache


class CharTransformer(nnx.Module):
    """Decoder-only: token + learned position embeddings, ``layers`` pre-norm blocks, a final LayerNorm."""

    def __init__(self, cfg: dict[str, Any], vocab: int, act: str, *, rngs: nnx.Rngs):
        d = cfg["d_model"]
        self.embed = nnx.Embed(vocab, d, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (cfg["context"], d)))
        self.blocks = nnx.List([Block(cfg, act, rngs=rngs) for _ in range(cfg["layers"])])
        self.norm = nnx.LayerNorm(d, rngs=rngs)
        self.head = nnx.Linear(d, vocab, use_bias=False, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, list[Any], list[jax.Array]]:
        """Logits ``(batch, time, vocab)``, every block's FFN hidden activation and FFN input (unused
        ones are dead code under jit)."""
        x = self.embed(tokens) + self.pos[...][None, : tokens.shape[1]]
        hidden, inputs = [], []
        for block in self.blocks:
            x, a, u = block(x)
            hidden.append(a)
            inputs.append(u)
        return self.head(self.norm(x)), hidden, inputs

    def decode(self, tokens: jax.Array) -> jax.Array:
        """Teacher-forced decoding, one position at a time through a key-value cache: the logits
        ``(time, batch, vocab)`` of ``tokens`` (batch, time), as ``self(tokens)`` computes them at once."""
        b, t = tokens.shape
        d, heads = self.pos.shape[1], self.blocks[0].attn.heads
        zeros = jnp.zeros((b, self.pos.shape[0], heads, d // heads), self.pos.dtype)
        caches = [(zeros, zeros) for _ in self.blocks]

        def body(caches: list, i: jax.Array) -> tuple[list, jax.Array]:
            x = self.embed(tokens[:, i]) + self.pos[...][i][None]
            new = []
            for block, cache in zip(self.blocks, caches, strict=True):
                x, cache = block.step(x, cache, i)
                new.append(cache)
            return new, self.head(self.norm(x))

        return jax.lax.scan(body, caches, jnp.arange(t))[1]


def with_capacities(graphdef: Any, params: Any, capacities: Sequence[int] | None) -> Any:
    """The graph of the same model with each block's FFN capacity set (None: dense)."""
    model = nnx.merge(graphdef, params)
    for block, c in zip(model.blocks, capacities or [None] * len(model.blocks), strict=True):
        block.ffn.capacity = None if c is None else int(c)
    return nnx.split(model, nnx.Param)[0]


# --------------------------------------------------------------------------------------------------
# Training (08's optimiser and schedule; the L1 weight is an argument, so relu and relu + L1 share
# one compiled program)
# --------------------------------------------------------------------------------------------------


def optimizer(cfg: dict[str, Any]) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg["lr"], cfg["warmup"], cfg["steps"], cfg["lr"] / 10
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def init(cfg: dict[str, Any], vocab: int, act: str, seed: int) -> tuple[Any, Any]:
    graphdef, params = nnx.split(CharTransformer(cfg, vocab, act, rngs=nnx.Rngs(seed)), nnx.Param)
    return graphdef, params


def make_step(graphdef: Any, opt: optax.GradientTransformation) -> Callable[..., Any]:
    """One training step of one model: (params, opt_state, windows, l1) -> (params, opt_state, loss)."""

    def loss_fn(params: Any, windows: jax.Array, l1: jax.Array) -> jax.Array:
        logits, hidden, _ = nnx.merge(graphdef, params)(windows[:, :-1])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()
        return ce + l1 * sum(jnp.mean(jnp.abs(a)) for a in hidden)

    def step(
        params: Any, opt_state: Any, windows: jax.Array, l1: jax.Array
    ) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, windows, l1)
        # optax's Adam bias correction raises a float to an int32 step count, which strict dtype
        # promotion (this repository's test setting) refuses: optax's code, so standard promotion here.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def evaluate_fn(graphdef: Any, batches: Sequence[int]) -> Callable[..., Any]:
    """Held-out loss, the share of exact zeros per layer, the union of active units over groups of B
    sequences at the same position (its mean share and its largest count, per layer and B), and the
    middle block's FFN input (for the timings of the trained FFN)."""

    @jax.jit
    @jax.vmap
    def evaluate(params: Any, windows: jax.Array) -> tuple[jax.Array, ...]:
        logits, hidden, inputs = nnx.merge(graphdef, params)(windows[:, :-1])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()
        zeros = jnp.stack([diagnostics.sparsity(a) for a in hidden])
        share, most = [], []
        for a in hidden:  # (windows, time, hidden)
            per_b = []
            for b in batches:
                groups = a.reshape(a.shape[0] // b, b, *a.shape[1:])
                per_b.append(jnp.any(groups != 0, axis=1).sum(-1))  # (groups, time): union counts
            share.append(jnp.stack([c.mean() / a.shape[-1] for c in per_b]))
            most.append(jnp.stack([c.max() for c in per_b]))
        return loss, zeros, jnp.stack(share), jnp.stack(most), inputs[len(inputs) // 2]

    return evaluate


def train(
    variant: str, cfg: dict[str, Any], data: dict[str, Any], compiled: dict
) -> dict[str, Any]:
    """Train ``cfg["seeds"]`` models side by side; held-out loss and zeros every ``eval_every``."""
    act, l1 = VARIANTS[variant]
    seeds = list(range(cfg["seeds"]))
    graphdef, _ = init(cfg, data["vocab"], act, 0)
    params = jax.tree.map(  # the seeds' parameters stacked on a leading axis, for jax.vmap
        lambda *p: jnp.stack(p), *[init(cfg, data["vocab"], act, s)[1] for s in seeds]
    )
    opt = optimizer(cfg)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = jax.vmap(opt.init)(params)
    if act not in compiled:  # one program per activation, whatever the L1 weight
        step = make_step(graphdef, opt)

        @jax.jit
        def chunk(params: Any, opt_state: Any, windows: jax.Array, l1: jax.Array) -> Any:
            def body(carry: Any, w: jax.Array) -> tuple[Any, jax.Array]:
                p, o, loss = jax.vmap(step, in_axes=(0, 0, 0, None))(*carry, w, l1)
                return (p, o), loss

            (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), windows)
            return params, opt_state, losses

        compiled[act] = (chunk, evaluate_fn(graphdef, cfg["batches"]))
    chunk, evaluate = compiled[act]
    held = jnp.broadcast_to(data["held_out"], (len(seeds), *data["held_out"].shape))
    rng = np.random.default_rng(cfg["seed"])
    window = cfg["context"] + 1
    offsets = np.arange(window)
    history, done = [], 0
    start = time.perf_counter()
    while True:
        loss, zeros, share, most, inputs = evaluate(params, held)
        loss, zeros, share, most = (np.asarray(v) for v in (loss, zeros, share, most))
        history.append({"step": done, "held_out_loss": loss.tolist(), "zeros": zeros.tolist()})
        if done == cfg["steps"]:
            break
        n = min(cfg["eval_every"], cfg["steps"] - done)
        starts = rng.integers(0, len(data["train"]) - window, size=(n, len(seeds), cfg["batch"]))
        params, opt_state, _ = chunk(
            params, opt_state, data["train"][starts[..., None] + offsets], jnp.float32(l1)
        )
        done += n
    final = history[-1]
    return {
        "activation": act,
        "l1": l1,
        "hidden": cfg["ffn_mult"] * cfg["d_model"],
        "history": history,
        "held_out_loss": final["held_out_loss"],
        "held_out_loss_mean": float(np.mean(final["held_out_loss"])),
        "held_out_loss_std": float(np.std(final["held_out_loss"])),
        "zeros_init": np.mean(history[0]["zeros"], 0).tolist(),  # per layer, mean over seeds
        "zeros_final": np.mean(final["zeros"], 0).tolist(),
        # per layer and B: the union's mean share of active units (mean over seeds), and the
        # largest union count of the first seed (the capacity its sparse path is given)
        "union_active": np.mean(share, 0).tolist(),
        "union_max_count": most[0].tolist(),
        "seconds": round(time.perf_counter() - start, 1),
        "_params": jax.tree.map(lambda p: p[0], params),  # the first seed's model, for the timings
        "_graphdef": graphdef,
        "_inputs": inputs[0],  # the middle block's FFN input on the held-out windows, first seed
    }


# --------------------------------------------------------------------------------------------------
# Timing: the sparse and the dense program interleaved, wall and CPU time
# --------------------------------------------------------------------------------------------------


def timed(calls: dict[str, Callable[[], Any]], cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Median and quartiles of the milliseconds per call, wall and CPU (all threads), of each call.

    The calls take turns (A B, then B A, ...), so that a slow spell of the shared machine falls on
    both; each repeat runs a call as many times as fit in ``cfg["time_target"]`` seconds."""
    inner = {}
    for name, call in calls.items():
        for _ in range(cfg["time_warmup"]):
            jax.block_until_ready(call())
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        inner[name] = max(1, math.ceil(cfg["time_target"] / max(time.perf_counter() - t0, 1e-6)))
    wall: dict[str, list[float]] = {n: [] for n in calls}
    cpu: dict[str, list[float]] = {n: [] for n in calls}
    for r in range(cfg["time_repeats"]):
        for name in list(calls) if r % 2 == 0 else list(calls)[::-1]:
            call, n = calls[name], inner[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                jax.block_until_ready(call())
            wall[name].append(1e3 * (time.perf_counter() - t0) / n)
            cpu[name].append(1e3 * (time.process_time() - c0) / n)
    out = {}
    for name in calls:
        w, c = np.percentile(wall[name], [25, 50, 75]), np.percentile(cpu[name], [25, 50, 75])
        out[name] = {
            "ms": float(w[1]),
            "ms_quartiles": [float(w[0]), float(w[2])],
            "cpu_ms": float(c[1]),
            "cpu_ms_quartiles": [float(c[0]), float(c[2])],
            "calls_per_repeat": inner[name],
        }
    return out


def compare(pair: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The pair's timings and the sparse / dense ratios; "faster" or "slower" only where the
    quartiles do not overlap (else "parity")."""
    s, d = pair["sparse"], pair["dense"]
    if s["ms_quartiles"][1] < d["ms_quartiles"][0]:
        verdict = "faster"
    elif s["ms_quartiles"][0] > d["ms_quartiles"][1]:
        verdict = "slower"
    else:
        verdict = "parity"
    return {
        "dense": d,
        "sparse": s,
        "ratio": s["ms"] / d["ms"],
        "cpu_ratio": s["cpu_ms"] / d["cpu_ms"],
        "verdict": verdict,
    }


def max_diff(a: jax.Array, b: jax.Array) -> float:
    return float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))


def bound(a: jax.Array, w: jax.Array, m: int) -> float:
    """What jrelu.sparse promises for ``a @ w`` with ``m`` units kept: the two summation orders differ
    by at most ``2 gamma(m + 1) sum_k |a_k| |w_kj|``, ``gamma(n) = n u / (1 - n u)``, ``u = 2^-24``."""
    g = (m + 1) * 2.0**-24 / (1 - (m + 1) * 2.0**-24)
    return 2 * g * float(jnp.max(jnp.abs(a) @ jnp.abs(w)))


def real_ffn(
    res: dict[str, Any], cfg: dict[str, Any], data: dict[str, Any]
) -> list[dict[str, Any]]:
    """The middle block's trained FFN (first seed) on B held-out tokens at one position: its down
    projection and the whole FFN, sparse (the capacity held-out text needs at B) against dense."""
    act, layer = res["activation"], cfg["layers"] // 2
    graphdef, params = res["_graphdef"], res["_params"]
    model, inputs = nnx.merge(graphdef, params), res["_inputs"]
    w_up = model.blocks[layer].ffn.up.kernel[...]
    w_down = model.blocks[layer].ffn.down.kernel[...]
    fn = jrelu.get(act)
    rows = []
    for i, b in enumerate(cfg["batches"]):
        x = inputs[:b, cfg["context"] // 2]  # b sequences at the same position
        h = x @ w_up
        cap = max(1, res["union_max_count"][layer][i])
        progs = {
            "down": {
                "dense": jax.jit(lambda h, w: fn(h) @ w),
                "sparse": jax.jit(
                    lambda h, w, c=cap: sparse.down_projection(h, w, act, capacity=c)
                ),
            },
            "ffn": {
                "dense": jax.jit(lambda x, u, w: fn(x @ u) @ w),
                "sparse": jax.jit(lambda x, u, w, c=cap: sparse.ffn(x, u, w, act, capacity=c)),
            },
        }
        args = {"down": (h, w_down), "ffn": (x, w_up, w_down)}
        for op, pair in progs.items():
            a = args[op]
            diff = max_diff(pair["sparse"](*a), pair["dense"](*a))
            t = timed({k: (lambda f=f, a=a: f(*a)) for k, f in pair.items()}, cfg)
            rows.append(
                {
                    "tokens": b,
                    "op": op,
                    "layer": layer,
                    "capacity": cap,
                    "active": int(sparse.active(h, act).sum()),
                    "max_abs_diff": diff,
                    "bound": bound(fn(h), w_down, cap) if op == "down" else None,
                    **compare(t),
                }
            )
    return rows


def decoding(
    res: dict[str, Any], cfg: dict[str, Any], data: dict[str, Any]
) -> list[dict[str, Any]]:
    """B held-out sequences decoded position by position through the cache, teacher-forced: tokens/s
    with every block's FFN sparse (each block's capacity: what held-out text needs at B) and dense."""
    graphdef, params = res["_graphdef"], res["_params"]
    rows = []
    for i, b in enumerate(cfg["batches"]):
        tokens = jnp.asarray(data["held_out"][:b, :-1])
        caps = [max(1, layer[i]) for layer in res["union_max_count"]]
        progs = {
            name: jax.jit(lambda p, t, g=g: nnx.merge(g, p).decode(t))
            for name, g in (
                ("dense", with_capacities(graphdef, params, None)),
                ("sparse", with_capacities(graphdef, params, caps)),
            )
        }
        logits = {k: f(params, tokens) for k, f in progs.items()}
        t = timed({k: (lambda f=f, x=tokens: f(params, x)) for k, f in progs.items()}, cfg)
        row = {"tokens": b, "capacities": caps, **compare(t)}
        per_call = b * tokens.shape[1]
        row["dense"]["tokens_per_s"] = 1e3 * per_call / row["dense"]["ms"]
        row["sparse"]["tokens_per_s"] = 1e3 * per_call / row["sparse"]["ms"]
        row["max_abs_logit_diff"] = max_diff(logits["sparse"], logits["dense"])
        rows.append(row)
    # the cache reproduces the parallel forward pass (a check of the decoder itself), at the last B
    parallel = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t)[0])(params, tokens)
    rows[-1]["cache_vs_parallel"] = max_diff(logits["dense"], jnp.swapaxes(parallel, 0, 1))
    return rows


def scaled(res: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The down projection of a wider FFN (``cfg["scaled_d"]``, hidden 4x) on B tokens whose union of
    active units has the share the trained FFN's has at B (mean over its layers): synthetic
    pre-activations, every active unit on for at least one token, the others off for all."""
    d, act = cfg["scaled_d"], res["activation"]
    hidden = cfg["ffn_mult"] * d
    rng = np.random.default_rng(cfg["seed"])
    w = jnp.asarray(rng.standard_normal((hidden, d), dtype=np.float32) / math.sqrt(hidden))
    fn = jrelu.get(act)
    rows = []
    for i, b in enumerate(cfg["batches"]):
        share = float(np.mean([layer[i] for layer in res["union_active"]]))
        count = max(1, round(share * hidden))
        on = np.zeros(hidden, bool)
        on[rng.choice(hidden, count, replace=False)] = True
        sign = rng.choice([-1.0, 1.0], size=(b, hidden))
        sign[0] = 1.0  # each active unit is on for the first token at least
        h = np.where(on, sign, -1.0) * np.abs(rng.standard_normal((b, hidden)))
        h = jnp.asarray(h, jnp.float32)
        pair = {
            "dense": jax.jit(lambda h, w: fn(h) @ w),
            "sparse": jax.jit(lambda h, w, c=count: sparse.down_projection(h, w, act, capacity=c)),
        }
        diff = max_diff(pair["sparse"](h, w), pair["dense"](h, w))
        t = timed({k: (lambda f=f, h=h: f(h, w)) for k, f in pair.items()}, cfg)
        rows.append(
            {
                "tokens": b,
                "d_model": d,
                "hidden": hidden,
                "active": count,
                "share": count / hidden,
                "max_abs_diff": diff,
                "bound": bound(fn(h), w, count),
                **compare(t),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


# The helpers every example carries, from parser() to summarise(): identical copies, so that one
# file is one experiment (examples/README.md says why; tests/test_examples.py checks they agree).


def parser() -> argparse.ArgumentParser:
    """The command line every example shares: --quick, --out DIR, --summarise DIR."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=QUICK)
    p.add_argument("--out", metavar="DIR", help=f"write {FIGURE}, results.json and summary.md here")
    p.add_argument(
        "--summarise",
        metavar="DIR",
        help="run nothing: rewrite DIR/summary.md from the DIR/results.json of an earlier run",
    )
    return p


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain-text table with aligned columns, for the terminal."""
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, for summary.md."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def pct(v: float) -> str:
    """A share in percent: 37%, 0.4%, <0.1%."""
    if v == 0 or v >= 0.01:
        return f"{100 * v:.0f}%"
    return f"{100 * v:.1f}%" if v >= 0.001 else "<0.1%"


def save(directory: str, out: dict[str, Any], figure: Figure, dpi: int = 90) -> None:
    """Write results.json and the figure into ``directory``, then summary.md from that results.json."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "results.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    figure.savefig(os.path.join(directory, FIGURE), dpi=dpi)
    print(f"\nwrote {directory}/results.json and {FIGURE}")
    summarise(directory)


def summarise(directory: str) -> dict[str, Any]:
    """Write ``directory/summary.md`` from ``directory/results.json`` alone; return those results.

    Its links are relative to ``directory``; ``examples/update_readme.py`` collects the summaries.
    """
    with open(os.path.join(directory, "results.json")) as fh:
        results = json.load(fh)
    script = os.path.relpath(os.path.abspath(__file__), os.path.abspath(directory))
    with open(os.path.join(directory, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write(summary(results, script.replace(os.sep, "/")))
    print(f"wrote {directory}/summary.md")
    return results


def draw(d: dict[str, Any]) -> Figure:
    res, cfg = d["results"], d["config"]
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    ax_l, ax_u, ax_t = fig.subplots(1, 3)
    for i, (name, r) in enumerate(res.items()):
        z = float(np.mean(r["zeros_final"]))
        ax_l.errorbar(
            z, r["held_out_loss_mean"], yerr=r["held_out_loss_std"], fmt="o", color=f"C{i}"
        )
        ax_l.annotate(
            name,
            (z, r["held_out_loss_mean"]),
            fontsize=8,
            xytext=(5, 3),
            textcoords="offset points",
        )
        share = np.mean(r["union_active"], 0)  # per B, mean over layers
        ax_u.plot(cfg["batches"], 1 - share, "o-", color=f"C{i}", label=name)
    for i, name in enumerate(res):
        for key, style, what in (
            ("decode", "-", "decoding"),
            ("real_ffn", "--", "real FFN"),
            ("scaled", ":", f"d={cfg['scaled_d']} down"),
        ):
            rows = [
                r for r in d[key].get(name, []) if r.get("op", "ffn") == "ffn" or key != "real_ffn"
            ]
            if rows:
                ax_t.plot(
                    [r["tokens"] for r in rows],
                    [r["ratio"] for r in rows],
                    style,
                    marker="o",
                    color=f"C{i}",
                    label=f"{name}: {what}",
                )
    ax_l.set_xlabel("share of FFN activations exactly 0 per token (held out, mean over layers)")
    ax_l.set_ylabel("held-out loss (nats/char)")
    ax_l.set_title("what sparsity costs (bars: std over seeds)", fontsize=9.5)
    ax_u.set_xscale("log", base=2)
    ax_u.set_xlabel("tokens decoded together (B)")
    ax_u.set_ylabel("units 0 for all B tokens (skippable)")
    ax_u.set_ylim(-0.02, 1.0)
    ax_u.set_title("sparsity left after the union over B tokens", fontsize=9.5)
    ax_t.set_xscale("log", base=2)
    ax_t.axhline(1.0, color="k", lw=0.8)
    ax_t.set_yscale("log")
    ax_t.set_xlabel("tokens (B)")
    ax_t.set_ylabel("time sparse / dense (median; below 1: sparse faster)")
    ax_t.set_title("jrelu.sparse against the dense product (this CPU)", fontsize=9.5)
    for ax in (ax_l, ax_u, ax_t):
        ax.grid(alpha=0.3)
    ax_u.legend(fontsize=7.5)
    ax_t.legend(fontsize=6.5, ncol=2)
    fig.suptitle(
        "does ReLU's sparsity save compute? 08's transformer, trained with and without L1",
        fontsize=11,
    )
    return fig


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table holds this
    example's rows of the table of the article's claims, which ``examples/update_readme.py`` gathers at
    the top of the section.
    """
    res, cfg = d["results"], d["config"]
    bs = cfg["batches"]

    def mean(v: Sequence[float]) -> float:
        return sum(v) / len(v)

    def skippable(
        r: dict[str, Any],
    ) -> list[float]:  # per B: units 0 for all B tokens, mean of layers
        return [1 - mean([layer[i] for layer in r["union_active"]]) for i in range(len(bs))]

    def ratio(row: dict[str, Any]) -> str:
        return f"×{row['ratio']:.2f}" + (
            "" if row["verdict"] == "parity" else f" ({row['verdict']})"
        )

    rows = [
        [
            name,
            f"{r['l1']:g}",
            f"{r['held_out_loss_mean']:.3f} ± {r['held_out_loss_std']:.3f}",
            " / ".join(pct(v) for v in r["zeros_final"]),
            " / ".join(pct(v) for v in skippable(r)),
        ]
        for name, r in res.items()
    ]

    def per_row(key: str, cells: Callable[[str, dict[str, Any]], list[str]]) -> list[list[Any]]:
        return [[n, row["tokens"], *cells(n, row)] for n, rs in d[key].items() for row in rs]

    ffn_rows = per_row(
        "real_ffn",
        lambda n, row: [
            row["op"],
            f"{row['capacity']} / {res[n]['hidden']}",
            f"{1e3 * row['dense']['ms']:.1f}",
            f"{1e3 * row['sparse']['ms']:.1f}",
            ratio(row),
            f"×{row['cpu_ratio']:.2f}",
            f"{row['max_abs_diff']:.1e}",
        ],
    )
    dec_rows = per_row(
        "decode",
        lambda n, row: [
            " / ".join(str(c) for c in row["capacities"]),
            f"{row['dense']['tokens_per_s']:,.0f}",
            f"{row['sparse']['tokens_per_s']:,.0f}",
            ratio(row),
            f"×{row['cpu_ratio']:.2f}",
            f"{row['max_abs_logit_diff']:.1e}",
        ],
    )
    big_rows = per_row(
        "scaled",
        lambda n, row: [
            pct(1 - row["share"]),
            f"{row['dense']['ms']:.3f}",
            f"{row['sparse']['ms']:.3f}",
            ratio(row),
            f"×{row['cpu_ratio']:.2f}",
        ],
    )
    load = d["load_average"]
    text = [
        f"**Does sparsity save compute?** ([`09_sparse_ffn.py`]({script})): 08's transformer "
        f"({cfg['layers']} blocks, d={cfg['d_model']}, hidden {cfg['ffn_mult'] * cfg['d_model']}, "
        f"{cfg['steps']} Adam steps, {cfg['seeds']} seeds) with a ReLU or squared-ReLU FFN, with and "
        "without an L1 penalty on the FFN activation (`loss + l1 · Σ_layers mean |act(h)|`), and "
        "`jrelu.sparse`, which reads only the rows of the down projection whose unit is nonzero "
        "for some token of the batch (exact: the dense result up to summation order). Per layer, the "
        "share of exact zeros per held-out token, and the share of units that are 0 for all of "
        f"B = {' / '.join(map(str, bs))} held-out sequences at the same position (what a decode batch "
        "can skip; mean over layers):",
        "",
        md_table(["FFN", "L1", "held-out loss", "zeros per token", "skippable at B"], rows),
        "",
        f"The trained FFN (block {d['real_ffn_layer'] + 1}, first seed) on B held-out tokens, "
        "`jrelu.sparse` against the dense `jnp` computation (capacity: the largest union held-out "
        "text needs at B; median µs of interleaved repeats; ratio sparse / dense, *faster*/*slower* "
        "where the quartiles do not overlap; CPU: process time over all threads; the largest "
        "difference from dense):",
        "",
        md_table(
            ["FFN", "B", "part", "capacity", "dense µs", "sparse µs", "time", "CPU", "max |Δ|"],
            ffn_rows,
        ),
        "",
        f"Decoding: B held-out sequences of {cfg['context']} characters through a key-value cache, "
        "teacher-forced (both paths see the same tokens), every block's FFN sparse or dense "
        "(capacities per block):",
        "",
        md_table(
            [
                "FFN",
                "B",
                "capacities",
                "dense tokens/s",
                "sparse tokens/s",
                "time",
                "CPU",
                "max |Δ logits|",
            ],
            dec_rows,
        ),
        "",
        f"The same skippable share in a {cfg['scaled_d'] // cfg['d_model']}x wider FFN "
        f"(d_model {cfg['scaled_d']}, hidden {cfg['ffn_mult'] * cfg['scaled_d']}): the down projection "
        "alone (median ms):",
        "",
        md_table(["FFN", "B", "skippable", "dense ms", "sparse ms", "time", "CPU"], big_rows),
        "",
        f"Load average while it ran: {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        f"({d['cpus']} CPUs).",
        "",
    ]
    claims: list[tuple[str, str, str]] = []
    if "relu" in res:
        r = res["relu"]
        ratios = [row["ratio"] for rs in d["decode"].values() for row in rs]
        measured = (
            f"relu: {pct(mean(r['zeros_final']))} of FFN activations are 0 per token; 0 for a whole "
            "decode batch: "
            + ", ".join(f"{pct(v)} at B = {b}" for v, b in zip(skippable(r), bs, strict=True))
        )
        if ratios:
            measured += (
                f"; decoding 08's model (d={cfg['d_model']}) with the sparse FFN: "
                f"×{min(ratios):.2f}–×{max(ratios):.2f} the dense time"
            )
        dec_fast = [
            (n, row) for n, rs in d["decode"].items() for row in rs if row["verdict"] == "faster"
        ]
        big_fast = [
            (n, row) for n, rs in d["scaled"].items() for row in rs if row["verdict"] == "faster"
        ]
        if big_fast:
            measured += (
                f"; the down projection of a {cfg['scaled_d'] // cfg['d_model']}x wider FFN at the "
                "same skippable share is faster only for "
                + ", ".join(
                    f"{n} at B = {row['tokens']} ({pct(1 - row['share'])}: ×{row['ratio']:.2f})"
                    for n, row in big_fast
                )
            )
        if dec_fast:
            verdict = "agrees: decoding is faster for " + ", ".join(
                f"{n} at B = {row['tokens']}" for n, row in dec_fast
            )
        else:
            verdict = (
                f"**disagrees** at 08's size (d={cfg['d_model']}) and for batches: the union of a "
                "batch's active units is most of them"
            )
            if big_fast:
                most = max(row["tokens"] for _, row in big_fast)
                verdict += (
                    f"; skipping pays on this CPU only with an L1 penalty, at most {most} tokens, "
                    f"and a {cfg['scaled_d']}-wide FFN"
                )
        claims.append(
            (
                "ReLU's sparse activation can be turned into less work (skip the zeros)",
                measured,
                verdict,
            )
        )
    pen = [
        (n, m)
        for n in res
        for m in res
        if res[n]["l1"] > 0 and res[m]["l1"] == 0 and res[n]["activation"] == res[m]["activation"]
    ]
    if pen:
        parts, raised, loss = [], [], []
        for n, m in pen:
            zn, zm = mean(res[n]["zeros_final"]), mean(res[m]["zeros_final"])
            dl = res[n]["held_out_loss_mean"] - res[m]["held_out_loss_mean"]
            noise = max(res[n]["held_out_loss_std"], res[m]["held_out_loss_std"])
            # beyond the larger of the two seed spreads, or inside it
            effect = "better" if dl < -noise else "worse" if dl > noise else "the same"
            parts.append(
                f"{res[m]['activation']} L1 {res[n]['l1']:g}: {pct(zm)} → {pct(zn)} zeros per "
                f"token, held-out loss {dl:+.3f} ({effect})"
            )
            raised.append(zn - zm > 0.05)
            loss.append(f"{effect} with L1 {res[n]['l1']:g} ({res[m]['activation']})")
        claims.append(
            (
                "(ProSparse, TwELL) an L1 penalty on the FFN activation raises its sparsity",
                "; ".join(parts),
                ("agrees" if all(raised) else "**disagrees**: sparsity barely moves")
                + "; held-out loss (beyond the seeds' spread or not): "
                + ", ".join(loss),
            )
        )
    text.append(f"![loss against sparsity, the union over B, sparse against dense]({FIGURE})")
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.summarise:
        return summarise(args.summarise)
    load_start = os.getloadavg()[0]
    cfg: dict[str, Any] = {
        "layers": 3,
        "d_model": 64,
        "heads": 4,
        "ffn_mult": 4,
        "context": 64,
        "batch": 32,
        "steps": 1000,
        "warmup": 50,
        "lr": 3e-3,
        "eval_every": 100,
        "eval_windows": 128,
        "seeds": 3,
        "seed": 0,
        "batches": list(BATCHES),
        "scaled_d": 1024,
        "time_warmup": 3,
        "time_repeats": 15,
        "time_target": 0.02,
    }
    variants, timed_variants = list(VARIANTS), list(VARIANTS)
    if args.quick:
        cfg.update(
            layers=1,
            d_model=32,
            heads=2,
            context=16,
            batch=8,
            steps=20,
            warmup=2,
            eval_every=10,
            eval_windows=64,
            seeds=1,
            batches=[8],
            scaled_d=128,
            time_warmup=1,
            time_repeats=3,
            time_target=0.002,
        )
        variants, timed_variants = ["relu", "relu + L1 0.3"], ["relu + L1 0.3"]
    data = text_data(cfg)
    print(
        f"pydoc_data.topics: {data['chars']} characters in {data['topics']} topics, vocabulary "
        f"{data['vocab']}; {data['held_out_topics']} topics ({data['held_out_chars']} characters) held "
        f"out, of which {len(data['held_out'])} windows of {cfg['context']} are evaluated"
    )
    compiled: dict = {}
    results = {v: train(v, cfg, data, compiled) for v in variants}
    real, dec, big = {}, {}, {}
    for v in timed_variants:
        real[v] = real_ffn(results[v], cfg, data)
        dec[v] = decoding(results[v], cfg, data)
        big[v] = scaled(results[v], cfg)
    print(
        f"\n{cfg['layers']}-layer transformer, d={cfg['d_model']}, {cfg['steps']} steps, {cfg['seeds']} "
        "seeds; per layer: zeros per held-out token, units 0 for all B tokens (mean of layers):"
    )
    print(
        table(
            [
                [
                    v,
                    r["l1"],
                    f"{r['held_out_loss_mean']:.4f} ± {r['held_out_loss_std']:.4f}",
                    " / ".join(f"{z:.2f}" for z in r["zeros_final"]),
                    " / ".join(
                        f"{1 - float(np.mean([layer[i] for layer in r['union_active']])):.2f}"
                        for i in range(len(cfg["batches"]))
                    ),
                ]
                for v, r in results.items()
            ],
            ["FFN", "L1", "held-out loss", "zeros per token", f"skippable at B={cfg['batches']}"],
        )
    )
    print("\nsparse / dense, median time (CPU time), the trained FFN and decoding:")
    print(
        table(
            [
                [
                    v,
                    row["tokens"],
                    kind or f"trained {row['op']}",
                    f"{row['dense']['ms']:.4f}",
                    f"{row['sparse']['ms']:.4f}",
                    f"{row['ratio']:.2f}",
                    f"{row['cpu_ratio']:.2f}",
                    row["verdict"],
                ]
                for rows, kind in ((real, ""), (dec, "decode"), (big, f"d={cfg['scaled_d']} down"))
                for v, rs in rows.items()
                for row in rs
            ],
            ["FFN", "B", "what", "dense ms", "sparse ms", "ratio", "CPU ratio", "verdict"],
        )
    )
    out = {
        "example": NAME,
        "quick": args.quick,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "load_average": [load_start, os.getloadavg()[0]],
        "config": cfg,
        "data": {k: v for k, v in data.items() if k not in ("train", "held_out")}
        | {"held_out_windows": len(data["held_out"])},
        "results": {
            v: {k: x for k, x in r.items() if not k.startswith("_")} for v, r in results.items()
        },
        "real_ffn_layer": cfg["layers"] // 2,
        "real_ffn": real,
        "decode": dec,
        "scaled": big,
    }
    if args.out:
        save(args.out, out, draw(out), dpi=80)
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
