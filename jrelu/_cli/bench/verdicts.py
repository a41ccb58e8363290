"""``jrelu bench``: the verdicts -- where jrelu is faster than its peer, at parity or slower -- made so
that a busy machine cannot make them up.

Every timed row keeps the wall time and the process's CPU time of each repeat, and jrelu and its peer
are timed interleaved, repeat by repeat (:func:`jrelu._cli.bench.speed.time_interleaved`), so the
``i``-th repeats of the two ran next to each other. For one function in one section (its *pairs*: the
sizes of a speed section, the MLP and the CNN of the training step, ...):

* the **ratio** is the median over its pairs of each pair's median-time ratio (jrelu ÷ peer);
* its **interval** is a 90% bootstrap interval of that ratio: the repeats of each pair resampled
  together (a repeat of jrelu with the repeat of the peer beside it), :data:`BOOTSTRAP` times, from a
  fixed seed, so the same JSON always gives the same verdicts;
* the section's **noise band** is the median over its pairs of half the interquartile range of the
  per-repeat ratios, as before.

A ratio beyond the band is a *candidate* for "faster" or "slower". It becomes the verdict only on
consistent evidence:

1. its interval lies entirely on that side of 1;
2. CPU time agrees (where recorded): the same ratio from the repeats' CPU time is beyond the band
   on the same side. Wall time also counts the moments a process waited for a core; on a loaded
   machine one program of a pair can wait more than the other, CPU time does not see the waiting;
3. no single pair carries it: without the pair furthest in that direction, the median of the others
   is still beyond the band. (On a loaded 2-core machine one training step measured 1.58× its peer
   while the other model's step and a careful re-measurement gave 0.96–1.04.)

A ratio inside the band is "parity" when its interval lies within 1 ± max(2 × band,
:data:`PARITY_FLOOR`). Anything else is **inconclusive**: "inconclusive (machine busy)" when the run's
machine record (``results["machine"]``: load average and the share of a core a spin loop got, at the
start, after each section and at the end) says the machine was busy, otherwise inconclusive with the
reason. Before a section's verdict is made, the bench measures again the pairs of every function
whose candidate fails 1 or 3 (:func:`remeasure`; the training step), and the new repeats join the
old ones (:func:`pool_repeats`).

Everything here is generic over a section's rows: a row's *identity* is its descriptive fields (the
function, dtype, model, pass, size, ...: :func:`identity`), the rows of one identity measured as
jrelu and as its peer make a pair, so a section added to the bench gets its verdict without code
here (:data:`TIMED` only names the known sections and what splits them into lines).
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jrelu._cli.bench.speed import size_text

BOOTSTRAP = 2000  # resamples; the interval's ends move by well under 1% between seeds at 7 repeats
LEVEL = 0.90  # the interval's coverage
PARITY_FLOOR = 0.05  # medians of a shared 2-core machine agree to a few percent between runs
BUSY_SHARE = 0.9  # a spin loop getting less of a core than this: the machine was busy

OURS = "jrelu"
PEER = "jax.nn"  # the bench's name for a row's peer (row["peer"] says what it ran)
NOT_PEERS = ("jrelu", "torch", "copy", "identity", "probe")

# A row's fields that say what it measured or how, not what it is: its identity is the rest of its
# scalar fields (see identity()).
_MEASURED = re.compile(
    r"seconds|bytes|gbps|flops|tensors|fraction|repeats|per_call|per_repeat|loss|available|ratio"
    r"|^peer$|^impl$|^kernel$|^learned$"
)

# The known timed sections: (their name in the verdicts, the identity fields that give each value a
# line of its own). Any other section whose rows have "seconds" gets a verdict named after it.
TIMED: dict[str, tuple[str, tuple[str, ...]]] = {
    "speed": ("speed", ("pass", "dtype")),
    "train_step": ("training step", ()),
    "ffn": ("FFN training step", ()),
    "dispatch": ("eager call", ()),
    "blocks": ("transformer block step", ()),
}
# Not judged here: the copy ceiling, compile-only figures, the run's record, and the sparse section,
# whose rows pair jrelu.sparse with the dense product over a sparsity grid: its verdict is where it
# starts to pay (jrelu._cli.bench.sparse.verdict_lines), not one ratio.
_UNTIMED = ("copy", "memory", "skipped", "errors", "sparse")


# --------------------------------------------------------------------------------------------------
# Rows, pairs, the machine
# --------------------------------------------------------------------------------------------------


def identity(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What a row is, as ``((field, value), ...)``: its scalar fields that are not measurements."""
    return tuple(
        (k, v)
        for k, v in row.items()
        if isinstance(v, str | int | float | bool) and not _MEASURED.search(k)
    )


