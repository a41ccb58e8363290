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
