"""Write one page per activation, and its figure, from ``jrelu.FUNCTIONS``.

Called by ``conf.py`` when the build starts. Every page is generated from the table and the function's own
docstring, so the site cannot list a function the library lacks or miss one it has. The figures are drawn
by ``jrelu plot``'s own code (``jrelu._cli.plot.draw``): jrelu's values and ``jax.grad`` derivatives, kinks marked.
The "How the peers differ" section comes from ``docs/peers.py`` (``PEERS``, one entry per function): the
pages are not written while a function lacks its entry.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import peers  # docs/peers.py: conf.py puts docs/ on sys.path

import jrelu
from jrelu._cli import list_ as _list
from jrelu._cli import main as _jrelu
from jrelu._cli import plot as _plot

ROOT = Path(__file__).resolve().parent.parent

PAGE = """\
# `jrelu.{name}`

```{{image}} ../_static/functions/{name}.png
:alt: {name} and its derivative, kinks marked
:width: 480px
```

```{{list-table}}
:header-rows: 0
:widths: 2 5

* - family
  - {family}
* - parameters (as `jrelu list` shows them)
  - {params}
* - kinks
  - {kinks}
* - kink convention
  - {kink_rule}
* - compared in tests and benchmarks with
  - {baseline}
* - modules
  - {modules}
```

```{{eval-rst}}
.. autofunction:: jrelu.{name}
```

## How jax.nn, PyTorch, Flax and Equinox differ

{note}

{peers}
"""

INDEX = """\
# Functions

Every activation jrelu provides, from the table `jrelu.FUNCTIONS` (the same table that drives
`jrelu.get`, `jrelu list`, `jrelu check`, `jrelu plot`, the benchmarks and the tests); this table is
what `jrelu list` prints. Each page gives the formula, the figure (the function and its derivative,
kinks marked, drawn by `jrelu plot`), the kink convention, what the backward pass keeps, and how
jax.nn, PyTorch, Flax and Equinox differ.

| function | family | parameters | kink convention |
|---|---|---|---|
{rows}

```{{toctree}}
:hidden:

{toc}
```
"""


def _params(spec: jrelu.Spec) -> str:
    """The parameters as ``jrelu list`` prints them (its own function), each in code."""
    text = _list.parameters(spec)
    return "none" if text == "-" else ", ".join(f"`{p}`" for p in _split(text))


def _split(text: str) -> list[str]:
    """``"a=1, b (required, e.g. 2)"`` -> its parameters (commas inside parentheses kept)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    return [*out, text[start:].strip()]


def _modules(name: str) -> str:
    """jrelu's Flax and Equinox modules that apply ``name``: a stateless module's ``function`` is it,
    or the class is named after it (``PReLU``, ``AlphaDropout``)."""
    import importlib

    found = []
    for api in ("linen", "nnx", "equinox"):
        try:
            module = importlib.import_module(f"jrelu.{api}")
        except ImportError:  # Flax or Equinox not installed: the API reference will say so
            continue
        for cls_name in dir(module):
            cls = getattr(module, cls_name)
            if not isinstance(cls, type) or cls.__module__ != module.__name__ or cls_name[0] == "_":
                continue
            applies = getattr(cls, "function", None) is jrelu.FUNCTIONS[name].fn
            if applies or cls_name.lower() == name.replace("_", ""):
                found.append(f"`jrelu.{api}.{cls_name}`")
    return ", ".join(found) or "none (pass the function itself)"


def _peers(name: str) -> str:
    """The comparison of ``name`` with each peer, from ``docs/peers.py``."""
    parts = []
    for peer in peers.ORDER:
        entry = peers.PEERS[name][peer]
        items = "".join(f"- {d}\n" for d in entry.differences)
        parts.append(f"### {peer}\n\n{entry.counterpart}.\n\n{items}")
    return "\n".join(parts).rstrip() + "\n"


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # unchanged files keep Sphinx's cache valid
        path.write_text(text)


def main(docs: Path) -> None:
    problems = peers.missing(list(jrelu.FUNCTIONS))
    if problems:
        raise RuntimeError("docs/_generate.py: " + "; ".join(problems))
    pages = docs / "functions"
    figures = docs / "_static" / "functions"
    pages.mkdir(exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    rows, toc = [], []
    for name, spec in jrelu.FUNCTIONS.items():
        kinks = ", ".join(f"{k:g}" for k in spec.kinks) or "none"
        _write(
            pages / f"{name}.md",
            PAGE.format(
                name=name,
                family=spec.family,
                params=_params(spec),
                kinks=kinks,
                kink_rule=spec.kink_rule,
                baseline=f"`{spec.baseline_name}`",
                modules=_modules(name),
                note=peers.NOTE,
                peers=_peers(name),
            ),
        )
        png = figures / f"{name}.png"
        fig = _plot.draw([name])
        fig.savefig(png, dpi=200)  # about 1.5x the shown width: sharp text
        rule = spec.kink_rule.replace("|", "\\|")
        rows.append(f"| [`{name}`]({name}.md) | {spec.family} | {_params(spec)} | {rule} |")
        toc.append(name)
    _write(pages / "index.md", INDEX.format(rows="\n".join(rows), toc="\n".join(toc)))
    compare_page(docs)


COMPARE = "_generated/compare.md"  # included by guides/benchmarks.md
COMPARE_FIGURE = "_static/compare/bench-compare-float32-fwd.png"


def compare_page(docs: Path) -> None:
    """Every committed run of ``jrelu bench`` (benchmarks/results/bench-*.json) side by side, through
    ``jrelu compare`` itself: its Markdown tables and its figure, included by the benchmarks page."""
    runs = sorted(str(p) for p in (ROOT / "benchmarks" / "results").glob("bench-*.json"))
    md, png = docs / COMPARE, docs / COMPARE_FIGURE
    for path in (md, png):
        path.parent.mkdir(parents=True, exist_ok=True)
    argv = ["compare", *runs, "--markdown", str(md), "--plot", str(png)]
    with contextlib.redirect_stdout(io.StringIO()):  # the terminal tables: not in the build's log
        if _jrelu(argv) != 0:
            raise RuntimeError(f"docs/_generate.py: jrelu {' '.join(argv)} failed")
    figure = f"\n![Throughput against size, one line per run](../{COMPARE_FIGURE})\n"
    md.write_text(md.read_text() + figure)
