"""jrelu.testing, the public face of the checks: documented, importable on its own, and its oracle
independent of the code it judges (each figure here is worked out by hand or from the C library)."""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import jrelu
from jrelu import testing

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_public_name_is_documented_in_the_docstring_and_the_api_page():
    api = (ROOT / "docs" / "api.md").read_text()
    for name in testing.__all__:
        obj = getattr(testing, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"jrelu.testing.{name} has no docstring"
        assert f"jrelu.testing.{name}" in api, f"docs/api.md does not document {name}"
    assert testing.__doc__ and "float64 oracle" in testing.__doc__


def test_importing_jrelu_testing_needs_no_command_line_or_plotting():
    code = (
        "import sys, jrelu.testing\n"
        "heavy = [m for m in ('matplotlib', 'flax', 'optax', 'rich', 'jrelu._cli.bench') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reference_is_the_formula_with_limits_at_infinity():
    x = np.array([-np.inf, -2.0, -0.0, 0.0, 0.5, np.inf])
    value, derivative = testing.reference("elu", x, alpha=0.5)
    want = [-0.5, 0.5 * math.expm1(-2.0), 0.0, 0.0, 0.5, np.inf]
    np.testing.assert_array_equal(value, want)
    # the kink at 0 takes the left derivative alpha (PyTorch's convention), 1 on the right
    np.testing.assert_array_equal(derivative, [0.0, 0.5 * math.exp(-2.0), 0.5, 0.5, 1.0, 1.0])
    # relu at -inf: 0 * inf would be NaN; the limit is 0 with gradient 0
    value, derivative = testing.reference(jrelu.FUNCTIONS["relu"], np.array([-np.inf, np.inf]))
    np.testing.assert_array_equal(value, [0.0, np.inf])
    np.testing.assert_array_equal(derivative, [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown activation 'sleu'; did you mean 'selu'"):
        testing.reference("sleu", x)


def test_ulp_rounding_and_subnormals_by_hand():
    np.testing.assert_array_equal(
        testing.ulp(np.array([1.0, 0.75, 1e-45, np.inf]), "float32"),
        [2.0**-23, 2.0**-24, 2.0**-149, 2.0**104],  # below the normal range: the subnormal spacing
    )
    assert testing.ulp(np.array([1.0]), ml_dtypes.bfloat16)[0] == 2.0**-7  # a type, not only a name
    # 1 + 2^-8 is halfway between bfloat16 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8 up, to even
    np.testing.assert_array_equal(
        testing.correctly_rounded(np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, 1e300]), "bfloat16"),
        [1.0, 1 + 2.0**-6, np.inf],
    )
    np.testing.assert_array_equal(
        testing.is_subnormal(np.array([1e-39, 1e-39, 1e-39, 1e-310]), "float32"), [True] * 4
    )
    assert not testing.is_subnormal(np.array([1e-39]), "float64")[0]
    assert testing.is_subnormal(np.array([1e-37]), "bfloat16", band=16)[0]


def test_grids_and_compare():
    g = testing.grid("float32", kinks=(6.0,))
    assert g.dtype == np.float32 and np.isnan(g).any() and np.isposinf(g).any()
    assert {6.0, float(np.nextafter(np.float32(6), np.float32(7)))} <= set(
        g[np.isfinite(g)].tolist()
    )
    assert testing.grid("float16").size == 2**16
    f = testing.finite_grid()
    assert np.all(np.isfinite(f)) and {0.0, 6.0, -100.0} <= set(f.tolist())
    got = np.float32([1.0, 2.0 + 2.0**-22])  # the second is 1 ulp of 2 off
    c = testing.compare(got, np.array([1.0, 2.0]), "float32", tol=0.5)
    assert not c.passed and c.worst == 1.0 and c.index == 1
    assert testing.compare(got, np.array([1.0, 2.0]), "float32").passed  # within 2 ulp


def test_check_is_the_public_report():
    report = testing.check(["leaky_relu"], dtypes=["float32"], memory=False, transforms=False)
    assert isinstance(report, testing.Report) and report.passed
    assert report.functions == ["leaky_relu"] and report.dtypes == ["float32"]
    assert {r.column for r in report.results} <= set(testing.COLUMNS)
    assert report.to_json()["summary"]["checks"] == len(report.results)
