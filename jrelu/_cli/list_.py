"""``jrelu list``: the activations, their families, parameters and kink conventions, from the table."""

from __future__ import annotations

import argparse

from jrelu import _registry
from jrelu._cli import plural
from jrelu._registry import Spec

HELP = "list the activations, their families, parameters and kink conventions"


def configure(parser: argparse.ArgumentParser) -> None:
    """``jrelu list`` takes no options."""


def parameters(s: Spec) -> str:
    """A Spec's parameters as ``jrelu list`` shows them (and the docs' function index, from here):
    defaults as ``k=v``; required ones as required, with an example value (there is no default to
    show); the static options; the key."""
    out = []
    for k, v in s.params.items():
        out.append(f"{k} (required, e.g. {v:.6g})" if k in s.required else f"{k}={v:.6g}")
    out += [f"{k}={v!r}" for k, v in s.static.items()]
    if s.random:
        out.append("key (required)" if s.needs_key else "key=None")
    return ", ".join(out) or "-"


def run(args: argparse.Namespace) -> int:
    header = ("function", "family", "parameters", "kink convention")
    rows = [(n, s.family, parameters(s), s.kink_rule) for n, s in _registry.FUNCTIONS.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for r in [header, tuple("-" * len(h) for h in header), *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=False)) + "  " + r[3])
    print(f"{plural(len(rows), 'function')}; details: jrelu.FUNCTIONS[name], help(jrelu.<name>)")
    return 0
