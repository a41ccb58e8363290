"""Write one page per activation, and its figure, from ``jrelu.FUNCTIONS``.

Called by ``conf.py`` when the build starts. Every page is generated from the table and the function's own
docstring, so the site cannot list a function the library lacks or miss one it has. The figures are drawn
by ``jrelu plot``'s own code (``jrelu._cli.plot.draw``): jrelu's values and ``jax.grad`` derivatives, kinks marked.
The "How the peers differ" section comes from ``docs/peers.py`` (``PEERS``, one entry per function): the
pages are not written while a function lacks its entry.
"""

from __future__ import annotations

from pathlib import Path

import peers  # docs/peers.py: conf.py puts docs/ on sys.path

import jrelu
from jrelu._cli import plot as _plot

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
* - hyperparameters (defaults, or required)
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
`jrelu.get`, `jrelu list`, `jrelu check`, `jrelu plot`, the benchmarks and the tests). Each page gives the
formula, the figure (the function and its derivative, kinks marked, drawn by `jrelu plot`), the kink
convention, what the backward pass keeps, and how jax.nn, PyTorch, Flax and Equinox differ.

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
    if spec.needs_key:
        shown.append("`key` (a PRNG key, required)")
    elif spec.random:
        shown.append("`key` (a PRNG key; without one, the deterministic mean slope)")
    return ", ".join(shown) or "none"


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
        rows.append(f"| [`{name}`]({name}.md) | {spec.family} | {_params(spec)} | {kinks} |")
        toc.append(name)
    _write(pages / "index.md", INDEX.format(rows="\n".join(rows), toc="\n".join(toc)))
