"""Write every generated section of the project's Markdown files from the committed results.

    python benchmarks/update_readme.py                      # rewrite every section that is out of date
    python benchmarks/update_readme.py --check              # exit 1 naming each stale section
    python benchmarks/update_readme.py RESULTS.json         # the bench table from a given run
    python benchmarks/update_readme.py --only bench check   # some sections only

A generated section is the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; nothing else
in a file is touched. The sections, where they live, and what they are written from:

========================  ==========================  ===================================================
section                   file                        source
========================  ==========================  ===================================================
``bench``                 ``benchmarks/README.md``    the newest full run ``benchmarks/results/bench-*.json``
                                                      (and its PNG), via ``markdown_summary``
``core-figures``          ``benchmarks/README.md``    ``benchmarks/results/core_figures.json``, via
                                                      ``benchmarks/core_figures.py``'s ``render``
``blocks-study``          ``benchmarks/README.md``    ``benchmarks/results/blocks-study-cpu.json``, via
                                                      ``benchmarks/blocks_study.py``'s ``render``
``memory-schedulers``     ``benchmarks/README.md``    ``benchmarks/results/memory-schedulers-cpu.json``,
                                                      via ``benchmarks/memory_schedulers.py``'s ``render``
``sparse-ffn``            ``benchmarks/README.md``    ``benchmarks/results/sparse-ffn-cpu.json``, via
                                                      ``benchmarks/sparse_ffn.py``'s ``render``
``measurements``          ``examples/README.md``      ``examples/results/*/summary.md`` (each example's
                                                      own), via ``examples/update_readme.py``'s ``render``
``check``                 ``docs/guides/check.md``    ``benchmarks/results/check-cpu.txt``
``code PATH``             ``README.md``,              the file ``PATH`` (``examples/snippets/*.py``), as a
                          ``docs/guides/*.md``        Python block: the tests run the files themselves
========================  ==========================  ===================================================

The renderers write links relative to the repository root; they are rebased here to the file that holds
the section. The scripts that measure (``benchmarks/run.py --update-readme``, ``core_figures.py``,
``memory_schedulers.py``, ``sparse_ffn.py``, ``examples/run_all.py``) write their results, then call this one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import re
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCH_README = ROOT / "benchmarks" / "README.md"
EXAMPLES_README = ROOT / "examples" / "README.md"
CHECK_PAGE = ROOT / "docs" / "guides" / "check.md"
CODE_PAGES = (ROOT / "README.md", *sorted((ROOT / "docs" / "guides").glob("*.md")))
BEGIN, END = "<!-- BEGIN bench -->", "<!-- END bench -->"  # the bench section's markers
CODE = re.compile(r"<!-- BEGIN (code [^ ]+) -->")
LINK = re.compile(r"(\]\()([^)\s#]+)")  # the target of a Markdown link or image


def markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def splice(text: str, name: str, body: str, where: object = "text") -> str:
    """``text`` with the section ``name`` replaced by ``body``; ValueError without exactly one pair of
    markers."""
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{where}: expected one {begin} line followed by one {end} line.")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.strip(chr(10))}\n{end}{tail}"


def rebase(body: str, target: pathlib.Path, base: pathlib.Path = ROOT) -> str:
    """Links in ``body`` that are relative to ``base`` (the repository root), made relative to the folder
    of ``target``, the file that will hold them."""

    def fix(m: re.Match[str]) -> str:
        link = m[2]
        if "://" in link or link.startswith(("/", "mailto:")):
            return m[0]
        rel = os.path.relpath(base / link, target.resolve().parent).replace(os.sep, "/")
        return m[1] + rel + ("/" if link.endswith("/") else "")

    return LINK.sub(fix, body)


def _load(path: pathlib.Path) -> ModuleType:
    """A script by its path (benchmarks/ and examples/ are not packages)."""
    spec = importlib.util.spec_from_file_location(f"_splice_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _shown(path: pathlib.Path) -> str:
    """``path`` as the repository names it (its name alone outside the repository)."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


# --------------------------------------------------------------------------------------------------
# The renderers: each returns the section's body, with links relative to the repository root
# --------------------------------------------------------------------------------------------------


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
    """The bench section from ``source`` (a `jrelu bench --json` file), for the file ``readme``."""
    from jrelu._cli.bench.report import markdown_summary

    body = markdown_summary(json.loads(source.read_text()), source=_shown(source))
    png = source.with_suffix(".png")
    if png.exists():
        link = os.path.relpath(png.resolve(), readme.resolve().parent).replace(os.sep, "/")
        body += f"\n\n![Throughput against size, with the copy ceiling]({link})"
    return body


def _core_figures(target: pathlib.Path) -> str:
    mod = _load(ROOT / "benchmarks" / "core_figures.py")
    return str(mod.render(json.loads(mod.OUT.read_text())))


def _throughput_bound(target: pathlib.Path) -> str:
    mod = _load(ROOT / "benchmarks" / "throughput_bound.py")
    return str(mod.render(json.loads(mod.OUT.read_text())))


