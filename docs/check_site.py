"""After a build: every public activation has a page on the site, with its figure, its comparison with
the peers and rendered math.

    python docs/check_site.py [docs/_build/html]

Run by ``.ci/run`` after ``sphinx-build``; exits 1 naming what is missing. For every function in
``jrelu.FUNCTIONS`` its page must exist and name it, reference its figure (and the png must be in the
built site), say what the backward pass keeps (the docstring's Memory paragraph), hold the "How jax.nn, PyTorch, Flax and Equinox differ" section with one part per peer
(from ``docs/peers.py``, which must have an entry for it and none for a function the library lacks),
render math with the MathJax copy served by the site, and be linked from the function index. No page
may show a MyST directive that was not parsed (a fenced block's ``{name}`` left in the text) or an
image that is not in the built site.
"""

from __future__ import annotations

import html as html_lib
import re
import sys
from pathlib import Path

import jrelu

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers

SECTION = 'id="how-jax-nn-pytorch-flax-and-equinox-differ"'
_UNPARSED = re.compile(r"```|\{(?:eval-rst|image|list-table|toctree|include|math)\}")


def _text(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def main(site: Path) -> int:
    problems = list(peers.missing(list(jrelu.FUNCTIONS)))
    index = (site / "functions" / "index.html").read_text()
    for name in jrelu.FUNCTIONS:
        page = site / "functions" / f"{name}.html"
        if not page.exists():
            problems.append(f"no page for {name}")
            continue
        html = page.read_text()
        text = _text(html)
        if f"jrelu.{name}" not in text:
            problems.append(f"{name}: the page does not name jrelu.{name}")
        if f'src="../_images/{name}.png"' not in html:
            problems.append(f"{name}: the page does not show its figure {name}.png")
        if not (site / "_images" / f"{name}.png").exists():
            problems.append(f"{name}: no _images/{name}.png in the built site")
        if "backward pass keeps" not in text:  # the docstring's Memory paragraph
            problems.append(f"{name}: the page does not say what the backward pass keeps")
        if SECTION not in html:
            problems.append(f"{name}: no 'How jax.nn, PyTorch, Flax and Equinox differ' section")
        else:
            section = html.split(SECTION, 1)[1]
            for peer in peers.ORDER:
                if f"<h3>{html_lib.escape(peer)}<" not in section:
                    problems.append(f"{name}: the peers section has no part for {peer}")
        if 'class="math' not in html:
            problems.append(f"{name}: no math in the page")
        elif "_static/mathjax/tex-chtml.js" not in html:
            problems.append(f"{name}: MathJax is not served from the site")
        if f"{name}.html" not in index:
            problems.append(f"{name}: not linked from the function index")
    for page in sorted(site.rglob("*.html")):
        for src in re.findall(r'<img[^>]*\bsrc="([^"]+)"', page.read_text()):
            if (
                not src.startswith(("http:", "https:", "data:"))
                and not (page.parent / src).exists()
            ):
                problems.append(f"{page.relative_to(site)}: broken image {src}")
        body = page.read_text().split('<article class="bd-article"', 1)[-1]
        found = _UNPARSED.search(_text(body.split("</article>", 1)[0]))
        if found and "_modules" not in page.parts and page.name != "search.html":
            where = page.relative_to(site)
            problems.append(f"{where}: unparsed markup {found[0]!r} in the text")
    for p in problems:
        print(f"docs/check_site.py: {p}")
    print(
        f"docs/check_site.py: {len(jrelu.FUNCTIONS)} function pages checked, {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")))
