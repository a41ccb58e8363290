"""08 - A transformer study: are ReLU-family FFN activations sparse and cheap in a language model?

The article's claims: ReLU is cheap (one comparison, no exponential) and makes activations sparse (negative
inputs give 0). The language-model literature revived both ("ReLU Strikes Back", Mirzadeh et al. 2023;
Primer's squared ReLU, So et al. 2021; "ReLU² Wins", Zhang et al. 2024), while today's default FFN is
SwiGLU (Shazeer 2020). This trains a small character-level decoder-only transformer (Flax NNX, pre-norm,
learned positions, bias-free FFN) on real English text that ships with Python -- the standard library's
``pydoc_data.topics`` (the help texts of ``help("topic")``; no download) -- once per FFN:

* ``gelu``: ``jax.nn.gelu`` (its default tanh form), hidden width 4·d;
* ``relu``: ``jrelu.relu``; ``squared_relu``: ``jrelu.squared_relu`` (both hidden 4·d);
* ``reglu``: ``jrelu.reglu``, ``swiglu``: ``jax.nn.silu(a) * b`` written by hand. A gated FFN projects to
  *twice* its hidden width and splits it in two; the hidden width is 8·d/3 (rounded up to a multiple of 8)
  so that its three matrices hold the parameters of the plain FFN's two (Shazeer's parameter matching).

Every FFN is trained for the same steps from the same seeds (seeds change the initial weights and the
batches; 3 seeds side by side under ``jax.vmap``). It reports the held-out loss; the FFN's hidden activation
(the input of its down projection) per layer over training on a fixed held-out sample: the share of exact
zeros (``jrelu.diagnostics.sparsity``) and the share of hidden units that are zero for every held-out
token (``jrelu.diagnostics.dead_fraction``); and the cost of one training step (one model, Adam) as XLA
compiles it: temporary memory from ``jax.jit(step).lower(...).compile().memory_analysis()`` and the median
step time, for jrelu and for the jax.nn formulation of the same activation (``jax.nn.relu``,
``jnp.square(jax.nn.relu(h))``, ``a * jax.nn.relu(b)``).

Run:  python examples/08_transformer.py [--quick | --smoke] [--out DIR]
      python examples/08_transformer.py --summarise DIR   (summary.md again from DIR/results.json)
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
from jrelu import diagnostics

NAME = "08_transformer"
FIGURE = "transformer.png"  # what --out writes besides results.json and summary.md
QUICK = "all FFNs, one seed, a short run (about 2 minutes)"  # what --quick does


def _split(u: jax.Array) -> tuple[jax.Array, jax.Array]:
    a, b = jnp.split(u, 2, axis=-1)
    return a, b


# FFN name -> (gated?, {formulation: the activation of the up-projected tensor}). The first formulation
# is the one trained; the others are compiled for the memory and time comparison only.
FFNS: dict[str, tuple[bool, dict[str, Callable[[jax.Array], jax.Array]]]] = {
    "gelu": (False, {"jax.nn": jax.nn.gelu}),
    "relu": (False, {"jrelu": jrelu.relu, "jax.nn": jax.nn.relu}),
    "squared_relu": (
        False,
        {"jrelu": jrelu.squared_relu, "jax.nn": lambda h: jnp.square(jax.nn.relu(h))},
    ),
    "reglu": (
        True,
        {"jrelu": jrelu.reglu, "jax.nn": lambda u: (lambda a, b: a * jax.nn.relu(b))(*_split(u))},
    ),
    "swiglu": (True, {"jax.nn": lambda u: (lambda a, b: jax.nn.silu(a) * b)(*_split(u))}),
}
FORMULAS = {
    ("gelu", "jax.nn"): "jax.nn.gelu(h)",
    ("relu", "jrelu"): "jrelu.relu(h)",
    ("relu", "jax.nn"): "jax.nn.relu(h)",
    ("squared_relu", "jrelu"): "jrelu.squared_relu(h)",
    ("squared_relu", "jax.nn"): "jnp.square(jax.nn.relu(h))",
    ("reglu", "jrelu"): "jrelu.reglu(u)",
    ("reglu", "jax.nn"): "a * jax.nn.relu(b)",
    ("swiglu", "jax.nn"): "jax.nn.silu(a) * b",
}


def hidden_width(cfg: dict[str, Any], gated: bool) -> int:
    """The FFN's hidden width: 4·d, or 8·d/3 rounded up to a multiple of 8 for a gated FFN."""
    plain = cfg["ffn_mult"] * cfg["d_model"]
    return 8 * math.ceil(2 * plain / 3 / 8) if gated else plain


