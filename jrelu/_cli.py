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

from jrelu._version import __version__

# command -> module; the module provides HELP, configure(parser) and run(args).
COMMANDS = {
    "bench": "jrelu._bench",
    "check": "jrelu._check",
    "plot": "jrelu._plot",
    "list": "jrelu._cli",
}

HELP = "list the activations, their families and kink conventions"


def configure(parser: argparse.ArgumentParser) -> None:
    """``jrelu list`` takes no options."""


def run(args: argparse.Namespace) -> int:
    from jrelu._registry import FUNCTIONS

    width = max(map(len, FUNCTIONS))
    for name, s in FUNCTIONS.items():
        params = ", ".join(
            [f"{k}={v:.6g}" for k, v in s.params.items()]
            + [f"{k}={v!r}" for k, v in s.static.items()]
        )
        print(f"{name:<{width}}  {s.family:<16}  {s.kink_rule}  [{params}]")
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
