"""`jrelu bench`'s verdicts (jrelu._cli.bench.verdicts) on synthetic repeats whose answer is known by
construction: consistent evidence makes a call, one outlying pair, CPU time that disagrees or an
interval that reaches 1 make it inconclusive ("machine busy" when the run's machine record says so),
the pairs that would carry a call alone are measured again and their repeats pooled, and a section
the bench adds later gets its verdict from its rows alone. Nothing is timed here."""

from __future__ import annotations

import numpy as np
import pytest

from jrelu._cli.bench import report as _report
from jrelu._cli.bench import verdicts as _v

# The peer's repeats, and jrelu's relative to them: the per-repeat ratios are ratio × JITTER, whose
# median is 1, so a pair's ratio of median times is ratio exactly.
BASE = np.full(9, 1e-3)
JITTER = 1 + 0.02 * np.array([0.0, 1, -1, 0.5, -0.5, 0.8, -0.8, 0.3, -0.3])


def pair(label: str, ratio: float, *, cpu: float | None = None, jitter=JITTER, **ident) -> list:
    """Rows of jrelu and its peer: jrelu's repeats are the peer's times ``ratio`` (times ``jitter``);
    the CPU-time repeats give ``cpu`` (default: the same ratio as the wall time)."""
    a = BASE * ratio * jitter
    ca = BASE * (ratio if cpu is None else cpu) * jitter
    rows = []
    for impl, t, c in (("jrelu", a, ca), ("jax.nn", BASE, BASE)):
        rows.append(
            {
                "label": label,
                "fn": label,
                "impl": impl,
                **ident,
                "seconds": float(np.median(t)),
                "seconds_repeats": [float(v) for v in t],
                "cpu_seconds_repeats": [float(v) for v in c],
            }
        )
    return rows


def one(results: dict, section: str = "train_step") -> dict:
    (v,) = _v.section_verdicts(results, section)
    return v


QUIET = {"cores": 2, "start": {"load": [0.1, 0.1, 0.1], "cpu_share": 0.99}, "sections": {}}
BUSY = {"cores": 2, "start": {"load": [9.0, 8.0, 6.0], "cpu_share": 0.31}, "sections": {}}


def test_consistent_evidence_makes_the_call():
    """Three functions, each measured at three sizes: 0.6x, 1.0x and 1.5x their peer in every pair
    and every repeat. Their ratios are those, the 90% bootstrap intervals hold them and lie on one
    side of 1, and the calls are faster, parity and slower."""
    rows = []
    for label, ratio in (("elu", 0.6), ("relu", 1.0), ("selu", 1.5)):
        for size in (2**16, 2**20, 2**24):
            rows += pair(label, ratio, size=size, dtype="float32", **{"pass": "fwd"})
    results = {"speed": rows, "machine": QUIET}
    (v,) = _v.verdicts(results)
    assert v["name"] == "speed fwd float32" and v["scope"] == "2^16–2^24 elements"
    calls = v["calls"]
    assert {k: calls[k].kind for k in calls} == {
        "elu": "faster",
        "relu": "parity",
        "selu": "slower",
    }
    for label, ratio in (("elu", 0.6), ("relu", 1.0), ("selu", 1.5)):
        c = calls[label]
        assert c.ratio == pytest.approx(ratio)
        assert c.low <= c.ratio <= c.high and c.high - c.low < 0.05 * ratio
    (line,) = _report.verdict_lines(results)
    assert (
        "faster: elu 0.60× (" in line and "parity: relu" in line and "slower: selu 1.50× (" in line
    )


def test_identical_repeats_give_a_point_interval():
    c = _v.judge_one("relu", [("mlp", *pair("relu", 1.25, jitter=np.ones(9)))], band=0.0)
    assert c.low == pytest.approx(1.25) and c.high == pytest.approx(1.25) and c.kind == "slower"


def test_one_outlying_pair_is_inconclusive_and_measured_again():
    """The busy-machine case of the issue: prelu's MLP step 1.58x its peer in every repeat, its CNN
    step 1.00x. The median of the two (1.29) is beyond the band, but it rests on one pair: without
    it the other says parity. So the call is inconclusive, "machine busy" on a busy machine, and both
    of prelu's pairs are measured again; relu (1.00 and 1.01) is at parity and is not."""
    rows = pair("prelu", 1.58, model="mlp") + pair("prelu", 1.00, model="cnn")
    rows += pair("relu", 1.00, model="mlp") + pair("relu", 1.01, model="cnn")
    results = {"train_step": rows, "machine": BUSY}
    v = one(results)
    c = v["calls"]["prelu"]
    assert c.kind == "inconclusive" and c.reason == "one pair carries it"
    assert c.ratio == pytest.approx(np.median([1.58, 1.00]))
    assert dict(c.pairs) == pytest.approx({"mlp": 1.58, "cnn": 1.00})
    assert v["calls"]["relu"].kind == "parity"
    (line,) = _report.verdict_lines(results)
    assert (
        "inconclusive (machine busy): prelu 1.29× (mlp 1.58, cnn 1.00; one pair carries it)" in line
    )
    assert (
        "inconclusive (machine busy)" not in _report.verdict_lines({**results, "machine": QUIET})[0]
    )

    again = _v.remeasure(results, "train_step")
    assert sorted((d["label"], d["model"]) for d in again) == [("prelu", "cnn"), ("prelu", "mlp")]

    # Measured again, the MLP step is 1.00x: the repeats join, the figures are those of all of them,
    # and prelu is at parity.
    _v.pool_repeats(rows, pair("prelu", 1.00, model="mlp"))
    (row,) = [
        r for r in rows if r["model"] == "mlp" and r["label"] == "prelu" and r["impl"] == "jrelu"
    ]
    pooled = np.concatenate([BASE * 1.58 * JITTER, BASE * 1.00 * JITTER])
    assert row["seconds_repeats"] == pytest.approx(list(pooled)) and row["repeats"] == 18
    assert row["seconds"] == pytest.approx(np.median(pooled))
    assert row["remeasured"] == {"first_repeats": 9}
    assert len(row["cpu_seconds_repeats"]) == 18