# --------------------------------------------------------------------------------------------------
# Data: the pydoc topics, one character per token
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


class FFN(nnx.Module):
    """``down(act(up(x)))`` without biases; ``act`` halves the width of a gated FFN's ``up``."""

    def __init__(self, d: int, hidden: int, gated: bool, act: Callable, *, rngs: nnx.Rngs):
        self.act = act
        self.up = nnx.Linear(d, 2 * hidden if gated else hidden, use_bias=False, rngs=rngs)
        self.down = nnx.Linear(hidden, d, use_bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.act(self.up(x))
        return self.down(h), h  # h: the hidden activation whose zeros we count


class Block(nnx.Module):
    def __init__(self, cfg: dict[str, Any], gated: bool, act: Callable, *, rngs: nnx.Rngs):
        d = cfg["d_model"]
        self.norm1 = nnx.LayerNorm(d, rngs=rngs)
        self.attn = Attention(d, cfg["heads"], rngs=rngs)
        self.norm2 = nnx.LayerNorm(d, rngs=rngs)
        self.ffn = FFN(d, hidden_width(cfg, gated), gated, act, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x + self.attn(self.norm1(x))  # pre-norm residual blocks
        y, h = self.ffn(self.norm2(x))
        return x + y, h


class CharTransformer(nnx.Module):
    """Decoder-only: token + learned position embeddings, ``layers`` pre-norm blocks, a final LayerNorm."""

    def __init__(
        self, cfg: dict[str, Any], vocab: int, ffn: str, formulation: str, *, rngs: nnx.Rngs
    ):
        gated, acts = FFNS[ffn]
        d = cfg["d_model"]
        self.embed = nnx.Embed(vocab, d, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (cfg["context"], d)))
        self.blocks = nnx.List(
            [Block(cfg, gated, acts[formulation], rngs=rngs) for _ in range(cfg["layers"])]
        )
        self.norm = nnx.LayerNorm(d, rngs=rngs)
        self.head = nnx.Linear(d, vocab, use_bias=False, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        """Logits ``(batch, time, vocab)`` and every block's FFN hidden activation (unused ones are
        dead code under jit, so training pays nothing for them)."""
        x = self.embed(tokens) + self.pos[...][None, : tokens.shape[1]]
        hidden = []
        for block in self.blocks:
            x, h = block(x)
            hidden.append(h)
        return self.head(self.norm(x)), hidden


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def optimizer(cfg: dict[str, Any]) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg["lr"], cfg["warmup"], cfg["steps"], cfg["lr"] / 10
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def make_step(graphdef: Any, opt: optax.GradientTransformation) -> Callable[..., Any]:
    """One training step of one model: (params, opt_state, windows) -> (params, opt_state, loss)."""

    def loss_fn(params: Any, windows: jax.Array) -> jax.Array:
        logits, _ = nnx.merge(graphdef, params)(windows[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()

    def step(params: Any, opt_state: Any, windows: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, windows)
        # optax's Adam bias correction raises a float to an int32 step count, which strict dtype
        # promotion (this repository's test setting) refuses: optax's code, so standard promotion here.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def init(cfg: dict[str, Any], vocab: int, ffn: str, formulation: str, seed: int) -> tuple[Any, Any]:
    graphdef, params = nnx.split(
        CharTransformer(cfg, vocab, ffn, formulation, rngs=nnx.Rngs(seed)), nnx.Param
    )
    return graphdef, params


def evaluate_fn(graphdef: Any) -> Callable[..., Any]:
    @jax.jit
    @jax.vmap
    def evaluate(params: Any, windows: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        logits, hidden = nnx.merge(graphdef, params)(windows[:, :-1])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()
        # every (window, position) is one example; the hidden units are the last axis
        flat = [h.reshape(-1, h.shape[-1]) for h in hidden]
        zeros = jnp.stack([diagnostics.sparsity(h) for h in flat])
        dead = jnp.stack([diagnostics.dead_fraction(h) for h in flat])
        return loss, zeros, dead

    return evaluate


def train(ffn: str, cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Train ``cfg["seeds"]`` models side by side; held-out loss and sparsity every ``eval_every``."""
    seeds = list(range(cfg["seeds"]))
    formulation = next(iter(FFNS[ffn][1]))
    graphdef, _ = init(cfg, data["vocab"], ffn, formulation, 0)
    params = jax.tree.map(  # the seeds' parameters stacked on a leading axis, for jax.vmap
        lambda *p: jnp.stack(p), *[init(cfg, data["vocab"], ffn, formulation, s)[1] for s in seeds]
    )
    opt = optimizer(cfg)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = jax.vmap(opt.init)(params)
    step = make_step(graphdef, opt)

    @jax.jit
    def chunk(params: Any, opt_state: Any, windows: jax.Array) -> tuple[Any, Any, jax.Array]:
        def body(carry: Any, w: jax.Array) -> tuple[Any, jax.Array]:
            p, o, loss = jax.vmap(step)(*carry, w)
            return (p, o), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), windows)
        return params, opt_state, losses

    evaluate = evaluate_fn(graphdef)
    held = jnp.broadcast_to(data["held_out"], (len(seeds), *data["held_out"].shape))
    rng = np.random.default_rng(cfg["seed"])
    window = cfg["context"] + 1
    offsets = np.arange(window)
    history, train_loss, done = [], [], 0
    start = time.perf_counter()
    while True:
        loss, zeros, dead = (np.asarray(v) for v in evaluate(params, held))
        history.append(
            {
                "step": done,
                "held_out_loss": loss.tolist(),  # per seed
                "zeros": zeros.tolist(),  # [seed][layer]
                "dead": dead.tolist(),
            }
        )
        if done == cfg["steps"]:
            break
        n = min(cfg["eval_every"], cfg["steps"] - done)
        starts = rng.integers(0, len(data["train"]) - window, size=(n, len(seeds), cfg["batch"]))
        params, opt_state, losses = chunk(
            params, opt_state, data["train"][starts[..., None] + offsets]
        )
        train_loss += np.asarray(losses).mean(1).tolist()  # mean over seeds, per step
        done += n
    final = history[-1]
    return {
        "formulation": FORMULAS[ffn, formulation],
        "hidden": hidden_width(cfg, FFNS[ffn][0]),
        "params": int(
            sum(x.size for x in jax.tree.leaves(init(cfg, data["vocab"], ffn, formulation, 0)[1]))
        ),
        "ffn_params_per_layer": int(
            cfg["d_model"] * hidden_width(cfg, FFNS[ffn][0]) * (3 if FFNS[ffn][0] else 2)
        ),
        "history": history,
        "train_loss": train_loss,
        "held_out_loss": final["held_out_loss"],
        "held_out_loss_mean": float(np.mean(final["held_out_loss"])),
        "held_out_loss_std": float(np.std(final["held_out_loss"])),
        "zeros_final": np.mean(final["zeros"], 0).tolist(),  # per layer, mean over seeds
        "dead_final": np.mean(final["dead"], 0).tolist(),
        "zeros_init": np.mean(history[0]["zeros"], 0).tolist(),
        "seconds": round(time.perf_counter() - start, 1),
    }


# --------------------------------------------------------------------------------------------------
# The cost of one training step: XLA's memory analysis and wall time, jrelu against jax.nn
# --------------------------------------------------------------------------------------------------


def step_costs(cfg: dict[str, Any], data: dict[str, Any], ffns: Sequence[str]) -> dict[str, Any]:
    """Temporary memory of one compiled training step at ``layers`` and at ``2 * layers`` blocks (the
    difference, per added block, is what one block keeps for its backward pass; the whole step at
    ``layers`` also holds what the peak happens to overlap), and the median step time at ``layers``."""
    windows = jnp.asarray(data["train"][: cfg["batch"] * (cfg["context"] + 1)]).reshape(
        cfg["batch"], cfg["context"] + 1
    )
    opt = optimizer(cfg)
    compiled, out = {}, {}
    for ffn in ffns:
        gated, acts = FFNS[ffn]
        hidden = hidden_width(cfg, gated)
        # One hidden-sized float32 tensor of the step: batch x time x the FFN's output width.
        unit = cfg["batch"] * cfg["context"] * hidden * 4
        for formulation in acts:
            temp = {}
            for layers in (cfg["layers"], 2 * cfg["layers"]):
                graphdef, params = init(
                    cfg | {"layers": layers}, data["vocab"], ffn, formulation, 0
                )
                with jax.numpy_dtype_promotion("standard"):
                    opt_state = opt.init(params)
                fn = jax.jit(make_step(graphdef, opt)).lower(params, opt_state, windows).compile()
                temp[layers] = int(fn.memory_analysis().temp_size_in_bytes)
                if layers == cfg["layers"]:
                    compiled[ffn, formulation] = (fn, params, opt_state)
            per_block = (temp[2 * cfg["layers"]] - temp[cfg["layers"]]) / cfg["layers"]
            out[f"{ffn} / {formulation}"] = {
                "ffn": ffn,
                "formulation": formulation,
                "code": FORMULAS[ffn, formulation],
                "temp_bytes": temp[cfg["layers"]],
                "temp_bytes_2x_layers": temp[2 * cfg["layers"]],
                "per_block_bytes": per_block,
                "per_block_hidden_tensors": per_block / unit,
                "hidden_tensor_bytes": unit,
            }
    # Interleave the timed repeats across formulations, so that a slow spell of the (shared) machine
    # falls on all of them, not on one.
    times: dict[tuple[str, str], list[float]] = {k: [] for k in compiled}
    for r in range(cfg["time_warmup"] + cfg["time_repeats"]):
        for key, (fn, params, opt_state) in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(params, opt_state, windows))
            if r >= cfg["time_warmup"]:
                times[key].append(time.perf_counter() - t0)
    for (ffn, formulation), ts in times.items():
        c = out[f"{ffn} / {formulation}"]
        c["step_ms_median"] = 1e3 * float(np.median(ts))
        c["step_ms_quartiles"] = [1e3 * float(q) for q in np.percentile(ts, [25, 75])]
    for ffn in ffns:
        if len(FFNS[ffn][1]) == 2:
            j, n = out[f"{ffn} / jrelu"], out[f"{ffn} / jax.nn"]
            j["vs_jax_nn"] = {
                "temp_bytes_saved": n["temp_bytes"] - j["temp_bytes"],
                "per_block_hidden_tensors_saved": n["per_block_hidden_tensors"]
                - j["per_block_hidden_tensors"],
                "time_ratio": j["step_ms_median"] / n["step_ms_median"],
            }
    return out


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


def draw(results: dict[str, Any], costs: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    ax_l, ax_z, ax_m = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.15, 1]})
    for i, (ffn, r) in enumerate(results.items()):
        steps = [h["step"] for h in r["history"]]
        loss = np.asarray([h["held_out_loss"] for h in r["history"]])  # (evals, seeds)
        ax_l.plot(steps, loss.mean(1), color=f"C{i}", label=f"{ffn}: {r['held_out_loss_mean']:.3f}")
        ax_l.fill_between(steps, loss.min(1), loss.max(1), color=f"C{i}", alpha=0.15, lw=0)
        zeros = np.asarray([np.mean(h["zeros"], 0) for h in r["history"]])  # (evals, layers)
        for layer in range(zeros.shape[1]):
            ax_z.plot(
                steps,
                zeros[:, layer],
                color=f"C{i}",
                alpha=1.0 - 0.6 * layer / max(1, zeros.shape[1] - 1),
                label=ffn if layer == 0 else None,
            )
    ax_l.set_ylim(None, min(3.5, ax_l.get_ylim()[1]))
    ax_l.set_title("held-out loss (nats/char; band: min-max over seeds)", fontsize=9.5)
    ax_z.set_title(
        "FFN hidden activations that are exactly 0, per layer (darker: first)", fontsize=9.5
    )
    ax_z.set_ylim(-0.02, 1.0)
    for ax in (ax_l, ax_z):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5)
    names = list(costs)
    mb = [costs[n]["temp_bytes"] / 2**20 for n in names]
    colors = [f"C{list(FFNS).index(costs[n]['ffn'])}" for n in names]
    bars = ax_m.barh(names, mb, color=colors)
    for bar, n in zip(bars, names, strict=True):
        if costs[n]["formulation"] == "jax.nn":
            bar.set_hatch("//")
            bar.set_alpha(0.6)
    ax_m.invert_yaxis()
    ax_m.tick_params(axis="y", labelsize=8)
    ax_m.set_xlabel("MiB")
    ax_m.set_title("training step temporary memory (XLA memory analysis)", fontsize=9.5)
    ax_m.grid(alpha=0.3, axis="x")
    fig.suptitle(
        "character-level transformer on Python's pydoc topics: one run per FFN", fontsize=11
    )
    return fig


def signed(v: float) -> str:
    """+0.89, -1.25, and ±0.00 for what rounds to zero (no "-0.00")."""
    return "±0.00" if abs(v) < 0.005 else f"{v:+.2f}"


def summary(d: dict[str, Any], script: str) -> str:
    """This example's findings in Markdown, computed from its results.json alone.

    ``script`` is the link to this file from the folder summary.md goes into. The last table, if there
    is one, holds this example's rows of the table of the article's claims, which
    ``examples/update_readme.py`` gathers at the top of the section.
    """
    res, cfg, costs = d["results"], d["config"], d["step_costs"]

    def mean(v: Sequence[float]) -> float:
        return sum(v) / len(v)

    rows = [
        [
            f"`{n}`",
            f"`{r['formulation']}`",
            r["hidden"],
            f"{r['held_out_loss_mean']:.3f} ± {r['held_out_loss_std']:.3f}",
            " / ".join(pct(v) for v in r["zeros_init"]),
            " / ".join(pct(v) for v in r["zeros_final"]),
            " / ".join(pct(v) for v in r["dead_final"]),
        ]
        for n, r in res.items()
    ]
    cost_rows = []
    for name, c in costs.items():
        saved = c.get("vs_jax_nn")
        q = c["step_ms_quartiles"]
        cost_rows.append(
            [
                name,
                f"`{c['code']}`",
                f"{c['temp_bytes'] / 2**20:.2f}",
                f"{c['per_block_hidden_tensors']:.2f}",
                f"{signed(-saved['temp_bytes_saved'] / 2**20)} MiB, "
                f"{signed(-saved['per_block_hidden_tensors_saved'])} per block"
                if saved
                else "",
                f"{c['step_ms_median']:.1f} ({q[0]:.1f}–{q[1]:.1f})",
            ]
        )
    claims: list[tuple[str, str, str]] = []
    if "relu" in res:
        r = res["relu"]
        z0, z1 = mean(r["zeros_init"]), mean(r["zeros_final"])
        measured = (
            f"FFN hidden units exactly 0 on held-out text: ReLU {pct(z0)} at init, {pct(z1)} after "
            f"{cfg['steps']} steps (layers {' / '.join(pct(v) for v in r['zeros_final'])})"
        )
        for other in ("squared_relu", "reglu"):
            if other in res:
                measured += f", {other} {pct(mean(res[other]['zeros_final']))}"
        smooth = [n for n in ("gelu", "swiglu") if n in res]
        if smooth:
            zs = max(max(res[n]["zeros_final"]) for n in smooth)
            measured += f"; {' and '.join(smooth)}: at most {pct(zs)} in a layer"
        dead = max(max(res[n]["dead_final"]) for n in res)
        measured += (
            f"; units zero for every held-out token: at most {pct(dead)} of a layer"
            if dead > 0
            else "; no unit is zero for every held-out token"
        )
        verdict = "agrees" if z1 > 0.5 else "partly: a minority of zeros"
        if z1 > z0 + 0.02:
            verdict += (
                ", and training raises it, most in the last layers"
                if (
                    r["zeros_final"][-1] - r["zeros_init"][-1]
                    > r["zeros_final"][0] - r["zeros_init"][0]
                )
                else ", and training raises it"
            )
        if dead < 0.01:
            verdict += "; no unit dies"
        claims.append(("(in a transformer FFN) ReLU makes activations sparse", measured, verdict))
    if {"relu / jax.nn", "gelu / jax.nn"} <= set(costs):
        rl, ge = costs["relu / jax.nn"], costs["gelu / jax.nn"]
        ratio = rl["step_ms_median"] / ge["step_ms_median"]
        measured = (
            f"training step ({cfg['layers']} blocks, d={cfg['d_model']}): `jax.nn.relu` "
            f"{rl['step_ms_median']:.1f} ms vs `jax.nn.gelu` {ge['step_ms_median']:.1f} ms "
            f"(×{ratio:.2f}); per block it keeps {rl['per_block_hidden_tensors']:.2f} vs "
            f"{ge['per_block_hidden_tensors']:.2f} hidden-sized tensors"
        )
        jr = costs.get("relu / jrelu", {}).get("vs_jax_nn")
        if jr:
            measured += (
                f"; `jrelu.relu` keeps {signed(-jr['per_block_hidden_tensors_saved'])} per block and "
                f"{signed(-jr['temp_bytes_saved'] / 2**20)} MiB in the whole step compared with "
                "`jax.nn.relu`"
            )
        fewer = ge["per_block_hidden_tensors"] - rl["per_block_hidden_tensors"]
        # faster only if the quartiles of the timed repeats do not overlap
        if rl["step_ms_quartiles"][1] < ge["step_ms_quartiles"][0]:
            verdict = "agrees"
        else:
            verdict = "**disagrees** on time: no measurable difference in a transformer step"
        if fewer > 0.1:
            verdict += f"; it keeps {fewer:.2f} fewer hidden-sized tensors per block than GELU"
        claims.append(
            ("(in a transformer) ReLU is cheap: one comparison, no exponential", measured, verdict)
        )
    if "relu" in res and len(res) > 1:
        r = res["relu"]
        better = [
            n
            for n in res
            if n != "relu"
            and r["held_out_loss_mean"] - res[n]["held_out_loss_mean"]
            > max(res[n]["held_out_loss_std"], r["held_out_loss_std"])
        ]
        measured = ", ".join(
            f"{n} {res[n]['held_out_loss_mean']:.3f}"
            for n in sorted(res, key=lambda n: res[n]["held_out_loss_mean"])
        )
        claims.append(
            (
                "(in a transformer) ReLU is the default hidden activation",
                f"held-out loss (nats/char, {cfg['seeds']} seeds, std ≤ "
                f"{max(x['held_out_loss_std'] for x in res.values()):.3f}): {measured}",
                f"**disagrees**: {', '.join(better)} beat ReLU by more than one std"
                if better
                else "agrees: no FFN beats ReLU by more than one std",
            )
        )
    data = d["data"]
    text = [
        f"**A transformer** ([`08_transformer.py`]({script})): a character-level "
        f"decoder-only transformer (Flax NNX, pre-norm, {cfg['layers']} blocks, d={cfg['d_model']}, "
        f"{cfg['heads']} heads, context {cfg['context']}, bias-free FFN) on the standard library's "
        f"`pydoc_data.topics` ({data['chars']} characters; {data['held_out_topics']} of "
        f"{data['topics']} topics held out), {cfg['steps']} Adam steps of {cfg['batch']} windows, "
        f"{cfg['seeds']} seeds. Gated FFNs (ReGLU, SwiGLU) project to twice their hidden width "
        "(8·d/3, rounded up to a multiple of 8) and split it, so their three matrices hold the plain "
        "FFN's parameters. Zeros and dead units (zero for every token) of the FFN's hidden "
        f"activation, per layer, on {data['held_out_windows']} held-out windows:",
        "",
        md_table(
            [
                "FFN",
                "trained with",
                "hidden",
                "held-out loss",
                "zeros @init",
                "zeros @end",
                "dead @end",
            ],
            rows,
        ),
        "",
        f"One training step (batch {cfg['batch']} × {cfg['context']}, one model, Adam, float32): "
        "XLA's temporary memory for the whole step, what each added block keeps (from the step at "
        f"{2 * cfg['layers']} blocks, in hidden-sized tensors), jrelu against the jax.nn formulation of the "
        f"same activation, and the median step time (quartiles) of {cfg['time_repeats']} interleaved "
        "runs:",
        "",
        md_table(
            [
                "FFN / formulation",
                "code",
                "step temp MiB",
                "per block",
                "jrelu minus jax.nn",
                "step ms",
            ],
            cost_rows,
        ),
        "",
    ]
    lean = [(n.split(" / ")[0], c["vs_jax_nn"]) for n, c in costs.items() if c.get("vs_jax_nn")]
    if lean:
        same = all(abs(v["per_block_hidden_tensors_saved"]) < 0.05 for _, v in lean)
        text += [
            "Finding: compared with the jax.nn formulation, jrelu keeps "
            + ", ".join(signed(-v["per_block_hidden_tensors_saved"]) for _, v in lean)
            + " hidden-sized tensors per block ("
            + ", ".join(n for n, _ in lean)
            + ") and "
            + ", ".join(signed(-v["temp_bytes_saved"] / 2**20) for _, v in lean)
            + " MiB in the whole step, and its median step time is "
            + ", ".join(f"×{v['time_ratio']:.2f}" for _, v in lean)
            + " jax.nn's"
            + (
                " (the quartiles overlap: within the timing noise)"
                if all(
                    costs[f"{n} / jrelu"]["step_ms_quartiles"][0]
                    < costs[f"{n} / jax.nn"]["step_ms_quartiles"][1]
                    and costs[f"{n} / jax.nn"]["step_ms_quartiles"][0]
                    < costs[f"{n} / jrelu"]["step_ms_quartiles"][1]
                    for n, _ in lean
                )
                else ""
            )
            + (
                ": in this transformer the per-layer saving measured in the residual FFN "
                "(`tests/test_memory.py`) does not carry over"
                if same
                else ""
            )
            + ".",
            "",
        ]
    text.append(f"![held-out loss, sparsity and step memory]({FIGURE})")
    if claims:
        text += ["", md_table(["the article says", "measured", "verdict"], claims)]
    return "\n".join(text) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = parser()
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny model, a few steps: for the test suite only (seconds; numbers mean nothing)",
    )
    args = p.parse_args(argv)
    if args.quick and args.smoke:
        p.error("argument --smoke: not allowed with argument --quick")
    if args.summarise:
        return summarise(args.summarise)
    cfg = {
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
        "time_warmup": 2,
        "time_repeats": 30,
    }
    ffns = list(FFNS)
    if args.quick:
        cfg.update(steps=100, warmup=10, eval_every=50, seeds=1, time_repeats=5)
    if args.smoke:
        ffns = ["relu", "reglu"]
        cfg.update(
            layers=2,
            d_model=32,
            heads=2,
            context=16,
            batch=8,
            steps=4,
            warmup=1,
            eval_every=2,
            eval_windows=16,
            seeds=2,
            time_warmup=1,
            time_repeats=1,
        )
    data = text_data(cfg)
    print(
        f"pydoc_data.topics: {data['chars']} characters in {data['topics']} topics, vocabulary "
        f"{data['vocab']}; {data['held_out_topics']} topics ({data['held_out_chars']} characters) held "
        f"out, of which {len(data['held_out'])} windows of {cfg['context']} are evaluated"
    )
    results = {ffn: train(ffn, cfg, data) for ffn in ffns}
    costs = step_costs(cfg, data, ffns)

    rows = []
    for ffn, r in results.items():
        rows.append(
            [
                ffn,
                r["formulation"],
                r["hidden"],
                f"{r['held_out_loss_mean']:.4f} ± {r['held_out_loss_std']:.4f}",
                " / ".join(f"{z:.2f}" for z in r["zeros_init"]),
                " / ".join(f"{z:.2f}" for z in r["zeros_final"]),
                " / ".join(f"{z:.2f}" for z in r["dead_final"]),
            ]
        )
    print(
        f"\n{cfg['layers']}-layer transformer, d={cfg['d_model']}, {cfg['steps']} steps of Adam, "
        f"{cfg['seeds']} seeds (mean ± std); FFN hidden activations per layer on the held-out sample:"
    )
    print(
        table(
            rows,
            [
                "FFN",
                "trained with",
                "hidden",
                "held-out loss",
                "zeros @init",
                "zeros @end",
                "dead @end",
            ],
        )
    )
    rows = []
    for name, c in costs.items():
        saved = c.get("vs_jax_nn")
        rows.append(
            [
                name,
                c["code"],
                f"{c['temp_bytes'] / 2**20:.2f}",
                f"{c['per_block_hidden_tensors']:.2f}",
                f"{saved['temp_bytes_saved'] / 2**20:+.2f} / {saved['per_block_hidden_tensors_saved']:+.2f}"
                if saved
                else "",
                f"{c['step_ms_median']:.1f}",
                f"{saved['time_ratio']:.2f}" if saved else "",
            ]
        )
    print(
        f"\nOne training step (batch {cfg['batch']} x {cfg['context']}, one model, Adam): temporary "
        f"memory at {cfg['layers']} blocks, what each block adds (from {2 * cfg['layers']} blocks), in "
        "hidden-sized float32 tensors, and what jrelu saves against jax.nn:"
    )
    print(
        table(
            rows,
            [
                "FFN / formulation",
                "code",
                "temp MiB",
                "per block (hidden)",
                "jrelu saves (MiB / per block)",
                "median ms",
                "time / jax.nn",
            ],
        )
    )

    out = {
        "example": NAME,
        "quick": args.quick or args.smoke,
        "smoke": args.smoke,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "config": cfg,
        "data": {k: v for k, v in data.items() if k not in ("train", "held_out")}
        | {"held_out_windows": len(data["held_out"])},
        "results": results,
        "step_costs": costs,
    }
    if args.out:
        save(args.out, out, draw(results, costs), dpi=80)
    return out


if __name__ == "__main__":
    matplotlib.use("Agg")
    main()
