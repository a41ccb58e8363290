"""``jrelu compare``: runs of ``jrelu bench --json`` from different machines, side by side.

The options only; the tables and the figure are :mod:`jrelu._cli.bench.compare`'s, imported once the
options are valid (matplotlib only for ``--plot``).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from jrelu._cli import fail

HELP = "compare runs of `jrelu bench --json` (CPU, GPU, TPU; any jax version) side by side"

PASSES = ("fwd", "fwd+bwd")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "one table per section of the runs (speed, backward memory, training steps, ...), one column\n"
        "per run; what a run's file lacks (an older bench, another --sections) shows as –.\n\n"
        "examples:\n"
        "  jrelu compare cpu.json gpu.json\n"
        "  jrelu compare benchmarks/results/bench-*.json --markdown compare.md --plot compare.png"
    )
    parser.add_argument("runs", nargs="+", metavar="RUN.json", help="files of `jrelu bench --json`")
    parser.add_argument(
        "--markdown", metavar="PATH", help="also write the tables as Markdown to PATH"
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="draw throughput against size, one panel per function and one line per run (PNG or SVG "
        "by extension; needs matplotlib: pip install 'jrelu[plot]')",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        help="the dtype the plot draws (default %(default)s)",
    )
    parser.add_argument(
        "--pass",
        dest="pass_",
        choices=PASSES,
        default="fwd",
        help="the pass the plot draws (default %(default)s)",
    )


def _fail(message: str) -> int:
    return fail("compare", message)


def run(args: argparse.Namespace) -> int:
    """Check the options, then load the runs and print (and write) the comparison."""
    for path in args.runs:
        if not Path(path).is_file():
            what = "a directory, not a file:" if Path(path).is_dir() else "no such file"
            return _fail(f"{what} {path!r} (give the JSON files of `jrelu bench --json`).")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        return _fail("--plot needs matplotlib: pip install 'jrelu[plot]' (or leave out --plot).")
    for out in (args.markdown, args.plot):
        if out:
            Path(out).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    from jrelu._cli.bench import (
        compare,  # numpy, rich and the bench's report: once the options are good
    )

    try:
        runs = compare.load(args.runs)
    except ValueError as e:
        return _fail(str(e))
    compare.print_comparison(runs)
    if args.markdown:
        Path(args.markdown).write_text(compare.markdown(runs))
        print(f"wrote {args.markdown}")
    if args.plot:
        try:
            compare.plot(runs, args.plot, dtype=args.dtype, pass_=args.pass_)
        except ValueError as e:
            return _fail(str(e))
        print(f"wrote {args.plot}")
    return 0