def test_cpu_time_that_disagrees_makes_it_inconclusive():
    """Wall time says 1.3x in every repeat, CPU time 1.0x: the difference is waiting for a core,
    not work. Inconclusive, and not measured again (CPU time would say the same)."""
    rows = pair("celu", 1.3, cpu=1.0, model="mlp") + pair("celu", 1.3, cpu=1.0, model="cnn")
    results = {"train_step": rows, "machine": BUSY}
    c = one(results)["calls"]["celu"]
    assert c.kind == "inconclusive" and c.reason.startswith("CPU time says 1.00")
    assert c.cpu_ratio == pytest.approx(1.0)
    assert _v.remeasure(results, "train_step") == []
    # with CPU time on the same side, the same wall times make the call
    rows = pair("celu", 1.3, model="mlp") + pair("celu", 1.3, model="cnn")
    assert one({"train_step": rows})["calls"]["celu"].kind == "slower"


def test_an_interval_that_reaches_one_is_inconclusive():
    """A ratio of 1.2 whose repeats scatter from 0.5 to 1.9: beyond the band, but the bootstrap
    interval includes 1."""
    spread = np.array([0.5, 1.9, 0.6, 1.8, 1.2, 0.7, 1.7, 1.25, 0.9])
    rows = pair("leaky_relu", 1.0, jitter=spread, model="mlp")
    rows += pair("relu", 1.0, model="mlp") + pair("elu", 1.0, model="mlp")
    v = one({"train_step": rows})
    c = v["calls"]["leaky_relu"]
    assert c.ratio == pytest.approx(float(np.median(spread))) and c.ratio > 1 + v["band"]
    assert c.low < 1 < c.high
    assert c.kind == "inconclusive" and "includes 1" in c.reason


def test_parity_needs_a_narrow_interval():
    """Inside the band but with an interval wider than 1 ± max(2 × band, 5%): not parity."""
    spread = np.array([0.5, 1.5, 0.6, 1.4, 1.0, 0.7, 1.3, 0.98, 1.02])
    rows = pair("relu6", 1.0, jitter=spread, model="mlp")
    rows += pair("relu", 1.0, model="mlp") + pair("elu", 1.0, model="mlp")
    v = one({"train_step": rows})
    c = v["calls"]["relu6"]
    assert abs(c.ratio - 1) <= v["band"] and c.kind == "inconclusive"
    assert "reaches past" in c.reason


@pytest.mark.parametrize(
    ("machine", "busy"),
    [
        (QUIET, False),
        (BUSY, True),
        ({**QUIET, "start": {"load": [3.0, 1, 1], "cpu_share": 0.99}}, True),  # load > cores
        ({**QUIET, "end": {"load": [0.1, 1, 1], "cpu_share": 0.5}}, True),  # busy at the end
        ({**QUIET, "sections": {"train": {"load": [0, 0, 0], "cpu_share": 0.6}}}, True),
        (None, None),  # a file from before the record
    ],
)
def test_busy_reads_the_machine_record(machine, busy):
    assert _v.busy({} if machine is None else {"machine": machine}) is busy


def test_a_section_the_bench_adds_gets_verdicts_from_its_rows():
    """A section that no code here names (as a transformer-block section would be): its rows' own
    fields tell its pairs apart (d_model, dtype), its timing gives a verdict named after it, and a
    field counting kept tensors gives memory saved."""
    rows = []
    for d in (64, 256):
        for r in pair("relu", 0.5, d_model=d, dtype="float32"):
            r["extra_hidden_tensors_per_block"] = 0.0 if r["impl"] == "jrelu" else 1.0
            r["tensor_bytes"] = 4 * d
            rows.append(r)
    results = {"transformer_block": rows}
    (timed, mem) = _v.verdicts(results)
    assert (
        timed["name"] == "transformer block" and timed["scope"] == "d_model 64 / 256, dtype float32"
    )
    c = timed["calls"]["relu"]
    assert c.kind == "faster" and dict(c.pairs).keys() == {"64", "256"}
    saves = mem["saves"]["relu"]
    assert [(where, d, b) for where, d, b in saves] == [
        ("transformer_block 64 float32", 1.0, 256.0),
        ("transformer_block 256 float32", 1.0, 1024.0),
    ]


def test_pairs_need_both_impls_and_the_field():
    rows = pair("relu", 1.0, model="mlp")
    lone = {"label": "elu", "fn": "elu", "impl": "jrelu", "model": "mlp", "seconds": 1.0}
    untimed = {"label": "selu", "fn": "selu", "impl": "jrelu", "model": "mlp"}
    got = _v.pairs([*rows, lone, untimed, dict(untimed, impl="jax.nn")])
    assert [dict(k)["label"] for k in got] == ["relu"]
