"""``jrelu check``: the command line of :func:`jrelu.testing.check`, and how its report is printed.

What is checked, and how, is :func:`jrelu.testing.check`'s (``jrelu/_testing/check.py``); this module
parses the options, runs it with a progress line, prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jrelu import testing
from jrelu._cli import add_fns_argument, fn_names, plural, split_names
from jrelu._testing import check as _check
from jrelu._testing.check import COLUMNS, DTYPES, FLOAT8, Report, Result

HELP = "verify values, gradients, kinks, NaN/inf, transformations and memory on this backend"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", help="JAX platform to check (cpu, gpu, tpu, ...); default: JAX's default"
    )
    add_fns_argument(parser, "functions to check")
    parser.add_argument(
        "--dtypes",
        nargs="+",
        action="extend",
        metavar="DTYPE",
        help=f"dtypes, separated by spaces or commas (default: those of {', '.join(DTYPES)} the "
        f"backend supports; also {', '.join(FLOAT8)})",
    )
    parser.add_argument(
        "--no-x64",
        action="store_true",
        help="skip float64 (checked in a scoped x64 mode by default)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the compiled-memory measurement"
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the full report as JSON to PATH ('-': stdout)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every check, not only the failures"
    )


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=args.json == "-", highlight=False)
    if not console.is_terminal:  # logs and pipes: room for the whole table
        console.width = max(console.width, 100)
    try:
        fns, dtypes = fn_names(args.fns, "check"), split_names(args.dtypes)
        _check._validate(fns, args.backend, dtypes)
    except (ValueError, RuntimeError) as e:  # unknown function, dtype or backend
        console.print(f"[red]error:[/red] {e}", soft_wrap=True)
        return 2
    with console.status("jrelu check: starting") as status:
        report = testing.check(
            fns,
            backend=args.backend,
            dtypes=dtypes,
            x64=not args.no_x64,
            memory=not args.no_memory,
            progress=lambda n: status.update(f"jrelu check: {n}"),
        )
    render(report, console, verbose=args.verbose)
    if args.json:
        text = json.dumps(report.to_json(), indent=1)
        if args.json == "-":
            sys.stdout.write(text + "\n")
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
    return 0 if report.passed else 1


def _cell(results: Sequence[Result], column: str) -> str:
    """One cell of the table: the column's figure (worst error, memory) or ok, FAIL in red."""
    rs = [r for r in results if r.column == column]
    if not rs:
        return "-"
    ok = all(r.passed for r in rs)
    worst, _ = _check._worst(rs, column)
    if column in ("values", "gradients") and worst is not None:
        text = f"{worst:.2g}" if worst < 1e3 else f"{worst:.1e}"
    elif column == "memory" and worst is not None:

        def kind(r: Result) -> str:
            return next((k for k in ("learned", "precise") if k in r.check), "")

        figs = [(kind(r), r.worst) for r in rs if r.worst is not None]
        plain = [w for k, w in figs if not k]
        text = f"{max(plain):.3f}" if plain else ""
        for k in ("learned", "precise"):
            mine = [w for kk, w in figs if kk == k]
            if mine:
                text += f", {k} {max(mine):.3f}"
    elif column == "transforms":
        text = f"{sum(r.passed for r in rs)}/{len(rs)}"
    else:
        text = "ok"
    return text if ok else f"[red]FAIL {text}[/red]" if text != "ok" else "[red]FAIL[/red]"


def render(report: Report, console: Any, *, verbose: bool = False) -> None:
    """Print the report: a header, one row per function, failures, a summary."""
    env = report.environment
    console.print(
        f"jrelu {env['jrelu']} check on [bold]{env['backend']}[/bold] ({env['device']}, "
        f"{env['devices']} device(s)); jax {env['jax']}, jaxlib {env['jaxlib']}"
    )
    console.print(
        "dtypes: "
        + ", ".join(report.dtypes)
        + "".join(f"; {d} {why}" for d, why in report.skipped_dtypes.items())
    )
    table = Table(show_edge=False, header_style="bold")
    table.add_column("function")
    table.add_column("result")
    for title in ("values", "grads", "kinks", "NaN/inf", "transforms", "memory"):
        table.add_column(title)
    for name in report.functions:
        rs = report.by_function(name)
        ok = all(r.passed for r in rs)
        table.add_row(
            name,
            "[green]PASS[/green]" if ok else "[red]FAIL[/red]",
            *(_cell(rs, c) for c in COLUMNS),
        )
    console.print(table)
    console.print(
        "values, grads: worst error in ulp; transforms: checks passed; memory: activation-sized "
        "tensors per layer kept for the backward pass"
    )
    shown = [r for r in report.results if verbose or not r.passed]
    for r in shown:
        params = ", ".join(
            f"{k}={v}" if isinstance(v, bool) else f"{k}={v:.6g}" for k, v in r.params.items()
        )
        fig = (
            f" {r.worst:.3g} {r.unit} (limit {r.limit:g})"
            if r.worst is not None and r.limit is not None
            else ""
        )
        state = "[green]ok[/green]  " if r.passed else "[red]FAIL[/red]"
        where = f"({r.dtype or '-'}{'; ' + params if params else ''})"
        text = f"{r.function} {r.check} {where}{fig}{': ' + r.detail if r.detail else ''}"
        console.print(f"{state} {escape(text)}", soft_wrap=True)
    failed = [n for n in report.functions if not all(r.passed for r in report.by_function(n))]
    n_bad = sum(not r.passed for r in report.results)
    verdict = (
        "[green]all passed[/green]"
        if not failed
        else f"[red]{len(failed)} failed: {', '.join(failed)}[/red]"
    )
    console.print(
        f"{plural(len(report.functions), 'function')}, {plural(len(report.results), 'check')}, "
        f"{n_bad} failed: {verdict} ({report.seconds:.1f} s)"
    )
