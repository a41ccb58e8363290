"""`jrelu plot`: one figure of every function and derivative, kinks marked with jrelu's derivative."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import jrelu
from jrelu._cli import main
from jrelu._plot import _xrange, draw, kink_points  # matplotlib is imported only when drawing

pytest.importorskip("matplotlib", reason="jrelu plot needs matplotlib (pip install -e .[plot])")


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png_with_every_function(tmp_path, capsys):
    out = tmp_path / "sub" / "fns.png"  # the folder is created
    assert main(["plot", "--out", str(out), "--dpi", "40"]) == 0
    width, height = _png_size(out)
    assert width > 300 and height > 200
    assert str(out) in capsys.readouterr().out


def test_plot_svg_by_extension_and_a_subset(tmp_path):
    out = tmp_path / "two.svg"
    assert main(["plot", "--out", str(out), "--fns", "relu", "selu"]) == 0
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "selu" in text and "leaky_relu" not in text  # panel titles are text in the SVG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "fns.bmpx"], "unknown extension .bmpx; use .png or .svg"),
        (["--out", "fns"], "unknown extension (none)"),
        (["--out", "x.png", "--fns", "swish"], "unknown activation 'swish'; known names: relu"),
    ],
)
def test_plot_errors_exit_2_with_a_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", *argv]) == 2
    assert message in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # nothing written


def test_one_panel_per_registry_entry_titled_by_name():
    fig = draw()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("(")[0] for ax in visible] == list(jrelu.FUNCTIONS)
    # The kink convention, in the registry's words, is on each panel.
    for ax, spec in zip(visible, jrelu.FUNCTIONS.values(), strict=True):
        assert ax.get_xlabel().replace("\n", " ") == spec.kink_rule


@pytest.mark.parametrize("name", list(jrelu.FUNCTIONS))
def test_kink_marks_match_the_float64_reference(name):
    """The dot at each kink is jrelu's derivative there, which must be the registry's reference
    convention; the open circles are the one-sided limits of the reference derivative."""
    spec = jrelu.FUNCTIONS[name]
    points = kink_points(spec)
    assert [p["x"] for p in points] == sorted(spec.kinks)
    lo, hi = _xrange(spec.kinks)
    eps = 1e-3 * (hi - lo)
    value, deriv = spec.value, spec.derivative
    if spec.gated:  # the panel draws the gate b at a = 1: the reference at [1, b], its d/db
        value = lambda b, **p: spec.value(np.array([1.0, b]), **p)[0]  # noqa: E731
        deriv = lambda b, **p: spec.derivative(np.array([1.0, b]), **p)[1]  # noqa: E731
    for p in points:
        k = np.array(p["x"])
        assert p["value"] == pytest.approx(float(value(k, **spec.params)), abs=1e-7)
        assert p["derivative"] == pytest.approx(float(deriv(k, **spec.params)), rel=1e-6)
        assert p["left"] == pytest.approx(float(deriv(k - eps, **spec.params)), rel=1e-5)
        assert p["right"] == pytest.approx(float(deriv(k + eps, **spec.params)), rel=1e-5)


def test_plot_module_follows_the_subcommand_protocol():
    import argparse

    from jrelu import _plot

    assert isinstance(_plot.HELP, str) and _plot.HELP
    parser = argparse.ArgumentParser()
    _plot.configure(parser)
    args = parser.parse_args([])
    assert args.out == "jrelu_functions.png" and args.fns is None
