"""``jrelu bench``: its options, checked before anything heavy is imported.

The parser imports this module to build ``jrelu bench --help``; the benchmark itself -- the driver
(``driver``: sections, JSON, the run's record), the timers and speed programs (``speed``), the models and
training steps (``models``: flax, optax) and the verdicts and tables (``report``) -- is imported by
:func:`run` once the options are valid. What the sections measure: :mod:`jrelu._cli.bench.driver`.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from jrelu._cli import add_fns_argument, fail, fn_names

HELP = "benchmark jrelu against jax.nn, PyTorch and the device's copy bandwidth"

SECTIONS = ("speed", "memory", "train", "dispatch", "ffn", "blocks", "sparse")
DTYPES = ("float32", "bfloat16", "float16")
FULL_SIZES = (16, 18, 20, 22, 24, 26)  # exponents of 2
DEFAULT_SIZES = (16, 20, 24)  # 2^24 float32 is 64 MiB: past the caches of a CPU or a GPU's L2
QUICK_SIZES = (16, 20)
MODES = ("quick", "default", "full")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "plain `jrelu bench` (sized for at most 4 minutes on 2 CPU cores) ends with verdicts: where jrelu is\n"
        "faster, at parity or slower than its peer on consistent evidence (inconclusive otherwise, as on a\n"
        "busy machine), and the memory it saves. `jrelu compare` puts runs of --json side by side.\n\n"
        "examples:\n"
        "  jrelu bench --quick\n"
        "  jrelu bench --fns relu elu --dtypes float32 --sizes 20 24 --json out.json --plot out.png\n"
        "  jrelu bench --sections speed --fns elu --sizes 24 --hlo hlo/   # what XLA fused and kept\n"
        "  python benchmarks/run.py --update-readme   # the kept full run: JSON, PNG, README table"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="smoke test (about 2 minutes on 2 CPU cores): sizes 2^16 and 2^20, 5 short repeats, "
        "smaller models; still every function, both dtypes and every section",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="the kept run (benchmarks/run.py; about 10 minutes on 2 CPU cores): sizes 2^16 to 2^26, "
        "15 longer repeats, larger training steps, and the project's internal goals at the end",
    )
    add_fns_argument(
        parser,
        "functions to run",
        "rrelu runs both without a key (eval) and with one (train), alpha_dropout with one",
    )
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=DTYPES,
        default=None,
        help="input dtypes for the speed section (default: float32 bfloat16)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        metavar="N",
        help="input sizes in elements: a number below 64 is an exponent of 2 (20 means 2^20 = "
        "1,048,576 elements; '2^20' works too), a larger number is an element count "
        f"(default: {' '.join(map(str, DEFAULT_SIZES))}; with --quick "
        f"{' '.join(map(str, QUICK_SIZES))}; with --full {' '.join(map(str, FULL_SIZES))}). "
        "Inputs have shape (n/1024, 1024) when 1024 divides n",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="sections to run (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="R",
        help="timed repeats per measurement (default: 7; 5 with --quick, 15 with --full)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    parser.add_argument("--json", metavar="PATH", help="write all results as JSON to PATH")
    parser.add_argument(
        "--plot", metavar="PATH", help="write a PNG of throughput against size to PATH"
    )
    parser.add_argument(
        "--hlo",
        metavar="DIR",
        help="write the optimised HLO of every timed program (speed passes at the largest size, "
        "training steps) to DIR, to see what XLA fused and what it kept",
    )


def parse_size(text: str) -> int:
    """``"20"`` or ``"2^20"`` -> 2**20 (a number below 64 is an exponent of 2); ``"1000000"`` -> itself."""
    t = text.strip().replace("**", "^")
    try:
        if t.startswith("2^"):
            v = int(t[2:])
            if not 0 <= v < 64:
                raise ValueError
            return 2**v
        v = int(float(t)) if ("e" in t.lower() or "." in t) else int(t)
    except ValueError:
        raise ValueError(
            f"--sizes: expected an exponent of 2 (e.g. 20 for 2^20 elements) or an element count, "
            f"got {text!r}."
        ) from None
    if v <= 0:
        raise ValueError(f"--sizes: sizes must be positive, got {text!r}.")
    return 2**v if v < 64 else v


def _fail(message: str) -> int:
    return fail("bench", message)


def run(args: argparse.Namespace) -> int:
    """Validate every option, then import the benchmark (:mod:`jrelu._cli.bench.driver`) and run it."""
    mode = "quick" if args.quick else ("full" if getattr(args, "full", False) else "default")
    default_sizes = {"quick": QUICK_SIZES, "default": DEFAULT_SIZES, "full": FULL_SIZES}[mode]
    try:
        sizes = sorted({parse_size(s) for s in (args.sizes or ())}) or [2**e for e in default_sizes]
    except ValueError as e:
        return _fail(str(e))
    try:
        fns = fn_names(args.fns, "bench")
    except ValueError as e:
        return _fail(str(e).replace("jrelu bench: ", ""))
    if args.repeats is not None and args.repeats < 1:
        return _fail(f"--repeats must be at least 1, got {args.repeats}.")
    if args.plot and "speed" not in args.sections:
        return _fail("--plot needs the speed section (add 'speed' to --sections).")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        return _fail("--plot needs matplotlib: pip install 'jrelu[plot]' (or leave out --plot).")
    dtypes = list(dict.fromkeys(args.dtypes or ("float32", "bfloat16")))
    for path in (args.json, args.plot):
        if path:
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    if args.hlo:
        Path(args.hlo).mkdir(parents=True, exist_ok=True)
    from jrelu._cli.bench import driver  # flax, optax, the models: only once the options are good

    return driver.run(args, mode=mode, sizes=sizes, fns=fns, dtypes=dtypes)