def _blocks_study(target: pathlib.Path) -> str:
    mod = _load(ROOT / "benchmarks" / "blocks_study.py")
    return str(mod.render(json.loads(mod.OUT.read_text())))


def _memory_schedulers(target: pathlib.Path) -> str:
    mod = _load(ROOT / "benchmarks" / "memory_schedulers.py")
    return str(mod.render(json.loads(mod.OUT.read_text())))


def _sparse_ffn(target: pathlib.Path) -> str:
    mod = _load(ROOT / "benchmarks" / "sparse_ffn.py")
    return rebase(str(mod.render(json.loads(mod.OUT.read_text()))), target)


def _measurements(results: pathlib.Path) -> Callable[[pathlib.Path], str]:
    def body(target: pathlib.Path) -> str:
        mod = _load(ROOT / "examples" / "update_readme.py")
        # Each example's summary.md links from its own folder; render() rebases them onto the target.
        return str(mod.render(str(results), str(target.resolve().parent)))

    return body


def _check(target: pathlib.Path) -> str:
    out = (RESULTS / "check-cpu.txt").read_text().rstrip("\n")
    cmd = "$ jrelu check                      # JAX's default backend; --backend cpu|gpu|tpu to choose"
    return f"```console\n{cmd}\n{out}\n```"


def _code(path: str) -> Callable[[pathlib.Path], str]:
    def body(target: pathlib.Path) -> str:
        return "```python\n" + (ROOT / path).read_text().rstrip("\n") + "\n```"

    return body


class Section(
    NamedTuple
):  # not a dataclass: the scripts load this file by path, outside sys.modules
    name: str
    target: pathlib.Path
    body: Callable[[pathlib.Path], str]

    @property
    def kind(self) -> str:  # "code" for every code section
        return self.name.split(" ", 1)[0]


def sections(
    bench: pathlib.Path | None = None,
    examples_results: pathlib.Path = ROOT / "examples" / "results",
    measurements_to: pathlib.Path = EXAMPLES_README,
) -> list[Section]:
    """Every generated section of the repository, in the order they are written."""

    def bench_body(target: pathlib.Path) -> str:
        return render(bench or newest_results(), target)

    found = [
        Section("bench", BENCH_README, bench_body),
        Section("core-figures", BENCH_README, _core_figures),
        Section("blocks-study", BENCH_README, _blocks_study),
        Section("throughput-bound", BENCH_README, _throughput_bound),
        Section("memory-schedulers", BENCH_README, _memory_schedulers),
        Section("sparse-ffn", BENCH_README, _sparse_ffn),
        Section("measurements", measurements_to, _measurements(examples_results)),
        Section("check", CHECK_PAGE, _check),
    ]
    for page in CODE_PAGES:
        for name in CODE.findall(page.read_text()):
            found.append(Section(name, page, _code(name.split(" ", 1)[1])))
    return found


def update(readme: pathlib.Path, source: pathlib.Path) -> bool:
    """Rewrite ``readme``'s bench section from ``source``; True if the text changed."""
    text = readme.read_text()
    new = splice(text, "bench", render(source, readme), readme)
    if new == text:
        return False
    readme.write_text(new)
    return True


def write(chosen: Sequence[Section], check: bool = False) -> list[str]:
    """Write (or with ``check``, only compare) ``chosen``; the names of the stale sections."""
    stale = []
    texts: dict[pathlib.Path, str] = {}
    for s in chosen:
        old = texts.setdefault(s.target, s.target.read_text())
        new = splice(old, s.name, s.body(s.target), _shown(s.target))
        if new != old:
            stale.append(f"{_shown(s.target)}: {s.name}")
            texts[s.target] = new
    if not check:
        for path, text in texts.items():
            if path.read_text() != text:
                path.write_text(text)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "json",
        nargs="?",
        type=pathlib.Path,
        help="the bench section from this `jrelu bench --json`",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="these sections ('code' for every code section)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any is stale"
    )
    parser.add_argument(
        "--examples-results",
        type=pathlib.Path,
        default=ROOT / "examples" / "results",
        metavar="DIR",
    )
    parser.add_argument(
        "--measurements-to", type=pathlib.Path, default=EXAMPLES_README, metavar="PATH"
    )
    args = parser.parse_args(argv)
    chosen = sections(args.json, args.examples_results, args.measurements_to)
    if args.only:
        chosen = [s for s in chosen if s.name in args.only or s.kind in args.only]
        if not chosen:
            print(f"update_readme: no section named {' '.join(args.only)}", file=sys.stderr)
            return 2
    try:
        stale = write(chosen, check=args.check)
    except (FileNotFoundError, ValueError) as e:
        print(f"update_readme: {e}", file=sys.stderr)
        return 1
    for name in stale:
        print(f"{'stale' if args.check else 'updated'}: {name}")
    print(
        f"update_readme: {len(chosen)} sections, {len(stale)} {'stale' if args.check else 'updated'}"
    )
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
