"""The ``jrelu`` command line: ``jrelu --version``, ``jrelu --help`` and the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jrelu._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jrelu",
        description="The ReLU family for JAX: benchmarks, checks and plots.",
    )
    parser.add_argument("--version", action="version", version=f"jrelu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the activations with their kink conventions")
    return parser


def _list() -> int:
    from jrelu._registry import FUNCTIONS

    width = max(map(len, FUNCTIONS))
    for name, s in FUNCTIONS.items():
        params = ", ".join(f"{k}={v:.6g}" for k, v in s.params.items())
        print(f"{name:<{width}}  {s.family:<16}  {s.kink_rule}  [{params}]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "list":
        return _list()
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
