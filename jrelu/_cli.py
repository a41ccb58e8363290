"""The ``jrelu`` command line: ``jrelu --version``, ``jrelu --help`` and the subcommands.

Each subcommand lives in its own private module exposing ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int``. The modules are imported to build the parser, so they keep their heavy imports
(benchmark models, matplotlib) inside ``run``; ``jrelu --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

from jrelu._version import __version__

# command -> module; the module provides HELP, configure(parser) and run(args).
COMMANDS = {
    "bench": "jrelu._bench",
    "check": "jrelu._check",
    "plot": "jrelu._plot",
    "list": "jrelu._cli",
}

HELP = "list the activations, their families, parameters and kink conventions"


def plural(n: int, word: str) -> str:
    """``1 function``, ``2 functions``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def add_fns_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--fns``, the same in every command: names separated by spaces, commas or both."""
    parser.add_argument(
        "--fns",
        nargs="+",
        action="extend",
        metavar="NAME",
        help=f"{what}, by name, separated by spaces or commas (default: all; see `jrelu list`)",
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
    from jrelu._registry import FUNCTIONS, close_names

    names = split_names(values)
    if names is None:
        return None
    out = []
    for n in names:
        key = n.lower().replace("-", "_")
        if key not in FUNCTIONS:
            close = close_names(n)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "."
            raise ValueError(
                f"jrelu {command}: --fns: unknown function {n!r}{hint} Valid names: "
                f"{', '.join(FUNCTIONS)} (see `jrelu list`)."
            )
        out.append(key)
    return list(dict.fromkeys(out))


def configure(parser: argparse.ArgumentParser) -> None:
    """``jrelu list`` takes no options."""


def _parameters(s: Any) -> str:
    """A Spec's parameters as ``jrelu list`` shows them: defaults as ``k=v``; required ones as
    required, with an example value (there is no default to show)."""
    out = []
    for k, v in s.params.items():
        out.append(f"{k} (required, e.g. {v:.6g})" if k in s.required else f"{k}={v:.6g}")
    out += [f"{k}={v!r}" for k, v in s.static.items()]
    if s.random:
        out.append("key (required)" if s.needs_key else "key=None")
    return ", ".join(out) or "-"


def run(args: argparse.Namespace) -> int:
    from jrelu._registry import FUNCTIONS

    header = ("function", "family", "parameters", "kink convention")
    rows = [(n, s.family, _parameters(s), s.kink_rule) for n, s in FUNCTIONS.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for r in [header, tuple("-" * len(h) for h in header), *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=False)) + "  " + r[3])
    print(f"{plural(len(rows), 'function')}; details: jrelu.FUNCTIONS[name], help(jrelu.<name>)")
    return 0


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
        mod = sys.modules[__name__] if module == __name__ else importlib.import_module(module)
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
    mod = (
        sys.modules[__name__] if args._module == __name__ else importlib.import_module(args._module)
    )
    return int(mod.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
