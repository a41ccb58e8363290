"""The core figures of the design (benchmarks/README.md, "Core figures"), measured, not typed.

    python benchmarks/core_figures.py            # print, write benchmarks/results/core_figures.json,
                                                 # and rewrite benchmarks/README.md's core-figures section

1. Backward memory: activation-sized tensors per layer that a compiled float32 MLP training step keeps
   beyond the identity network (jrelu.testing.extra_tensors_per_layer), jrelu vs jax.nn (or the jnp.where formulation);
   and hidden-sized tensors per block in a pre-LN transformer block on (batch, seq, d_model)
   activations, with XLA's bytes accessed by the whole step.
2. Half precision: share of *all* bfloat16 / float16 values in [-8, 8] whose output is the correctly
   rounded float64 value, jrelu vs jax.nn; and the share among the inputs that are not subnormal.
3. float32: worst error in ulp against the float64 reference on a dense grid in [-20, 20].
Compile-only and small arrays: about a minute on two CPU cores.
"""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

import jrelu
from jrelu.testing import extra_tensors_detail, extra_tensors_per_layer, is_subnormal, ulp

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "core_figures.json"
HALVES = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}


def _label(name: str, params: dict) -> str:
    inner = ", ".join(
        f"{k}={v}" if isinstance(v, bool) else f"{k}={v:g}" for k, v in params.items()
    )
    return f"{name}({inner})" if inner else name


def _peer(spec, params):
    # The peer takes the hyperparameters only: a static option (elu's precise=True) is jrelu's own.
    return functools.partial(spec.baseline, **spec.hyper(params))


def memory_rows() -> list[dict]:
    rows = []
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.needs_key:  # alpha_dropout: a dropout layer, measured by jrelu check and bench
            continue
        for params in spec.variants:
            if name == "prelu":
                ours = extra_tensors_per_layer(
                    jrelu.prelu, learned=np.full((512,), 0.25, np.float32)
                )
                theirs = extra_tensors_per_layer(
                    spec.baseline, learned=np.full((512,), 0.25, np.float32)
                )
                rows.append(
                    {
                        "fn": "prelu (slope learned, per channel)",
                        "jrelu": ours,
                        "peer": theirs,
                        "peer_name": "jnp.where",
                    }
                )
                break
            # A gated function (reglu) halves the features: each layer projects to twice the width.
            ours = extra_tensors_per_layer(functools.partial(spec.fn, **params), gated=spec.gated)
            theirs = extra_tensors_per_layer(_peer(spec, params), gated=spec.gated)
            rows.append(
                {
                    "fn": _label(name, params),
                    "jrelu": ours,
                    "peer": theirs,
                    "peer_name": spec.baseline_name,
                }
            )
        if name in ("leaky_relu", "elu"):
            pname = next(iter(spec.params))
            ours = extra_tensors_per_layer(
                lambda z, p, f=spec.fn, k=pname: f(z, **{k: p}), hyper=jnp.float32(0.1)
            )
            theirs = extra_tensors_per_layer(
                lambda z, p, f=spec.baseline, k=pname: f(z, **{k: p}), hyper=jnp.float32(0.1)
            )
            rows.append(
                {
                    "fn": f"{name}({pname} traced)",
                    "jrelu": ours,
                    "peer": theirs,
                    "peer_name": spec.baseline_name,
                }
            )
    key_ours = extra_tensors_per_layer(functools.partial(jrelu.rrelu, key=jax.random.key(0)))
    rows.append(
        {"fn": "rrelu(key=...) (training)", "jrelu": key_ours, "peer": None, "peer_name": "-"}
    )
    return rows


# The transformer block of the README's "Why" table: d_model 64 (hidden 256), 16 x 128 tokens, the
# slope between 2 and 4 blocks (exact at this size: tests/test_blocks.py). 2**19 hidden elements:
# below that (jrelu._core.SMALL_ON_CPU) relu, relu6 and squared_relu keep x on XLA:CPU, as jax.nn.
BLOCK = {"model": "transformer", "batch": 16, "seq": 128, "width": 64, "depths": (2, 4)}