def label_of(row: dict[str, Any]) -> str:
    """The function a row measures, as the tables name it (``rrelu[train]``; the FFN rows: ``fn``)."""
    return str(row.get("label") or row.get("fn") or "?")


def pairs(
    rows: Iterable[dict[str, Any]], field: str = "seconds"
) -> dict[tuple, dict[str, dict[str, Any]]]:
    """``identity -> {"jrelu": row, "jax.nn": row}`` for the rows that have ``field``, measured as
    jrelu and as its peer. Where a section names its impls otherwise, the first impl that is not a
    reference (torch, the copy, the identity network) stands for the peer."""
    by: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if isinstance(r, dict) and "impl" in r and r.get(field) is not None:
            by[identity(r)][str(r["impl"])] = r
    out = {}
    for k, v in by.items():
        peer = PEER if PEER in v else next((i for i in v if i not in NOT_PEERS), None)
        if OURS in v and peer is not None:
            out[k] = {OURS: v[OURS], PEER: v[peer]}
    return out


def timed_sections(results: dict[str, Any]) -> list[str]:
    """The sections of ``results`` whose rows are timed: the known ones first, then any other."""
    found = [
        k
        for k, v in results.items()
        if k not in _UNTIMED
        and isinstance(v, list)
        and any(isinstance(r, dict) and "impl" in r and "seconds" in r for r in v)
    ]
    return [k for k in TIMED if k in found] + [k for k in found if k not in TIMED]


def busy(results: dict[str, Any]) -> bool | None:
    """Whether the machine was busy during the run (``results["machine"]``): a spin loop got less
    than :data:`BUSY_SHARE` of a core at the start, after a section or at the end, or the load
    average at the start exceeded the cores. None for a run that has no record (older JSON)."""
    m = results.get("machine")
    if not m:
        return None
    probes = [m.get("start"), m.get("end"), *(m.get("sections") or {}).values()]
    shares = [p["cpu_share"] for p in probes if p and p.get("cpu_share") is not None]
    load = (m.get("start") or {}).get("load")
    return bool((shares and min(shares) < BUSY_SHARE) or (load and load[0] > m.get("cores", 1e9)))


def machine_text(probe: dict[str, Any] | None) -> str:
    if not probe:
        return "–"
    load = probe.get("load")
    shown = " / ".join(f"{v:.2f}" for v in load) if load else "–"
    return f"load average {shown}, CPU time ÷ wall time {probe.get('cpu_share', float('nan')):.2f}"


# --------------------------------------------------------------------------------------------------
# Judging one section
# --------------------------------------------------------------------------------------------------


def _repeats(row: dict[str, Any], field: str) -> np.ndarray:
    return np.asarray(row.get(field) or [], np.float64)


def pair_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return float(a["seconds"] / b["seconds"])


