"""Render the README's benchmark table from a `jrelu bench --json` file (generated, not typed).

    python benchmarks/update_readme.py                      # the newest benchmarks/results/bench-*.json
    python benchmarks/update_readme.py RESULTS.json         # a given file
    python benchmarks/update_readme.py --check              # exit 1 if README.md is out of date

Only the text between ``<!-- BEGIN bench -->`` and ``<!-- END bench -->`` in README.md is replaced: the
summary table of :func:`jrelu._cli.bench.report.markdown_summary`, and the plot when a PNG of the same name
sits beside the JSON.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from jrelu._cli.bench.report import markdown_summary

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- BEGIN bench -->", "<!-- END bench -->"


def newest_results() -> pathlib.Path:
    """The latest full run kept in benchmarks/results (by the date inside, then by name)."""
    found = []
    for path in RESULTS.glob("bench-*.json"):
        data = json.loads(path.read_text())
        if not data.get("quick") and data.get("mode", "full") == "full":  # kept runs only
            found.append((data.get("date", ""), path.name, path))
    if not found:
        raise FileNotFoundError(
            f"no full-run results (bench-*.json of `jrelu bench --full`) in {RESULTS}; run "
            "`python benchmarks/run.py` first."
        )
    return max(found)[2]


def render(source: pathlib.Path, readme: pathlib.Path) -> str:
    results = json.loads(source.read_text())
    rel = source.resolve()
    try:
        shown = rel.relative_to(readme.resolve().parent).as_posix()
    except ValueError:
        shown = source.name
    body = markdown_summary(results, source=shown)
    png = source.with_suffix(".png")
    if png.exists():
        try:
            link = png.resolve().relative_to(readme.resolve().parent).as_posix()
        except ValueError:
            link = png.name
        body += f"\n\n![Throughput against size, with the copy ceiling]({link})"
    return body


def update(readme: pathlib.Path, source: pathlib.Path) -> bool:
    """Rewrite ``readme`` between the bench markers from ``source``; True if the text changed."""
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{readme}: expected one {BEGIN} line followed by one {END} line.")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{render(source, readme)}\n{END}{tail}"
    if new == text:
        return False
    readme.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "json", nargs="?", type=pathlib.Path, help="results of `jrelu bench --json`"
    )
    parser.add_argument("--readme", type=pathlib.Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="only report whether it is up to date")
    args = parser.parse_args(argv)
    try:
        source = args.json or newest_results()
    except FileNotFoundError as e:
        print(f"update_readme: {e}", file=sys.stderr)
        return 1
    if args.check:
        text = args.readme.read_text()
        _head, rest = text.split(BEGIN, 1)
        current = rest.split(END, 1)[0].strip("\n")
        ok = current == render(source, args.readme)
        print(f"{args.readme}: bench table {'up to date' if ok else 'out of date'} ({source})")
        return 0 if ok else 1
    changed = update(args.readme, source)
    print(f"{args.readme}: bench table {'updated' if changed else 'unchanged'} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
