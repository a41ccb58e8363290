"""Sphinx configuration for the jrelu documentation site.

Build: ``pip install -e ".[docs]"`` then ``sphinx-build -W -b html docs docs/_build/html``.
The per-function pages and their figures are generated from ``jrelu.FUNCTIONS`` at build time
(``docs/_generate.py``), so a new activation gets its page without editing the docs.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
from importlib.metadata import metadata
from pathlib import Path

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.inspect import stringify_signature

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault(
    "JAX_PLATFORMS", "cpu"
)  # the figures are drawn on the CPU wherever docs build

import jrelu  # noqa: E402

project = "jrelu"
author = "the jrelu authors"
release = jrelu.__version__
copyright = "2026, the jrelu authors"
# The repository's address, from the package's metadata (pyproject.toml's [project.urls]): one place.
REPOSITORY = dict(
    u.split(", ", 1) for u in metadata("jrelu").get_all("Project-URL") or [] if ", " in u
).get("Repository", "")
if not REPOSITORY:  # an install made before pyproject.toml named it
    raise RuntimeError(
        "docs/conf.py: jrelu's metadata has no Repository URL: pip install -e . again"
    )

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the built site: math renders with no network
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generate.py", "_generated"]
myst_enable_extensions = ["dollarmath", "colon_fence", "substitution"]
myst_heading_anchors = 3

autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_type_aliases = {"ArrayLike": "ArrayLike"}  # jax.typing.ArrayLike by name, not expanded
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = (
    True  # "Attributes:" as fields, not a second description of each dataclass field
)
# The guides include README sections, whose headings start at "###" under the page's "#".
suppress_warnings = ["myst.header"]

myst_substitutions = {"version": release, "repository": f"[the repository]({REPOSITORY})"}

html_theme = "sphinx_book_theme"
html_title = f"jrelu {release}"
html_static_path = ["_static"]
html_css_files = ["jrelu.css"]
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "repository_url": REPOSITORY,  # a link to it in every page's header
    "use_repository_button": True,
    "extra_footer": f'<a href="{REPOSITORY}">Source code</a> · jrelu {release}',
}


def _generate(app) -> None:  # builder-inited: write the function pages before Sphinx reads sources
    import _generate

    _generate.main(HERE)


_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]*)(#[^)\s]*)?\)")  # a link, not an image
# The repository's Markdown files that are pages of this site (included by these pages).
_PAGES = {
    "README.md": "/index",
    "jrelu/README.md": "/guides/design",
    "benchmarks/README.md": "/guides/benchmarks",
    "examples/README.md": "/guides/findings",
    "CHANGELOG.md": "/changelog",
}


def _repo_links(app, relative_path, parent_docname, content) -> None:
    """include-read: a link in an included Markdown file (the README, ``benchmarks/README.md``, ...) is
    relative to that file. One to a file this site has as a page becomes a link to the page; one to another
    file of the repository (``01_gallery.py``) has no page here, so it shows the path from the repository
    root instead of a broken link; a link into ``docs/`` is left to ``:relative-docs:``."""
    base = (Path(app.srcdir) / relative_path).parent

    def fix(m: re.Match) -> str:
        text, target = m[1], m[2]
        if not target or "://" in target or target.startswith(("/", "mailto:")):
            return m[0]
        path = (base / target).resolve()
        try:
            rel = path.relative_to(HERE.parent).as_posix()
        except ValueError:
            return m[0]
        if rel in _PAGES:
            return f"[{text}]({_PAGES[rel]}.md{m[3] or ''})"
        if rel.startswith("docs/"):
            return m[0]
        return f"{text} (`{rel.rstrip('.') or '.'}` in the repository)"

    content[0] = _LINK.sub(fix, content[0])


def _skip_member(app, what, name, obj, skip, options) -> bool | None:
    """A stateless module's ``function`` (the jrelu function it applies) has its own entry above: not
    repeated in every class."""
    return True if what == "class" and name == "function" else None


# A Flax linen module's signature ends with ``parent`` and ``name``, which every linen module has and no
# user passes: ``parent: Module | Scope | _Sentinel | None = <flax.linen.module._Sentinel object>``.
_LINEN_TAIL = re.compile(
    r",?\s*parent: [^=]*= <flax\.linen\.module\._Sentinel object>(, name: str \| None = None)?"
)


def _signature(app, what, name, obj, options, signature, return_annotation):
    """Signatures a reader can read: an nnx module's own arguments, no linen ``parent``/``name`` tail, and a dataclass with many
    fields (:class:`jrelu.Spec`) by field names and short defaults; its fields' types are listed under
    Variables."""
    if what != "class" or signature is None:
        return None
    if signature.startswith("(*args") and "__init__" in vars(obj):
        # An nnx module's metaclass hides __init__ behind (*args, **kwargs): show __init__'s.
        init = inspect.signature(obj.__init__)
        init = init.replace(
            parameters=list(init.parameters.values())[1:],
            return_annotation=inspect.Signature.empty,
        )
        signature = stringify_signature(init)
    signature = _LINEN_TAIL.sub("", signature)
    signature = re.sub(r"<class '([\w.]+)'>", r"\1", signature)  # param_dtype=jax.numpy.float32
    signature = signature.replace("mappingproxy({})", "{}")
    if dataclasses.is_dataclass(obj) and len(signature) > 200:
        shown = []
        for f in dataclasses.fields(obj):
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
                shown.append(f"{f.name}={default}" if len(default) <= 12 else f"{f.name}=...")
            elif f.default_factory is not dataclasses.MISSING:
                shown.append(f"{f.name}={f.default_factory()!r}")
            else:
                shown.append(f.name)
        signature = f"({', '.join(shown)})"
    return signature, return_annotation


# Types napoleon writes from annotations (``:vartype fn: collections.abc.Callable[[...],
# jax.jaxlib._jax.Array]``), as a reader writes them.
_TYPE_NAMES = (
    (re.compile(r"jax\.jaxlib\._jax\.Array|jaxlib\._jax\.Array"), "jax.Array"),
    (re.compile(r"\bcollections\.abc\.|\btyping\."), ""),
)


def _short_types(app, what, name, obj, options, lines) -> None:
    for i, line in enumerate(lines):
        if line.startswith((":vartype ", ":type ", ":rtype:")):
            for pattern, short in _TYPE_NAMES:
                line = pattern.sub(short, line)
            lines[i] = line


def _data_doc(app, what, name, obj, options, lines) -> None:
    """A constant re-exported by ``jrelu`` (``jrelu.FUNCTIONS``) gets the docstring written under it in
    the private module that defines it, not its type's (``float``'s "Convert a string or number...");
    with none there, only what api.md writes under the directive."""
    if what != "data":
        return
    attr = name.rpartition(".")[2]
    for modname, mod in sorted(sys.modules.items()):
        if not modname.startswith("jrelu.") or getattr(mod, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        if ("", attr) in docs:
            lines[:] = list(docs[("", attr)])
            return
    if (
        type(obj).__doc__
        and "\n".join(lines).strip() == inspect.cleandoc(type(obj).__doc__).strip()
    ):
        lines[:] = []


def setup(app) -> None:
    app.connect("builder-inited", _generate)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-signature", _signature)
    app.connect("autodoc-process-docstring", _data_doc)
    app.connect("autodoc-process-docstring", _short_types, priority=600)  # after napoleon's
    app.connect("include-read", _repo_links)