def pair_spread(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Half the interquartile range of the per-repeat ratios ``a_i / b_i`` (None without repeats)."""
    ra, rb = _repeats(a, "seconds_repeats"), _repeats(b, "seconds_repeats")
    if not ra.size or ra.size != rb.size:
        return None
    q1, q3 = np.percentile(ra / rb, [25, 75])
    return float(q3 - q1) / 2


def _cpu_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    ca, cb = _repeats(a, "cpu_seconds_repeats"), _repeats(b, "cpu_seconds_repeats")
    if not ca.size or ca.size != cb.size or np.median(cb) <= 0:
        return None
    return float(np.median(ca) / np.median(cb))


def bootstrap(
    pair_rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], seed: int = 0
) -> tuple[float, float]:
    """The :data:`LEVEL` interval of the median over pairs of the pairs' median-time ratios, each
    pair's repeats resampled together (a pair without repeats stays at its ratio)."""
    rng = np.random.default_rng(seed)
    stats = []
    for a, b in pair_rows:
        ra, rb = _repeats(a, "seconds_repeats"), _repeats(b, "seconds_repeats")
        if ra.size >= 2 and ra.size == rb.size:
            idx = rng.integers(0, ra.size, (BOOTSTRAP, ra.size))
            stats.append(np.median(ra[idx], axis=1) / np.median(rb[idx], axis=1))
        else:
            stats.append(np.full(BOOTSTRAP, pair_ratio(a, b)))
    dist = np.median(np.stack(stats), axis=0)
    tail = (1 - LEVEL) / 2 * 100
    lo, hi = np.percentile(dist, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclasses.dataclass
class Call:
    """The verdict on one function in one section, and the evidence it rests on."""

    label: str
    kind: str  # faster, parity, slower or inconclusive
    ratio: float  # median over pairs of the median-time ratios
    low: float  # the bootstrap interval of ratio
    high: float
    cpu_ratio: float | None  # the same from CPU time, where recorded
    pairs: list[tuple[str, float]]  # each pair's ratio, named by what sets it apart
    reason: str = ""  # why a candidate did not stand (inconclusive)


def _candidate(r: float, band: float) -> str:
    return "faster" if r < 1 - band else "slower" if r > 1 + band else "parity"


def judge_one(
    label: str,
    rows: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
    band: float,
) -> Call:
    """The verdict on one function from its pairs ``(name, jrelu row, peer row)`` (module docstring)."""
    ratios = [pair_ratio(a, b) for _, a, b in rows]
    r = float(np.median(ratios))
    lo, hi = bootstrap([(a, b) for _, a, b in rows])
    cpus = [_cpu_ratio(a, b) for _, a, b in rows]
    cpu = float(np.median(cpus)) if cpus and all(c is not None for c in cpus) else None  # type: ignore[arg-type]
    call = Call(
        label, "", r, lo, hi, cpu, [(n, v) for (n, _, _), v in zip(rows, ratios, strict=True)]
    )
    kind = _candidate(r, band)
    why = ""
    if kind == "parity":
        reach = max(2 * band, PARITY_FLOOR)
        if lo < 1 - reach or hi > 1 + reach:
            why = f"the interval {lo:.2f}–{hi:.2f} reaches past 1 ± {reach:.2f}"
    else:
        sign = 1 if kind == "slower" else -1  # +1: above 1 is the verdict's side
        if (sign > 0 and lo <= 1) or (sign < 0 and hi >= 1):
            why = f"the interval {lo:.2f}–{hi:.2f} includes 1"
        elif cpu is not None and _candidate(cpu, band) != kind:
            why = f"CPU time says {cpu:.2f}"
        elif len(ratios) > 1:
            rest = sorted(ratios, key=lambda v: sign * v)[:-1]  # the furthest pair left out
            if _candidate(float(np.median(rest)), band) != kind:
                why = "one pair carries it"
    call.kind, call.reason = ("inconclusive", why) if why else (kind, "")
    return call


def _names(keys: Sequence[tuple], skip: Iterable[str]) -> list[str]:
    """Each pair's name: the values of the identity fields that differ between ``keys``."""
    skip = set(skip)
    dicts = [dict(k) for k in keys]
    fields = [f for f in dicts[0] if f not in skip and len({str(d.get(f)) for d in dicts}) > 1]
    return [
        " ".join(size_text(d[f]) if f == "size" else str(d[f]) for f in fields) or "-"
        for d in dicts
    ]


def judge(
    section_pairs: dict[tuple, dict[str, dict[str, Any]]], is_busy: bool | None = None
) -> dict[str, Any]:
    """The verdict of one section's pairs: its band and a :class:`Call` per function, with the lists
    ``faster``, ``parity``, ``slower`` and ``inconclusive`` of ``(label, ratio)``."""
    spreads = [pair_spread(p[OURS], p[PEER]) for p in section_pairs.values()]
    known = [v for v in spreads if v is not None]
    band = float(np.median(known)) if known else 0.0
    per: dict[str, list[tuple]] = defaultdict(list)
    for k, p in section_pairs.items():
        per[label_of(p[OURS])].append(k)
    out: dict[str, Any] = {
        "band": band,
        "busy": is_busy,
        "calls": {},
        **{kind: [] for kind in ("faster", "parity", "slower", "inconclusive")},
    }
    for label, keys in per.items():
        names = _names(keys, ("label", "fn", "key"))
        rows = [
            (n, section_pairs[k][OURS], section_pairs[k][PEER])
            for n, k in zip(names, keys, strict=True)
        ]
        call = judge_one(label, rows, band)
        out["calls"][label] = call
        out[call.kind].append((label, call.ratio))
    out["bytes"] = bytes_ratios(section_pairs)
    return out


def bytes_ratios(section_pairs: dict[tuple, dict[str, dict[str, Any]]]) -> list[tuple[str, float]]:
    """Per function, the median over its pairs of jrelu's bytes accessed ÷ its peer's, where the rows
    carry XLA's ``bytes_accessed`` of the timed programs (deterministic: no band, no interval)."""
    per: dict[str, list[float]] = defaultdict(list)
    for p in section_pairs.values():
        a, b = p[OURS].get("bytes_accessed", -1), p[PEER].get("bytes_accessed", -1)
        if a > 0 and b > 0:
            per[label_of(p[OURS])].append(a / b)
    return [(label, float(np.median(v))) for label, v in per.items()]


def _scope(keys: Sequence[tuple], skip: Iterable[str]) -> str:
    """What a verdict's pairs span: ``size 2^16–2^24``, ``model mlp / cnn``."""
    skip = set(skip)
    values: dict[str, list[Any]] = defaultdict(list)
    for k in keys:
        for f, v in k:
            if f not in skip and v not in values[f]:
                values[f].append(v)
    parts = []
    for f, vs in values.items():
        if f == "size":
            ns = sorted(vs)
            parts.append(
                size_text(ns[0]) + (f"–{size_text(ns[-1])}" if len(ns) > 1 else "") + " elements"
            )
        else:
            parts.append(f"{f} {' / '.join(map(str, vs))}")
    return ", ".join(parts)


def section_verdicts(results: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """The verdicts of one timed section: one per value of its splitting fields (speed: per pass and
    dtype), each ``{"name", "section", "scope", **judge(...)}``."""
    name, split = TIMED.get(section, (section.replace("_", " "), ()))
    all_pairs = pairs(results.get(section, []))
    groups: dict[tuple, dict[tuple, Any]] = defaultdict(dict)
    for k, p in all_pairs.items():
        d = dict(k)
        groups[tuple(d.get(f) for f in split)][k] = p
    is_busy = busy(results)
    out = []
    for values, group in groups.items():
        title = " ".join([name, *(str(v) for v in values if v is not None)])
        scope = _scope(list(group), ("label", "fn", "key", "kind", *split))
        out.append({"name": title, "section": section, "scope": scope, **judge(group, is_busy)})
    return out


def remeasure(results: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """The identities (as dicts) of the pairs to measure again before ``section``'s verdict is made:
    every pair of a function whose candidate verdict fails for its interval or for resting on one
    pair (not for CPU time: measuring again would not change what CPU time says)."""
    out = []
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for k, p in pairs(results.get(section, [])).items():
        by_label[label_of(p[OURS])].append(dict(k))
    for v in section_verdicts(results, section):
        for call in v["calls"].values():
            if call.kind == "inconclusive" and "CPU time" not in call.reason:
                if _candidate(call.ratio, v["band"]) != "parity":
                    out += [d for d in by_label[call.label]]
    return out


def pool_repeats(rows: list[dict[str, Any]], again: Sequence[dict[str, Any]]) -> None:
    """Join the repeats of ``again`` (a re-measurement) to the rows of ``rows`` of the same identity
    and impl, in place: the figures become those of all the repeats, and ``remeasured`` says how many
    came first."""
    index = {(identity(r), r.get("impl")): r for r in rows}
    for new in again:
        row = index[(identity(new), new.get("impl"))]
        first = len(row.get("seconds_repeats") or [])
        times = [*(row.get("seconds_repeats") or []), *new["seconds_repeats"]]
        cpu = [*(row.get("cpu_seconds_repeats") or []), *(new.get("cpu_seconds_repeats") or [])]
        q1, med, q3 = np.percentile(times, [25, 50, 75])
        row.update(
            seconds=float(med),
            seconds_q1=float(q1),
            seconds_q3=float(q3),
            repeats=len(times),
            seconds_repeats=times,
            cpu_seconds_repeats=cpu if len(cpu) == len(times) else [],
            remeasured={"first_repeats": first},
        )


# --------------------------------------------------------------------------------------------------
# Every section, and the memory saved
# --------------------------------------------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of every timed section (:func:`section_verdicts`), then the memory verdict
    (``name == "memory"``)."""
    out = [v for s in timed_sections(results) for v in section_verdicts(results, s)]
    mem = memory_verdict(results)
    if mem:
        out.append(mem)
    return out


def memory_verdict(results: dict[str, Any]) -> dict[str, Any] | None:
    """Per function: the activation tensors per layer jrelu keeps fewer than its peer (> 0: saves) in
    every section that counts them (a field ``extra_..._tensors_...``), and those bytes per layer at
    the measured sizes; or why the figures are unavailable."""
    status = results.get("memory_status", {"available": True, "reason": ""})
    found = False
    saves: dict[str, list[tuple[str, float, float | None]]] = defaultdict(list)
    for section, rows in results.items():
        if not isinstance(rows, list):
            continue
        for field in sorted(
            {f for r in rows if isinstance(r, dict) for f in r if _counts_tensors(f)}
        ):
            for k, p in pairs(rows, field).items():
                found = True
                a, b = p[OURS], p[PEER]
                d = b[field] - a[field]
                size = a.get("tensor_bytes")
                what = [str(v) for f, v in k if f not in ("label", "fn", "key", "kind", "dtype")]
                if "dtype" in dict(k) and section != "memory":
                    what.append(str(dict(k)["dtype"]))
                where = " ".join(([] if section == "memory" else [section]) + what)
                saves[label_of(a)].append((where, d, d * size if size else None))
    if not found:
        return None
    if not status.get("available", True):
        return {"name": "memory", "available": False, "reason": status.get("reason", "")}
    return {"name": "memory", "available": True, "saves": dict(saves)}


def _counts_tensors(field: str) -> bool:
    return field.startswith("extra_") and "tensors" in field
