"""The ``jrelu`` command line: ``jrelu --version``, ``jrelu --help`` and the subcommands.

Each subcommand is a module of this package exposing ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int``: ``list_`` (``jrelu list``), ``check``, ``plot``, ``bench`` and ``compare``. They are imported to build the parser,
so their module-level imports are cheap ones -- jrelu itself (jax, numpy), rich, and
:mod:`jrelu.testing` behind ``check``. What is heavy stays out of the parser: the benchmark (flax, optax,
its models and timers) lives in :mod:`jrelu._cli.bench`, whose ``__init__`` holds only the options and
whose ``run`` imports the driver; matplotlib, an optional extra, is imported where a figure is drawn.
``jrelu --help`` imports neither (``tests/test_cli.py`` checks it).

The ``--fns`` helpers below are shared by every command and by :func:`jrelu.testing.check`, whose
errors name ``jrelu check`` as the command does.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from jrelu import _registry
from jrelu._version import __version__

# command -> module; the module provides HELP, configure(parser) and run(args).
COMMANDS = {
    "bench": "jrelu._cli.bench",
    "compare": "jrelu._cli.compare",
    "check": "jrelu._cli.check",
    "plot": "jrelu._cli.plot",
    "list": "jrelu._cli.list_",  # list_: a submodule named list would shadow list() in this package
}


def plural(n: int, word: str) -> str:
    """``1 function``, ``2 functions``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def fail(command: str, message: str) -> int:
    """Say on stderr what is wrong with the options of ``jrelu <command>``; the exit status, 2."""
    print(f"jrelu {command}: {message}", file=sys.stderr)
    return 2


def add_fns_argument(parser: argparse.ArgumentParser, what: str, note: str = "") -> None:
    """``--fns``, the same in every command: names separated by spaces, commas or both. ``note`` is
    appended to the help (what the command does with some names)."""
    parser.add_argument(
        "--fns",
        nargs="+",
        action="extend",
        metavar="NAME",
        help=f"{what}, by name, separated by spaces or commas (default: all; see `jrelu list`)"
        + (f"; {note}" if note else ""),
    )


def split_names(values: Sequence[str] | None) -> list[str] | None:
    """``["relu,elu", "selu"]`` -> ``["relu", "elu", "selu"]``; None where none were given."""
    if not values:
        return None
    out = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return out or None


def fn_names(values: Sequence[str] | None, command: str) -> list[str] | None:
    """The ``--fns`` of ``jrelu <command>`` as table names (None: all). ValueError naming the command
    and the option, with the valid names and the close ones, for a name not in the table."""
    names = split_names(values)
    if names is None:
        return None
    out = []
    for n in names:
        key = n.lower().replace("-", "_")
        if key not in _registry.FUNCTIONS:  # read at call time: the tests swap the table
            close = _registry.close_names(n)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "."
            raise ValueError(
                f"jrelu {command}: --fns: unknown function {n!r}{hint} Valid names: "
                f"{', '.join(_registry.FUNCTIONS)} (see `jrelu list`)."
            )
        out.append(key)
    return list(dict.fromkeys(out))


def _available() -> dict[str, str]:
    out = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = module
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jrelu",
        description="The ReLU family for JAX: benchmarks, checks and plots.",
    )
    parser.add_argument("--version", action="version", version=f"jrelu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available().items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