def block_rows() -> list[dict]:
    """Every function as a transformer trains it (defaults; rrelu with a key; prelu's slope learned per
    hidden unit), float32, jrelu against its peer: kept tensors and the step's bytes accessed."""
    key = jax.random.key(0)
    rows = []
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.needs_key:  # alpha_dropout: a dropout layer, not an FFN activation
            continue
        kw: dict = {"gated": spec.gated}
        ours, theirs, label = spec.fn, spec.baseline, name
        if name == "prelu":
            kw["learned"] = np.full((4 * BLOCK["width"],), 0.25, np.float32)
            label = "prelu (slope learned, per channel)"
        if name == "rrelu":
            ours = functools.partial(jrelu.rrelu, key=key)
            theirs = functools.partial(spec.train_baseline, key=key, **spec.params)
            label = "rrelu(key=...) (training)"
        a = extra_tensors_detail(ours, **BLOCK, **kw)
        b = extra_tensors_detail(theirs, **BLOCK, **kw)
        rows.append(
            {
                "fn": label,
                "jrelu": a["extra_tensors_per_layer"],
                "peer": b["extra_tensors_per_layer"],
                "bytes_ratio": a["bytes_accessed"] / b["bytes_accessed"],
                "peer_name": "jnp.where" if name in ("prelu", "rrelu") else spec.baseline_name,
            }
        )
    return rows


