"""`jrelu plot`: one figure of every function and derivative, kinks marked with jrelu's derivative."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import jrelu
from jrelu._cli import main
from jrelu._cli.plot import _xrange, draw, kink_points  # matplotlib is imported only when drawing

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
        (
            ["--out", "x.png", "--fns", "swish"],
            "jrelu plot: --fns: unknown function 'swish'. Valid",
        ),
        (["--out", "x.png", "--dpi", "-5"], "jrelu plot: --dpi must be a positive number"),
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

    from jrelu._cli import plot as _plot

    assert isinstance(_plot.HELP, str) and _plot.HELP
    parser = argparse.ArgumentParser()
    _plot.configure(parser)
    args = parser.parse_args([])
    assert args.out == "jrelu_functions.png" and args.fns is None


def _outside(fig) -> list[str]:
    """The texts (suptitle, legend, panel titles, kink rules) whose rendered boxes leave the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    items = [("suptitle", fig._suptitle)] + [("legend", leg) for leg in fig.legends]
    for ax in fig.axes:
        if ax.get_visible():
            items += [("title", ax.title), ("kink rule", ax.xaxis.label)]
    bad = []
    for what, artist in items:
        b = artist.get_window_extent(renderer)
        if b.x0 < box.x0 - 0.5 or b.y0 < box.y0 - 0.5 or b.x1 > box.x1 + 0.5 or b.y1 > box.y1 + 0.5:
            bad.append(f"{what} {b.bounds} outside {box.bounds}")
    return bad


@pytest.mark.parametrize("names", [["prelu"], ["relu", "selu"], ["elu", "celu", "selu"], None])
def test_titles_and_legends_are_not_clipped(names):
    fig = draw(names)
    assert fig._suptitle is not None and fig.legends  # there is something to clip
    assert _outside(fig) == []
    # the saved file is the drawn figure: its size is the figure's (savefig does not crop)
    tight = fig.get_tightbbox()
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01
    assert tight.x1 <= fig.get_figwidth() + 0.01 and tight.y1 <= fig.get_figheight() + 0.01


def test_celu_panel_shows_how_it_differs_from_elu():
    """With alpha = 1 celu is elu; its panel draws alpha = 2 (Spec.shown), the title says so, and the
    curve is celu(x, alpha=2) by the float64 reference, visibly apart from elu's."""
    fig = draw(["elu", "celu"])
    elu_ax, celu_ax = fig.axes[:2]
    assert celu_ax.get_title() == "celu(alpha=2)"
    (xe, ye), (xc, yc) = (
        ax.get_lines()[2].get_data() for ax in (elu_ax, celu_ax)
    )  # after the axes
    np.testing.assert_array_equal(xe, xc)
    xs = np.asarray(xc, np.float64)
    ref = jrelu.FUNCTIONS["celu"].value(xs, alpha=2.0)
    np.testing.assert_allclose(yc, ref, rtol=1e-6, atol=1e-6)
    assert np.max(np.abs(np.asarray(ye) - np.asarray(yc))) > 0.5


def test_alpha_dropout_panel_draws_its_kept_and_dropped_values():
    """One key: each drawn point is kept (a x + b) or dropped (the dropped value), per the reference."""
    import jax

    fig = draw(["alpha_dropout"])
    ax = fig.axes[0]
    (x, y), (_, dy) = (line.get_data() for line in ax.get_lines()[2:4])
    spec = jrelu.FUNCTIONS["alpha_dropout"]
    key = jax.random.key(0)
    xs = np.asarray(x, np.float64)
    np.testing.assert_allclose(y, spec.value(xs, key=key, rate=0.2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dy, spec.derivative(xs, key=key, rate=0.2), rtol=1e-6)
    assert 0.1 < np.mean(np.asarray(dy) == 0) < 0.3  # about the rate dropped


def test_missing_or_failing_matplotlib_gives_a_message_not_a_traceback(
    tmp_path, monkeypatch, capsys
):
    import sys

    import matplotlib.figure

    out = tmp_path / "f.png"

    def broken(*args, **kwargs):
        raise RuntimeError("the backend fell over")

    with monkeypatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "savefig", broken)
        assert main(["plot", "--out", str(out), "--fns", "relu"]) == 1
    text = capsys.readouterr().out
    assert "jrelu plot: could not write" in text and "RuntimeError: the backend fell over" in text
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
        assert main(["plot", "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert "jrelu plot: needs matplotlib" in text and "pip install 'jrelu[plot]'" in text
    assert not out.exists()
