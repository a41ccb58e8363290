"""Regenerate every committed example output, then examples/README.md's "What the measurements say".

Runs ``examples/01_*.py`` ... ``09_*.py`` one after another, each in its own process (full runs, not
``--quick``), writing ``examples/results/<example>/`` (figures, ``results.json``, and the printed table as
``output.txt``, and its ``summary.md``), records the run times in ``examples/results/run_all.json``, and
finally calls ``update_readme.py``, which collects the summaries. With ``--summarise`` it runs nothing:
each example rewrites its summary.md from its committed results.json (seconds), then the README. About five minutes on two CPU cores for 01-07; 08 (a transformer, 15 training
runs) took 31 minutes on two cores shared with other jobs, 09 (five transformers, three seeds each, then
the sparse-against-dense timings) 32 minutes on two cores under a load average of 6 to 14.

Run:  python examples/run_all.py [--only 02 05] [--quick --results DIR] [--summarise] [--no-readme]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_RESULTS = os.path.join(HERE, "results")


def examples() -> list[str]:
    return sorted(glob.glob(os.path.join(HERE, "[0-9][0-9]_*.py")))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", metavar="NN", help="run only these examples (by number)")
    p.add_argument("--quick", action="store_true", help="pass --quick (needs --results elsewhere)")
    p.add_argument("--results", default=DEFAULT_RESULTS, metavar="DIR", help="where outputs go")
    p.add_argument(
        "--summarise",
        action="store_true",
        help="run nothing: rewrite each summary.md from its results.json, then examples/README.md",
    )
    p.add_argument("--no-readme", action="store_true", help="do not update examples/README.md")
    args = p.parse_args(argv)
    if args.quick and os.path.abspath(args.results) == DEFAULT_RESULTS:
        p.error("--quick outputs must not replace the committed ones; give --results DIR")

    if args.summarise:
        for path in examples():
            name = os.path.splitext(os.path.basename(path))[0]
            if args.only and name[:2] not in args.only:
                continue
            rel_out = os.path.relpath(os.path.join(args.results, name), ROOT)
            cmd = [sys.executable, os.path.relpath(path, ROOT), "--summarise", rel_out]
            done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"})
            if done.returncode != 0:
                print(f"{name} failed (exit {done.returncode})")
                return done.returncode
        return 0 if args.no_readme else readme(args.results)

    import jax  # only for the versions in run_all.json

    timings = {}
    for path in examples():
        name = os.path.splitext(os.path.basename(path))[0]
        if args.only and name[:2] not in args.only:
            continue
        out = os.path.join(args.results, name)
        os.makedirs(out, exist_ok=True)
        # Run from the repository root with relative paths, so output.txt names no local folders.
        rel_out = os.path.relpath(out, ROOT)
        cmd = [sys.executable, os.path.relpath(path, ROOT), "--out", rel_out]
        cmd += ["--quick"] if args.quick else []
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"}
        )
        timings[name] = round(time.perf_counter() - start, 1)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            print(f"{name} failed (exit {proc.returncode})")
            return proc.returncode
        with open(os.path.join(out, "output.txt"), "w") as fh:
            fh.write(proc.stdout)
        print(f"   {timings[name]} s\n", flush=True)

    summary_path = os.path.join(args.results, "run_all.json")
    previous = {}
    if os.path.isfile(summary_path):
        with open(summary_path) as fh:
            previous = json.load(fh).get("seconds", {})
    with open(summary_path, "w") as fh:
        json.dump(
            {
                "seconds": {**previous, **timings},
                "quick": args.quick,
                "jax": jax.__version__,
                "backend": jax.default_backend(),
                "python": platform.python_version(),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            },
            fh,
            indent=1,
        )
    print(f"total {sum(timings.values()):.0f} s")

    if args.quick:
        print(
            "quick outputs: examples/README.md left alone (python examples/update_readme.py "
            "--results DIR --readme COPY renders them)"
        )
    elif not args.no_readme:
        return readme(args.results)
    return 0


def readme(results: str) -> int:
    sys.path.insert(0, HERE)
    import update_readme

    return update_readme.main(["--results", results])


if __name__ == "__main__":
    sys.exit(main())
