"""The command line entry points: `jrelu`, `python -m jrelu`, --help, --version, list."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jrelu
from jrelu._cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"jrelu {jrelu.__version__}"
    assert main([]) == 0 and "usage: jrelu" in capsys.readouterr().out


def test_list_prints_every_function_with_its_kink_rule(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, spec in jrelu.FUNCTIONS.items():
        assert name in out and spec.kink_rule in out


def test_python_dash_m_and_no_flax_on_import():
    out = subprocess.run(
        [sys.executable, "-m", "jrelu", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"jrelu {jrelu.__version__}"
    code = "import sys, jrelu; assert 'flax' not in sys.modules, 'import jrelu imported flax'"
    subprocess.run([sys.executable, "-c", code], check=True)


HEAVY = (
    "matplotlib",
    "flax",
    "optax",
    "jrelu._cli.bench.driver",
    "jrelu._cli.bench.models",
    "jrelu._cli.bench.compare",
)


def test_help_builds_every_parser_without_the_heavy_modules():
    """`jrelu --help` and each `jrelu <command> --help` import no plotting, Flax, optax or benchmark
    code: the parser is built from the commands' light modules (a fresh process: nothing cached)."""
    code = (
        "import contextlib, io, sys\n"
        "import jrelu._cli as cli\n"
        "for argv in ([], *([c] for c in cli.COMMANDS)):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "        cli.build_parser().parse_args([*argv, '--help'])\n"
        "    assert 'usage: jrelu' in out.getvalue(), argv\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, f'jrelu --help imported {loaded}'\n"
        "assert set(cli.COMMANDS) == {'bench', 'check', 'plot', 'list', 'compare'}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # and the real entry point, end to end
    out = subprocess.run(
        [sys.executable, "-m", "jrelu", "bench", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: jrelu bench" in out.stdout and "--sections" in out.stdout


# --------------------------------------------------------------------------------------------------
# One syntax for --fns in every command; errors that name the command and option
# --------------------------------------------------------------------------------------------------

COMMANDS_WITH_FNS = ("check", "plot", "bench")


@pytest.mark.parametrize("command", COMMANDS_WITH_FNS)
@pytest.mark.parametrize(
    "fns",
    [["relu,elu,selu"], ["relu", "elu", "selu"], ["relu,", "elu", ",selu"], ["Relu, ELU", "selu"]],
)
def test_fns_takes_spaces_or_commas_in_every_command(command, fns):
    from jrelu._cli import build_parser, fn_names

    args = build_parser().parse_args([command, "--fns", *fns])
    assert fn_names(args.fns, command) == ["relu", "elu", "selu"]


def test_fns_commas_and_spaces_reach_the_commands(tmp_path, capsys):
    """The commands themselves run what was asked: check's table rows, plot's panels."""
    assert main(["check", "--fns", "relu,relu6", "--dtypes", "float32", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "2 functions," in out and "leaky_relu" not in out
    svg = tmp_path / "p.svg"
    assert main(["plot", "--out", str(svg), "--fns", "relu,selu", "elu"]) == 0
    text = svg.read_text()
    assert all(n in text for n in ("relu", "selu", "elu")) and "leaky_relu" not in text


@pytest.mark.parametrize("command", COMMANDS_WITH_FNS)
def test_unknown_fns_names_command_option_valid_names_and_close_ones(command, capsys):
    """Not `jrelu.get: unknown activation` but: the command, --fns, every valid name, and the
    close ones."""
    argv = [command, "--fns", "relu", "reul"] + (["--out", "x.png"] if command == "plot" else [])
    assert main(argv) == 2
    cap = capsys.readouterr()
    text = " ".join((cap.out + cap.err).split())
    assert f"jrelu {command}: --fns: unknown function 'reul'; did you mean 'relu'" in text
    assert "Valid names: " + ", ".join(jrelu.FUNCTIONS) + " (see `jrelu list`)." in text
    assert "jrelu.get" not in text and "Traceback" not in text


# --------------------------------------------------------------------------------------------------
# jrelu list
# --------------------------------------------------------------------------------------------------


def test_list_has_a_header_aligned_columns_and_required_parameters(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rule, *rows, footer = lines
    titles = ("function", "family", "parameters", "kink convention")
    starts = [header.index(t) for t in titles]
    assert starts == sorted(starts) and starts[0] == 0
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == len(jrelu.FUNCTIONS)
    for row, (name, spec) in zip(rows, jrelu.FUNCTIONS.items(), strict=True):
        # every column starts where its title does: the family, the parameters, the kink rule
        assert row.split()[0] == name
        assert row[starts[1] :].startswith(spec.family)
        assert row[starts[3] :] == spec.kink_rule
        assert row[starts[1] - 2 : starts[1]] == "  " and row[starts[3] - 2 : starts[3]] == "  "
    prelu = rows[list(jrelu.FUNCTIONS).index("prelu")]
    assert "negative_slope (required, e.g. 0.25)" in prelu and "negative_slope=" not in prelu
    dropout = rows[list(jrelu.FUNCTIONS).index("alpha_dropout")]
    assert "rate (required" in dropout and "key (required)" in dropout
    assert footer.startswith(f"{len(jrelu.FUNCTIONS)} functions;")


def test_plural():
    from jrelu._cli import plural

    assert (plural(1, "function"), plural(0, "check"), plural(2, "check")) == (
        "1 function",
        "0 checks",
        "2 checks",
    )
