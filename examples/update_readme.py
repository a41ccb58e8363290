"""Render examples/README.md's "What the measurements say" section from the examples' committed results.

Reads ``examples/results/<example>/results.json`` (written by ``python examples/run_all.py``); the one
splicer, ``benchmarks/update_readme.py``, writes what :func:`render` returns into examples/README.md
between ``<!-- BEGIN measurements -->`` and ``<!-- END measurements -->``. Every number in
the section comes from those files; the verdicts against the source article are computed from them with
the thresholds written below, so they change if the numbers do.

Run:  python examples/update_readme.py [--check] [--results DIR] [--readme PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

Results = dict[str, Any]


def load(results_dir: str) -> dict[str, Results]:
    """``{"01_gallery": {...}, ...}`` (by the example's name) for every folder with a results.json."""
    out = {}
    if os.path.isdir(results_dir):
        for name in sorted(os.listdir(results_dir)):
            path = os.path.join(results_dir, name, "results.json")
            if os.path.isfile(path):
                with open(path) as fh:
                    data = json.load(fh)
                data["_dir"] = name  # where its images are
                out[data.get("example", name)] = data
    return out


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def sci(v: float) -> str:
    """1.2e-05 as 1.2·10⁻⁵ (plain for moderate values)."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.3g}"
    mant, exp = f"{v:.1e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mant}·10{str(int(exp)).translate(sup)}"


def pct(v: float) -> str:
    if v == 0 or v >= 0.01:
        return f"{100 * v:.0f}%"
    return f"{100 * v:.1f}%" if v >= 0.001 else "<0.1%"


def signed(v: float) -> str:
    """+0.89, -1.25, and ±0.00 for what rounds to zero (no "-0.00")."""
    return "±0.00" if abs(v) < 0.005 else f"{v:+.2f}"


def image(rel_dir: str, name: str, file: str, alt: str) -> str:
    return f"![{alt}]({rel_dir}/{name}/{file})"


# --------------------------------------------------------------------------------------------------
# One renderer per example: (markdown section, [claim rows for the summary table]).
# A claim row: (the article's claim, what was measured, verdict).
# --------------------------------------------------------------------------------------------------

Claim = tuple[str, str, str]


def gallery(d: Results, rel: str) -> tuple[str, list[Claim]]:
    fns = d["functions"]
    rows = []
    for name, r in fns.items():
        for k in r["kinks"]:
            if k["jrelu"] != k["peer"] or k["jrelu_2nd"] != k["peer_2nd"]:
                rows.append(
                    [
                        f"`{name}`",
                        f"{k['x']:g}",
                        f"{k['jrelu']:.4g}",
                        f"{k['peer']:.4g}",
                        f"{k['jrelu_2nd']:.4g}",
                        f"{k['peer_2nd']:.4g}",
                        f"`{r['peer_name']}`",
                    ]
                )
    half = [
        [
            f"`{n}`",
            pct(r["misrounded"]["bfloat16"]["jrelu"]),
            pct(r["misrounded"]["bfloat16"]["peer"]),
            pct(r["misrounded"]["float16"]["jrelu"]),
            pct(r["misrounded"]["float16"]["peer"]),
        ]
        for n, r in fns.items()
        if max(
            r["misrounded"]["bfloat16"]["peer"],
            r["misrounded"]["float16"]["peer"],
            r["misrounded"]["bfloat16"]["jrelu"],
            r["misrounded"]["float16"]["jrelu"],
        )
        > 0
    ]
    text = [
        "**Gallery** ([`01_gallery.py`](examples/01_gallery.py)): every function and derivative, and where "
        "jrelu and its peer (`jax.nn`, or the `jnp.where` code Flax and Equinox use for PReLU) differ. "
        "At the kinks (first and second derivative):",
        "",
        md_table(["function", "x", "jrelu f′", "peer f′", "jrelu f″", "peer f″", "peer"], rows),
        "",
    ]
    if half:
        text += [
            "Share of all 16-bit inputs in [−8, 8] whose output is not the correctly rounded value:",
            "",
            md_table(["function", "jrelu bf16", "peer bf16", "jrelu f16", "peer f16"], half),
            "",
        ]
    text.append(image(rel, d["_dir"], "gallery.png", "every activation and derivative"))
    return "\n".join(text), []


def vanishing(d: Results, rel: str) -> tuple[str, list[Claim]]:
    cfg, std, lec = d["config"], d["results"]["standard"], d["results"]["lecun_all"]
    depth = cfg["depth"]
    rows = []
    for name, r in std.items():
        lr = lec.get(name, {})
        rows.append(
            [
                f"`{name}`",
                r["init"].replace("_", " "),
                sci(r["first"]),
                sci(r["last"]),
                sci(r["first"] / r["last"]) if r["last"] else "–",
                f"{r['loss_end']:.3f}",
                sci(lr["first"]) if lr else "–",
            ]
        )
    claims: list[Claim] = []
    if {"sigmoid", "relu"} <= set(std):
        s, rl = std["sigmoid"], std["relu"]
        s_ratio = s["first"] / s["last"]
        claims.append(
            (
                "Sigmoid saturates: the first layers of a deep net get almost no gradient",
                f"{depth}-layer MLP at Glorot init: layer 1 gets {sci(s_ratio)} of layer {depth}'s gradient",
                "agrees" if s_ratio < 1e-3 else "disagrees",
            )
        )
        if "tanh" in std:
            t_ratio = std["tanh"]["first"] / std["tanh"]["last"]
            claims.append(
                (
                    "Tanh saturates the same way",
                    f"at Glorot init, layer 1 gets {t_ratio:.2f}× layer {depth}'s gradient; after "
                    f"{cfg['steps']} SGD steps tanh reaches loss {std['tanh']['loss_end']:.3f} vs ReLU's "
                    f"{rl['loss_end']:.3f}",
                    "agrees"
                    if t_ratio < 1e-2
                    else "**disagrees** (at its standard init, no vanishing)",
                )
            )
        if "relu" in lec:
            shrink = rl["first"] / lec["relu"]["first"]
            claims.append(
                (
                    "ReLU's derivative of 1 keeps the gradient flowing",
                    f"at He init, layer 1 gets {rl['first'] / rl['last']:.2f}× layer {depth}'s gradient; at "
                    f"LeCun normal (Flax's default) ReLU's layer-1 gradient is {sci(shrink)}× smaller than at He",
                    "agrees only with He initialisation" if shrink > 100 else "agrees",
                )
            )
    text = [
        f"**Vanishing gradients** ([`02_vanishing_gradients.py`](examples/02_vanishing_gradients.py)): "
        f"‖∂loss/∂W‖ per layer at initialisation in a {depth}-layer, {cfg['width']}-wide MLP on digits "
        f"(geometric mean of {cfg['seeds']} seeds), and the training loss after {cfg['steps']} plain SGD "
        f"steps (lr {cfg['lr']}, one learning rate for all):",
        "",
        md_table(
            [
                "activation",
                "init",
                "layer 1",
                f"layer {depth}",
                "ratio",
                f"loss @{cfg['steps']}",
                "layer 1 at LeCun init",
            ],
            rows,
        ),
        "",
        image(rel, d["_dir"], "gradient_norms.png", "gradient norm per layer"),
    ]
    return "\n".join(text), claims


def sparsity(d: Results, rel: str) -> tuple[str, list[Claim]]:
    res, cfg = d["results"], d["config"]
    rows = []
    for name, r in res.items():
        h0, h1 = r["history"][0], r["history"][-1]
        layers = list(h0["layers"])
        z0 = [h0["layers"][k]["sparsity"] for k in layers]
        z1 = [h1["layers"][k]["sparsity"] for k in layers]
        n1 = [h1["layers"][k]["sparsity"] + h1["layers"][k]["negative_fraction"] for k in layers]
        dead = [h1["layers"][k]["dead_fraction"] for k in layers]
        rows.append(
            [
                f"`{name}`",
                " / ".join(pct(v) for v in z0),
                " / ".join(pct(v) for v in z1),
                " / ".join(pct(v) for v in n1),
                " / ".join(pct(v) for v in dead),
                f"{h1['test_accuracy']:.3f}",
            ]
        )
    claims: list[Claim] = []
    if "relu" in res:
        h0, h1 = res["relu"]["history"][0], res["relu"]["history"][-1]
        z0 = sum(v["sparsity"] for v in h0["layers"].values()) / len(h0["layers"])
        z1 = sum(v["sparsity"] for v in h1["layers"].values()) / len(h1["layers"])
        dead = max(v["dead_fraction"] for v in h1["layers"].values())
        claims.append(
            (
                "ReLU makes activations sparse: most units output 0",
                f"ReLU zeros: {pct(z0)} at init, {pct(z1)} after {cfg['epochs']} epochs (mean over layers); "
                f"up to {pct(dead)} of a layer's units are zero for every held-out image",
                "partly: sparse, but a minority of zeros, and training lowers it"
                if z1 < 0.5
                else "agrees",
            )
        )
    text = [
        f"**Sparsity** ([`03_sparsity.py`](examples/03_sparsity.py)): exact zeros per layer (layers 1 / 2 / "
        f"3 / 4) of a 4 × 128 MLP on held-out digits, at init and after {cfg['epochs']} epochs of Adam; "
        "leaky_relu and elu never give exact zeros, so the negative side is shown too:",
        "",
        md_table(
            [
                "activation",
                "zeros @init",
                "zeros @end",
                "zero or negative @end",
                "dead units @end",
                "test acc",
            ],
            rows,
        ),
        "",
        image(rel, d["_dir"], "sparsity.png", "sparsity during training"),
    ]
    return "\n".join(text), claims


def dying(d: Results, rel: str) -> tuple[str, list[Claim]]:
    res, cfg = d["results"], d["config"]
    rows = []
    for setting, per in res.items():
        for variant, r in per.items():
            rows.append(
                [
                    setting,
                    variant,
                    pct(r["dead_at_init"]),
                    pct(r["dead_peak"]),
                    pct(r["dead_final"]),
                    f"{r['test_accuracy_mean']:.3f} ± {r['test_accuracy_std']:.3f}",
                ]
            )
    claims: list[Claim] = []
    bias = res.get("negative bias init", {})
    if "relu (broken)" in bias and len(bias) > 2:
        broken = bias["relu (broken)"]
        ok = [v for v, r in bias.items() if v != "relu (broken)" and r["test_accuracy_mean"] > 0.9]
        partial = [
            v
            for v, r in bias.items()
            if v != "relu (broken)" and 0.3 <= r["test_accuracy_mean"] <= 0.9
        ]
        claims.append(
            (
                "ReLU units die when initialisation pushes their input negative; Leaky ReLU, PReLU and better "
                "initialisation fix it",
                f"hidden biases at −0.5: ReLU has {pct(broken['dead_final'])} dead units and "
                f"{broken['test_accuracy_mean']:.2f} accuracy; fixed (> 0.9): {', '.join(ok) or 'none'}"
                + (f"; partly: {', '.join(partial)}" if partial else ""),
                "agrees" + (" (Leaky ReLU 0.01 only partly)" if "leaky_relu" in partial else ""),
            )
        )
    lr = res.get("large learning rate", {})
    if "relu (broken)" in lr and len(lr) > 2:
        broken = lr["relu (broken)"]
        remedies = {
            v: r for v, r in lr.items() if v in ("leaky_relu", "prelu", "elu", "relu + He init")
        }
        best = (
            max(remedies.items(), key=lambda kv: kv[1]["test_accuracy_mean"]) if remedies else None
        )
        fixed = lr.get("relu + lr 1e-3")
        claims.append(
            (
                "(same remedies, when the cause is a too-large learning rate)",
                f"Adam lr 0.03: ReLU {pct(broken['dead_final'])} dead, {broken['test_accuracy_mean']:.2f} "
                f"accuracy; best activation/init remedy {best[0]} {best[1]['test_accuracy_mean']:.2f}"
                + (f"; lr 1e-3: {fixed['test_accuracy_mean']:.2f}" if fixed else ""),
                "**disagrees**: only the learning rate fixes it"
                if best and best[1]["test_accuracy_mean"] < 0.9
                else "agrees",
            )
        )
    text = [
        f"**Dying ReLU** ([`04_dying_relu.py`](examples/04_dying_relu.py)): a 6 × 100 MLP on digits, "
        f"{cfg['epochs']} epochs, {cfg['seeds']} seeds; units *off* for every training image (dead for "
        "ReLU; on the negative side, but still learning, for the others), all layers together:",
        "",
        md_table(
            ["setting", "variant", "off @init", "off peak", "off @end", "test accuracy"], rows
        ),
        "",
        image(rel, d["_dir"], "dying_relu.png", "dead units during training"),
    ]
    return "\n".join(text), claims


def selu(d: Results, rel: str) -> tuple[str, list[Claim]]:
    res, cfg = d["results"], d["config"]
    depth = cfg["depth"]
    rows = [
        [
            name,
            f"{r['mean'][0]:+.3f} / {r['variance'][0]:.3g}",
            f"{r['final_mean']:+.3f} / {sci(r['final_variance'])}",
        ]
        for name, r in res.items()
    ]
    claims: list[Claim] = []
    if "selu" in res:
        v = res["selu"]["final_variance"]
        extra = ""
        if "selu + AlphaDropout(0.1)" in res:
            extra += f"; with AlphaDropout {res['selu + AlphaDropout(0.1)']['final_variance']:.2f}"
        if "selu + Dropout(0.1)" in res:
            extra += f"; with ordinary dropout {res['selu + Dropout(0.1)']['final_variance']:.2f}"
        starts = [
            res[k]["final_variance"]
            for k in ("selu, input var 0.1", "selu, input var 10")
            if k in res
        ]
        if starts:
            extra += f"; from input variance 0.1 / 10: {' / '.join(f'{s:.2f}' for s in starts)}"
        claims.append(
            (
                "SELU self-normalises: mean and variance stay stable",
                f"{depth} layers at LeCun init: variance {v:.2f}, mean {res['selu']['final_mean']:+.3f} at "
                f"layer {depth}{extra}; ReLU at the same init: {sci(res['relu']['final_variance'])}"
                if "relu" in res
                else f"variance {v:.2f} at layer {depth}{extra}",
                "agrees (with AlphaDropout, not ordinary dropout)"
                if 0.8 <= v <= 1.25
                else "disagrees",
            )
        )
    if {"elu", "relu"} <= set(res):
        claims.append(
            (
                "ELU's mean is closer to zero than ReLU's",
                f"layer-1 output mean: ELU {res['elu']['mean'][0]:+.3f}, ReLU {res['relu']['mean'][0]:+.3f}"
                + (f", SELU {res['selu']['mean'][0]:+.3f}" if "selu" in res else ""),
                "agrees"
                if abs(res["elu"]["mean"][0]) < abs(res["relu"]["mean"][0])
                else "disagrees",
            )
        )
    text = [
        f"**SELU self-normalisation** ([`05_selu_self_normalisation.py`]"
        f"(examples/05_selu_self_normalisation.py)): N(0, 1) inputs through {depth} dense layers of "
        f"{cfg['width']} (LeCun-normal weights unless noted); mean / variance of the output of layer 1 and "
        f"layer {depth}:",
        "",
        md_table(["network", "layer 1", f"layer {depth}"], rows),
        "",
        image(rel, d["_dir"], "self_normalisation.png", "mean and variance per layer"),
    ]
    return "\n".join(text), claims


def digits(d: Results, rel: str) -> tuple[str, list[Claim]]:
    res, cfg = d["results"], d["config"]
    order = sorted(res, key=lambda n: -res[n]["test_accuracy_mean"])
    rows = [
        [
            f"`{n}`",
            f"{res[n]['test_accuracy_mean']:.4f} ± {res[n]['test_accuracy_std']:.4f}",
            f"{res[n]['train_loss_final']:.4f}",
        ]
        for n in order
    ]
    claims: list[Claim] = []
    ties = {"relu", "tanh"} <= set(res) and abs(
        res["relu"]["test_accuracy_mean"] - res["tanh"]["test_accuracy_mean"]
    ) <= max(res["relu"]["test_accuracy_std"], res["tanh"]["test_accuracy_std"])
    if "relu" in res:
        r = res["relu"]
        family = [n for n in res if n not in ("sigmoid", "tanh")]
        better = [
            n
            for n in family
            if res[n]["test_accuracy_mean"] - r["test_accuracy_mean"]
            > max(res[n]["test_accuracy_std"], r["test_accuracy_std"])
        ]
        spread = (
            min(res[n]["test_accuracy_mean"] for n in family),
            max(res[n]["test_accuracy_mean"] for n in family),
        )
        measured = (
            f"ReLU family {spread[0]:.3f}–{spread[1]:.3f} (std ≈ "
            f"{max(res[n]['test_accuracy_std'] for n in family):.3f})"
        )
        if "tanh" in res:
            measured += f"; tanh {res['tanh']['test_accuracy_mean']:.3f}"
        if "sigmoid" in res:
            measured += f"; sigmoid {res['sigmoid']['test_accuracy_mean']:.3f}"
        claims.append(
            (
                "ReLU is the default hidden activation; its variants improve on it",
                measured,
                "partly: no variant beats ReLU by more than one std"
                + ("; tanh ties with ReLU" if ties else "")
                if not better
                else f"agrees: {', '.join(better)} beat ReLU by more than one std",
            )
        )
    if {"relu", "tanh", "sigmoid"} <= set(res):
        losses = {n: res[n]["train_loss_final"] for n in ("relu", "tanh", "sigmoid")}
        claims.append(
            (
                "ReLU speeds up training compared with sigmoid and tanh",
                f"training loss after {cfg['epochs']} epochs: ReLU {losses['relu']:.4f}, tanh "
                f"{losses['tanh']:.4f}, sigmoid {losses['sigmoid']:.4f}",
                (
                    "agrees on the training loss; held-out accuracy "
                    + ("ties with tanh" if ties else "differs from tanh's by more than one std")
                )
                if losses["relu"] < min(losses["tanh"], losses["sigmoid"])
                else "disagrees",
            )
        )
    text = [
        f"**Real data** ([`06_digits.py`](examples/06_digits.py)): the same MLP (3 × 128, Adam 1e-3, "
        f"{cfg['epochs']} epochs) on scikit-learn's digits ({d['n_train']} training / {d['n_test']} "
        f"held-out images), each activation at its standard initialisation, {cfg['seeds']} seeds:",
        "",
        md_table(["activation", "held-out accuracy", "final training loss"], rows),
        "",
        image(rel, d["_dir"], "digits.png", "accuracy per activation"),
    ]
    return "\n".join(text), claims


def prelu(d: Results, rel: str) -> tuple[str, list[Claim]]:
    res, cfg = d["results"], d["config"]
    rows = []
    for name, r in res.items():
        for layer, s in r["slope_summary"].items():
            rows.append(
                [
                    name,
                    layer,
                    s["channels"],
                    f"{s['mean']:.3f}",
                    f"{s['min']:.3f} … {s['max']:.3f}",
                    f"{s['negative']} of {s['channels'] * s['seeds']}",
                    f"{r['test_accuracy_mean']:.3f}",
                ]
            )
        if not r["slope_summary"]:
            rows.append([name, "–", "–", "–", "–", "–", f"{r['test_accuracy_mean']:.3f}"])
    claims: list[Claim] = []
    main = res.get("prelu, no decay on slopes")
    if main and main["slope_summary"]:
        means = [s["mean"] for s in main["slope_summary"].values()]
        neg = sum(s["negative"] for s in main["slope_summary"].values())
        total = sum(s["channels"] * s["seeds"] for s in main["slope_summary"].values())
        measured = (
            f"mean slope per layer {' → '.join(f'{m:.2f}' for m in means)} (from 0.25); "
            f"{neg} of {total} channel slopes negative"
        )
        decayed = res.get("prelu, decay on slopes")
        if decayed and decayed["slope_summary"]:
            dm = [s["mean"] for s in decayed["slope_summary"].values()]
            shrink = 1 - sum(dm) / sum(means)
            measured += f"; weight decay on the slopes shrinks them by {pct(shrink)}"
        if "relu" in res:
            measured += (
                f"; held-out accuracy {main['test_accuracy_mean']:.3f} ± "
                f"{main['test_accuracy_std']:.3f} vs ReLU's {res['relu']['test_accuracy_mean']:.3f} ± "
                f"{res['relu']['test_accuracy_std']:.3f}"
            )
        claims.append(
            (
                "PReLU learns its negative slope per neuron/channel",
                measured,
                "agrees; the slopes differ by layer (larger near the input)"
                if means[0] > means[-1]
                else "agrees",
            )
        )
    text = [
        f"**PReLU** ([`07_prelu.py`](examples/07_prelu.py)): a 3-layer CNN on the digits images, one "
        f"slope per channel (`jrelu.linen.PReLU(axis=-1)`), AdamW (weight decay {cfg['weight_decay']}) "
        f"with `mask=jrelu.weight_decay_mask`, {cfg['epochs']} epochs, {cfg['seeds']} seeds:",
        "",
        md_table(
            [
                "variant",
                "layer",
                "channels",
                "mean slope",
                "range",
                "slopes < 0 (all seeds)",
                "test acc",
            ],
            rows,
        ),
        "",
        image(rel, d["_dir"], "prelu_slopes.png", "learned PReLU slopes per channel"),
    ]
    return "\n".join(text), claims


def transformer(d: Results, rel: str) -> tuple[str, list[Claim]]:
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
    claims: list[Claim] = []
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
        f"**A transformer** ([`08_transformer.py`](examples/08_transformer.py)): a character-level "
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
    text.append(image(rel, d["_dir"], "transformer.png", "held-out loss, sparsity and step memory"))
    return "\n".join(text), claims


RENDERERS: dict[str, Callable[[Results, str], tuple[str, list[Claim]]]] = {
    "01_gallery": gallery,
    "02_vanishing_gradients": vanishing,
    "03_sparsity": sparsity,
    "04_dying_relu": dying,
    "05_selu_self_normalisation": selu,
    "06_digits": digits,
    "07_prelu": prelu,
    "08_transformer": transformer,
}


def render(results: dict[str, Results], rel: str = "examples/results") -> str:
    """The markdown between the markers (without them)."""
    sections, claims = [], []
    for name, fn in RENDERERS.items():
        if name in results:
            text, c = fn(results[name], rel)
            sections.append(text)
            claims += c
    meta = next(iter(results.values()), {})
    quick = any(r.get("quick") for r in results.values())
    head = [
        "## What the measurements say",
        "",
        "The source article (an introduction to ReLU and its variants) makes claims; the scripts in "
        "[`examples/`](examples/) measure them on real data with `jrelu.diagnostics`. Every number and "
        "figure below is generated by `python examples/run_all.py` (full runs"
        + (", **quick mode: not for publication**" if quick else "")
        + f"; JAX {meta.get('jax', '?')} on {meta.get('backend', '?').upper()}), which rewrites this section; "
        "none is typed by hand. Each script runs alone (`python examples/04_dying_relu.py --out DIR`) "
        "and is meant to be forked.",
        "",
    ]
    if claims:
        head += [md_table(["the article says", "measured", "verdict"], claims), ""]
    return "\n".join([*head, "\n\n".join(sections)]).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=os.path.join(HERE, "results"), metavar="DIR")
    p.add_argument("--readme", default=os.path.join(HERE, "README.md"), metavar="PATH")
    p.add_argument("--check", action="store_true", help="exit 1 if the section is not up to date")
    args = p.parse_args(argv)
    # The one splicer writes every generated section; it calls render() above for this one. Loaded by
    # its path: this module is imported as "update_readme" too (examples/run_all.py).
    path = os.path.join(ROOT, "benchmarks", "update_readme.py")
    spec = importlib.util.spec_from_file_location("jrelu_splicer", path)
    assert spec is not None and spec.loader is not None
    splicer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(splicer)
    opts = ["--examples-results", args.results, "--measurements-to", args.readme]
    return int(
        splicer.main(["--only", "measurements", *opts, *(["--check"] if args.check else [])])
    )


if __name__ == "__main__":
    sys.exit(main())
