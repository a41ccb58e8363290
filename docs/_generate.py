"""Write one page per activation, and its figure, from ``jrelu.FUNCTIONS``.

Called by ``conf.py`` when the build starts. Every page is generated from the table and the function's own
docstring, so the site cannot list a function the library lacks or miss one it has. The figures are drawn
by ``jrelu plot``'s own code (``jrelu._cli.plot.draw``): jrelu's values and ``jax.grad`` derivatives, kinks marked.
"""

from __future__ import annotations

from pathlib import Path

import jrelu
from jrelu._cli import plot as _plot

PAGE = """\
# `jrelu.{name}`

```{{image}} ../_static/functions/{name}.png
:alt: {name} and its derivative, kinks marked
:width: 420px
```

| | |
|---|---|
| family | {family} |
| hyperparameters (defaults, or required) | {params} |
| kinks | {kinks} |
| kink convention | {kink_rule} |
| compared in tests and benchmarks with | {baseline} |

```{{eval-rst}}
.. autofunction:: jrelu.{name}
```
"""

INDEX = """\
# Functions

Every activation jrelu provides, from the table `jrelu.FUNCTIONS` (the same table that drives
`jrelu.get`, `jrelu list`, `jrelu check`, `jrelu plot`, the benchmarks and the tests).

| function | family | hyperparameters (defaults, or required) | kinks |
|---|---|---|---|
{rows}

```{{toctree}}
:hidden:

{toc}
```
"""


def _params(spec: jrelu.Spec) -> str:
    shown = []
    for k, v in spec.params.items():
        shown.append(f"`{k}` (required; e.g. {v:g})" if k in spec.required else f"`{k}={v:g}`")
    if spec.random:
        shown.append("`key` (a PRNG key; without one, the deterministic mean slope)")
    return ", ".join(shown) or "none"


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # unchanged files keep Sphinx's cache valid
        path.write_text(text)


def main(docs: Path) -> None:
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
            ),
        )
        png = figures / f"{name}.png"
        fig = _plot.draw([name])
        fig.savefig(png, dpi=110)
        rows.append(f"| [`{name}`]({name}.md) | {spec.family} | {_params(spec)} | {kinks} |")
        toc.append(name)
    _write(pages / "index.md", INDEX.format(rows="\n".join(rows), toc="\n".join(toc)))
