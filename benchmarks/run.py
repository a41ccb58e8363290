"""Run `jrelu bench` and keep its results in benchmarks/results, named by device and date.

    python benchmarks/run.py                        # the full run (jrelu bench --full): bench-<backend>-<device>-<date>.json/.png
    python benchmarks/run.py --update-readme        # ... then re-render benchmarks/README.md's table from it
    python benchmarks/run.py -- --fns relu elu      # anything after -- goes to `jrelu bench`

Run it on a quiet machine: every other process on it shows up in the timings. The PNG needs matplotlib;
without it only the JSON is written (and benchmarks/README.md's table, which is text).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def stem() -> str:
    """``bench-<backend>-<device>-<YYYY-MM-DD>``, e.g. ``bench-gpu-nvidia-h100-80gb-hbm3-2026-11-27``."""
    from jrelu._cli.bench.driver import _device_info

    info = _device_info()
    device = info["device_detail"] if info["backend"] == "cpu" else info["device"]
    slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
    date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return f"bench-{info['backend']}-{slug}-{date}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update-readme", action="store_true", help="re-render benchmarks/README.md's table"
    )
    args = parser.parse_args(own)

    from jrelu._cli import main as jrelu_main

    RESULTS.mkdir(parents=True, exist_ok=True)
    quick = "--quick" in extra
    base = RESULTS / (stem() + ("-quick" if quick else ""))
    mode = [] if quick or "--full" in extra else ["--full"]  # the kept run is the full one
    plot = ["--plot", f"{base}.png"] if importlib.util.find_spec("matplotlib") else []
    if not plot:
        print("matplotlib is not installed: writing the JSON only, no PNG", file=sys.stderr)
    rc = jrelu_main(["bench", *mode, *extra, "--json", f"{base}.json", *plot])
    if rc == 0 and args.update_readme:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from update_readme import update

        update(ROOT / "benchmarks" / "README.md", base.with_suffix(".json"))
        print(f"benchmarks/README.md: bench table rendered from {base.name}.json")
    return rc


if __name__ == "__main__":
    sys.exit(main())