def _inputs(spec, x: np.ndarray) -> np.ndarray:
    """``x`` as the function takes it: a gated one (reglu) splits its last axis into the value and the
    gate, so it gets the values in pairs."""
    return x[: x.size // 2 * 2].reshape(-1, 2) if spec.gated else x


def _all_half(dtype) -> np.ndarray:
    vals = np.arange(2**16, dtype=np.uint16).view(dtype)
    with np.errstate(invalid="ignore"):
        v = vals.astype(np.float32)
    return vals[np.isfinite(v) & (np.abs(v) <= 8)]


def half_rows() -> list[dict]:
    rows = []
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.needs_key:  # alpha_dropout: a dropout layer, measured by jrelu check and bench
            continue
        params = dict(spec.params)
        row = {"fn": _label(name, params)}
        for dname, dt in HALVES.items():
            x = _inputs(spec, _all_half(dt))
            correct = spec.value(x.astype(np.float64), **params).astype(np.float32).astype(dt)
            # the outputs that read no subnormal input (XLA:CPU flushes those to zero first)
            normal = ~is_subnormal(x.astype(np.float64), dt)
            if spec.gated:
                normal = normal.all(axis=-1)
            for impl, f in (("jrelu", spec.fn), (spec.baseline_name, spec.baseline)):
                y = np.asarray(f(jnp.asarray(x), **params))
                same = (y.astype(np.float64) == correct.astype(np.float64)) | (
                    np.isnan(y.astype(np.float32)) & np.isnan(correct.astype(np.float32))
                )
                row[f"{impl}:{dname}"] = float(same.mean())
                row[f"{impl}:{dname}:normal"] = float(same[normal].mean())
            row["peer_name"] = spec.baseline_name
        rows.append(row)
    return rows


def ulp_rows() -> list[dict]:
    x32 = np.linspace(-20, 20, 400001).astype(np.float32)
    rows = []
    for name, spec in jrelu.FUNCTIONS.items():
        if spec.needs_key:  # alpha_dropout: a dropout layer, measured by jrelu check and bench
            continue
        params = dict(spec.params)
        x, x64 = _inputs(spec, x32), _inputs(spec, x32.astype(np.float64))
        ref = spec.value(x64, **params)
        u = ulp(ref, np.float32)
        row = {"fn": _label(name, params), "peer_name": spec.baseline_name}
        for impl, f in (("jrelu", spec.fn), ("peer", spec.baseline)):
            y = np.asarray(f(jnp.asarray(x), **params), np.float64)
            row[impl] = float(np.max(np.abs(y - ref) / u))
        rows.append(row)
    return rows


def render(fig: dict) -> str:
    def num(v, fmt):
        return "–" if v is None else format(v, fmt)

    lines = [
        f"Measured by `python benchmarks/core_figures.py` ({fig['backend']}, jax {fig['jax_version']}, "
        f"{fig['date']}).",
        "",
        "**Backward memory** — extra float32 activation-sized tensors per layer kept by a compiled MLP "
        "training step, beyond the identity network (`jit(grad(loss)).lower(...).compile()"
        ".memory_analysis()`, slope between 4 and 8 layers):",
        "",
        "| function | jrelu | peer | peer |",
        "|---|---:|---:|---|",
    ]
    for r in fig["memory"]:
        lines.append(
            f"| `{r['fn']}` | {num(r['jrelu'], '.3f')} | {num(r['peer'], '.3f')} | {r['peer_name']} |"
        )
    lines += [
        "",
        "**In a transformer block** — extra float32 hidden-sized tensors per block kept by a compiled "
        "training step of pre-LN transformer blocks on (batch, seq, d_model) activations (causal "
        f"attention, then the FFN; d_model {BLOCK['width']}, hidden {4 * BLOCK['width']}, "
        f"{BLOCK['batch']} × {BLOCK['seq']} tokens), beyond the identity block (slope between "
        f"{BLOCK['depths'][0]} and {BLOCK['depths'][1]} blocks), and XLA's bytes accessed by the whole "
        "step, jrelu ÷ peer (`cost_analysis()`):",
        "",
        "| function | jrelu | peer | bytes ÷ peer | peer |",
        "|---|---:|---:|---:|---|",
    ]
    for r in fig.get("blocks", []):
        lines.append(
            f"| `{r['fn']}` | {r['jrelu']:.3f} | {r['peer']:.3f} | {r['bytes_ratio']:.3f} | "
            f"{r['peer_name']} |"
        )
    lines += [
        "",
        "**Half precision** — share of all values in [−8, 8] whose output is the correctly rounded "
        "float64 result, subnormal inputs included (XLA:CPU flushes them to zero, which costs bfloat16 "
        "about 1%), and in brackets, for bfloat16, the share of the inputs that are not subnormal (a "
        "float16 subnormal is computed in float32, where it is normal, and is kept):",
        "",
        "| function | jrelu bf16 | peer bf16 | jrelu f16 | peer f16 | peer |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def share(r: dict, key: str) -> str:
        normal = r.get(key + ":normal") if key.endswith("bfloat16") else None
        return f"{r[key]:.2%}" + ("" if normal is None else f" ({normal:.2%})")

    for r in fig["half"]:
        p = r["peer_name"]
        lines.append(
            f"| `{r['fn']}` | {share(r, 'jrelu:bfloat16')} | {share(r, p + ':bfloat16')} | "
            f"{share(r, 'jrelu:float16')} | {share(r, p + ':float16')} | {p} |"
        )
    lines += [
        "",
        "**float32 accuracy** — worst error against the float64 reference on 400,001 points in "
        "[−20, 20], in ulp:",
        "",
        "| function | jrelu | peer | peer |",
        "|---|---:|---:|---|",
    ]
    for r in fig["ulp"]:
        lines.append(f"| `{r['fn']}` | {r['jrelu']:.2f} | {r['peer']:.2f} | {r['peer_name']} |")
    return "\n".join(lines)


def write_readme() -> None:
    """Rewrite benchmarks/README.md's core-figures section from OUT, by the one splicer."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import update_readme

    update_readme.main(["--only", "core-figures"])


def main() -> None:
    fig = {
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
        "date": datetime.date.today().isoformat(),
        "memory": memory_rows(),
        "blocks": block_rows(),
        "half": half_rows(),
        "ulp": ulp_rows(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=1) + "\n")
    text = render(fig)
    print(text)
    write_readme()


if __name__ == "__main__":
    main()
