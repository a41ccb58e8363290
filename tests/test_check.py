"""``jrelu check``: it passes the real functions, and it catches broken ones.

Each broken function below differs from jrelu in one documented way (a kink convention, forward-mode
support, the backward-pass memory); the check must fail it, in the right column, and keep going.
"""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jrelu
import jrelu._registry as registry
from jrelu._cli import main
from jrelu.testing import check, compare, correctly_rounded


def _replace(monkeypatch: pytest.MonkeyPatch, name: str, fn) -> None:
    """Swap one function of the registry (the table every part of ``jrelu check`` reads)."""
    table = dict(registry.FUNCTIONS)
    table[name] = dataclasses.replace(table[name], fn=fn)
    monkeypatch.setattr(registry, "FUNCTIONS", MappingProxyType(table))


def _failed_columns(report, name: str) -> set[str]:
    return {r.column for r in report.by_function(name) if not r.passed}


@pytest.mark.slow
def test_cli_passes_and_writes_json(tmp_path, capsys):
    path = tmp_path / "check.json"
    rc = main(["check", "--fns", "relu,leaky_relu", "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "relu" in out and "PASS" in out and "FAIL" not in out

    data = json.loads(path.read_text())
    assert data["passed"] is True
    assert list(data["functions"]) == ["relu", "leaky_relu"]
    assert data["environment"]["backend"] == jax.default_backend()
    assert {"float32", "bfloat16", "float16", "float64"} <= set(data["dtypes"])
    assert data["summary"]["checks_failed"] == 0
    assert data["summary"]["checks"] == len(data["results"]) > 100
    for name, entry in data["functions"].items():
        assert entry["passed"] and entry["failures"] == [], name
        assert set(entry["worst"]) == {
            "values",
            "gradients",
            "kinks",
            "nan_inf",
            "transforms",
            "memory",
        }
        assert 0 <= entry["worst"]["values"] <= 2
        assert 0 <= entry["worst"]["memory"] <= 1 / 32 + 1e-3
    checks = {r["check"] for r in data["results"]}
    for transform in (
        "jit",
        "vmap",
        "jvp (tangent)",
        "jacfwd",
        "jacrev",
        "hessian",
        "grad of grad",
    ):
        assert transform in checks
    assert {
        "vmap over negative_slope",
        "d/dnegative_slope",
        "memory (traced negative_slope)",
    } <= checks
    # every registered variant of leaky_relu (its negative slope included) was checked
    slopes = {
        r["params"]["negative_slope"] for r in data["results"] if r["function"] == "leaky_relu"
    }
    assert {v["negative_slope"] for v in jrelu.FUNCTIONS["leaky_relu"].variants} <= slopes
    assert not jax.config.jax_enable_x64  # float64 was checked in a scoped x64 mode


@pytest.mark.slow
def test_wrong_kink_convention_fails(monkeypatch, capsys):
    """jax.nn.leaky_relu has derivative 1 at 0 (jrelu: the slope) and hides NaN behind the slope."""
    _replace(monkeypatch, "leaky_relu", jax.nn.leaky_relu)
    report = check(["leaky_relu"], dtypes=["float32"], memory=False)
    assert not report.passed
    failed = _failed_columns(report, "leaky_relu")
    assert {"kinks", "nan_inf"} <= failed and "values" not in failed and "memory" not in failed
    kink = next(r for r in report.results if r.column == "kinks" and not r.passed)
    assert "x=0" in kink.detail and "derivative 1" in kink.detail

    rc = main(["check", "--fns", "leaky_relu", "--dtypes", "float32", "--no-memory"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL" in out and "derivative at the kinks" in out


def test_forward_mode_failure_is_reported_per_transformation(monkeypatch):
    """A custom_vjp relu cannot be used under jvp, jacfwd or hessian; the rest still runs and passes."""

    @jax.custom_vjp
    def relu(x):
        return jnp.where(x > 0, x, 0.0)

    relu.defvjp(lambda x: (relu(x), x), lambda x, g: (jnp.where(x > 0, g, 0.0),))
    _replace(monkeypatch, "relu", relu)
    report = check(["relu"], dtypes=["float32"], memory=False)
    failed = {r.check for r in report.results if not r.passed}
    assert {"jvp", "jacfwd", "hessian"} <= failed
    assert all("raised" in r.detail for r in report.results if r.check in ("jvp", "jacfwd"))
    assert {"jit", "vmap", "jacrev", "grad of grad"}.isdisjoint(failed)
    assert _failed_columns(report, "relu") <= {"transforms", "nan_inf"}


def test_memory_regression_fails(monkeypatch):
    """jax.nn.relu keeps a full activation-sized tensor per layer (jrelu keeps none)."""
    _replace(monkeypatch, "relu", jax.nn.relu)
    report = check(["relu"], dtypes=["float32"], transforms=False)
    mem = [r for r in report.results if r.column == "memory"]
    assert len(mem) == 1 and not mem[0].passed
    assert mem[0].worst == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--fns", "relu,swish"],
            "jrelu check: --fns: unknown function 'swish'. Valid names: relu",
        ),
        (["--fns", "relu", "sleu"], "--fns: unknown function 'sleu'; did you mean 'selu'? Valid"),
        (["--dtypes", "float8"], "--dtypes: unknown dtype 'float8'; choose from float64"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    assert main(["check", *argv]) == 2
    assert message in capsys.readouterr().out


def test_round_is_correct_where_two_step_rounding_is_not():
    # just above the bfloat16 tie between 1 and 1 + 2**-7: float32 first would round it to the tie
    x = np.array([1 + 2.0**-8 + 2.0**-30, 1 + 2.0**-8, 1 + 3 * 2.0**-8, -(1 + 2.0**-8 + 2.0**-30)])
    # The premise, spelled out as two explicit roundings (each one correctly rounded in every ml_dtypes
    # version), not as whatever ml_dtypes' own float64 -> bfloat16 conversion does today: 0.7 rounds once.
    two_step = np.asarray(x.astype(np.float32).astype(ml_dtypes.bfloat16), np.float64)
    assert two_step[0] == 1.0
    np.testing.assert_array_equal(
        correctly_rounded(x, "bfloat16"), [1 + 2.0**-7, 1.0, 1 + 2.0**-6, -(1 + 2.0**-7)]
    )
    big = float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    half_ulp = 2.0**119  # half the spacing at bfloat16's largest finite number
    assert (
        correctly_rounded(np.array([big + half_ulp]), "bfloat16")[0] == np.inf
    )  # a tie, rounded to even: inf
    assert correctly_rounded(np.array([big + half_ulp / 2]), "bfloat16")[0] == big


def test_compare_counts_ulps_ties_and_flushes():
    ref = np.array([1.0, 2.0, 1.0 + 2.0**-8, 1e-39])
    # 1 ulp off, exact, the tie rounded up (allowed), a float32 subnormal flushed to zero (allowed)
    got = np.array([1 + 2.0**-7, 2.0, 1 + 2.0**-7, 0.0], ml_dtypes.bfloat16)
    c = compare(got, ref, "bfloat16", rounded_once=True, share=0.25)
    assert c.passed and c.worst == 1.0 and "1 ties" in c.note
    assert not compare(got, ref, "bfloat16", rounded_once=True, share=0.0).passed
    c = compare(np.float32([1.0, np.nan]), np.array([1.0 + 2.0**-23 * 3, np.nan]), "float32")
    assert not c.passed and c.worst == pytest.approx(3.0)
    assert not compare(np.float32([np.inf]), np.array([np.nan]), "float32").passed
    # tiny gradients are held to ulps of the floor, not of themselves
    assert compare(np.float32([1e-9]), np.array([1.1e-9]), "float32", floor=1.0).passed


# --------------------------------------------------------------------------------------------------
# alpha_dropout from the table; float8 on request; plurals
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_alpha_dropout_runs_real_checks_and_passes(capsys):
    """alpha_dropout is in the table: values and gradients against the NumPy reference of its mask,
    NaN/inf, the transformations (d/drate included), the keep share and the memory; one function, so
    the summary reads '1 function', not '1 functions'."""
    report = check(["alpha_dropout"])
    assert report.passed, [r for r in report.results if not r.passed]
    checks = {(r.column, r.check) for r in report.results}
    for want in [
        ("values", "values"),
        ("gradients", "gradients"),
        ("nan_inf", "NaN and ±inf inputs"),
        ("transforms", "d/drate (scalar)"),
        ("transforms", "vmap over rate"),
        ("transforms", "random (key)"),
        ("memory", "memory (key)"),
    ]:
        assert want in checks
    assert {r.dtype for r in report.results if r.column == "values"} == set(report.dtypes)
    assert all(r.worst <= 1e-3 for r in report.results if r.column == "memory")  # the key only
    assert main(["check", "--fns", "alpha_dropout", "--dtypes", "float32", "--no-x64"]) == 0
    out = capsys.readouterr().out
    assert "1 function, " in out and "1 functions" not in out and "all passed" in out


def test_a_wrong_dropout_mask_fails(monkeypatch):
    """The reference's mask is the documented hash, not jrelu's: a function drawing another mask
    (jax.random.bernoulli, as the baseline does) fails the values and gradients."""
    base = registry.FUNCTIONS["alpha_dropout"]
    _replace(monkeypatch, "alpha_dropout", lambda x, rate, key: base.baseline(x, key, rate))
    report = check(["alpha_dropout"], dtypes=["float32"], memory=False, transforms=False)
    assert {"values", "gradients"} <= _failed_columns(report, "alpha_dropout")


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_check_accepts_float8(dtype, capsys):
    argv = ["check", "--fns", "relu,elu", "--dtypes", dtype, "--no-memory", "--json", "-"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    values = [r for r in data["results"] if r["check"] == "values"]
    assert {r["dtype"] for r in values} == {dtype} and all(r["passed"] for r in values)


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_round_to_float8_is_correct(dtype):
    """correctly_rounded to float8 against a brute force over all 256 values: nearest, ties to even."""
    dt = np.dtype(getattr(ml_dtypes, dtype))
    table = np.arange(256, dtype=np.uint8).view(dt).astype(np.float64)
    finite = np.isfinite(table)
    vals, codes = table[finite], np.arange(256)[finite]
    rng = np.random.default_rng(0)
    top = float(ml_dtypes.finfo(dt).max)
    ref = np.concatenate([rng.uniform(-top, top, 2000), rng.normal(0, 1, 2000)])
    ref = np.concatenate([ref, (vals[1:] + vals[:-1]) / 2])  # exact ties
    dist = np.abs(ref[:, None] - vals[None, :])
    best = dist.min(axis=1, keepdims=True)
    score = np.where(dist == best, codes % 2, 2)  # ties to the even code
    want = vals[np.argmin(score, axis=1)]
    got = correctly_rounded(ref, dtype)
    np.testing.assert_array_equal(got, want)
