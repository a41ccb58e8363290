"""After a build: every public activation has a page on the site, with its figure, its comparison with
the peers and rendered math.

    python docs/check_site.py [docs/_build/html]

Run by ``.ci/run`` after ``sphinx-build``; exits 1 naming what is missing. For every function in
``jrelu.FUNCTIONS`` its page must exist and name it, reference its figure (and the png must be in the
built site), say what the backward pass keeps (the docstring's Memory paragraph), hold the "How jax.nn, PyTorch, Flax and Equinox differ" section with one part per peer
(from ``docs/peers.py``, which must have an entry for it and none for a function the library lacks),
render math with the MathJax copy served by the site, and be linked from the function index. No page
may show a MyST directive that was not parsed (a fenced block's ``{name}`` left in the text) or an
image that is not in the built site. And the site as a whole (:func:`site_problems`): its navigation,
the function index as ``jrelu list`` prints it, the repository link, the version and the changelog,
every committed bench run on the benchmarks page, code lines that fit the column.
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
    problems += site_problems(site)
    for p in problems:
        print(f"docs/check_site.py: {p}")
    print(
        f"docs/check_site.py: {len(jrelu.FUNCTIONS)} function pages checked, {len(problems)} problems"
    )
    return 1 if problems else 0


# The navigation, as Equinox's and optax's sites have it: a getting-started page first, the user's
# guides apart from the notes for whoever changes jrelu.
CAPTIONS = ["Getting started", "User guides", "Reference", "Developer notes"]
DEVELOPER_PAGES = ("guides/design.html", "guides/examples.html")
# The longest code line allowed: with the site's CSS (docs/_static/jrelu.css: code at 0.75em, the
# contents 13rem wide) 95 characters fit a guide's block and 91 a docstring's (its doctest) in
# windows of 800 to 1600 pixels, measured with headless Chromium (the narrowest: a 1280-pixel window
# with the page's contents, 750 px and 718 px). Terminal transcripts (```console) are shown as the
# terminal printed them.
CODE_WIDTH = {"guide": 95, "docstring": 91}
_BLOCK = re.compile(
    r'<div class="([^"]*)highlight-([\w-]+)[^"]*"[^>]*><div class="highlight"><pre>(.*?)</pre>',
    re.S,
)


def site_problems(site: Path) -> list[str]:
    """What the site promises besides the function pages: its navigation, the function index as
    ``jrelu list`` prints it, the repository link, the version and the changelog, every committed
    bench run on the benchmarks page, and code lines that fit the column."""
    from importlib.metadata import metadata

    from jrelu._cli import list_

    problems = []
    index = (site / "index.html").read_text()
    nav = index.split('class="bd-sidebar-primary', 1)[-1].split("</nav>", 1)[0]
    captions = re.findall(r'<span class="caption-text">(.*?)</span>', nav)
    if captions != CAPTIONS:
        problems.append(f"navigation captions {captions}, expected {CAPTIONS}")
    groups = dict(
        zip(captions, re.split(r'<span class="caption-text">.*?</span>', nav)[1:], strict=False)
    )
    if "getting_started.html" not in groups.get("Getting started", ""):
        problems.append("the Getting started page is not first in the navigation")
    for page in DEVELOPER_PAGES:
        if page not in groups.get("Developer notes", "") or page in groups.get("User guides", ""):
            problems.append(f"{page} is not under Developer notes (only)")
    # the findings page is named as the README names it
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    further = readme.split("## Further reading", 1)[1]
    name = re.search(r"\[([^\]]+)\]\(examples/README\.md\)", further)[1]
    findings = (site / "guides" / "findings.html").read_text()
    if f"<title>{html_lib.escape(name)}" not in findings.replace("&#8217;", "'"):
        problems.append(f"guides/findings.html is not titled {name!r}, as the README names it")
    # the function index shows what jrelu list prints
    table = " ".join(_text((site / "functions" / "index.html").read_text()).split())
    table = table.replace("\u2019", "'")
    for fname, spec in jrelu.FUNCTIONS.items():
        row = table.split(f" {fname} ", 1)[-1]
        parts = (
            []
            if list_.parameters(spec) == "-"
            else [p.strip() for p in re.split(r",\s(?![^(]*\))", list_.parameters(spec))]
        )
        missing = [p for p in [*parts, spec.kink_rule] if p not in row[:400]]
        if missing:
            problems.append(f"functions/index.html: {fname}'s row lacks {missing} (jrelu list)")
    # the repository, the version and the changelog
    urls = dict(
        u.split(", ", 1) for u in metadata("jrelu").get_all("Project-URL") or [] if ", " in u
    )
    repo = urls.get("Repository")
    if not repo:
        problems.append("pyproject.toml names no Repository URL")
    for page in ("index.html", "guides/getting_started.html", "api.html"):
        if repo and f'href="{repo}"' not in (site / page).read_text():
            problems.append(f"{page} has no link to the repository {repo}")
    if f"jrelu {jrelu.__version__}" not in index:
        problems.append(f"index.html does not show the version {jrelu.__version__}")
    if not (site / "changelog.html").exists() or "changelog.html" not in nav:
        problems.append("no changelog page in the navigation")
    # every committed bench run, side by side on the benchmarks page, and the figure
    bench = (site / "guides" / "benchmarks.html").read_text()
    for run in sorted(
        (Path(__file__).resolve().parent.parent / "benchmarks" / "results").glob("bench-*.json")
    ):
        if run.name not in bench:
            problems.append(f"guides/benchmarks.html does not compare {run.name}")
    if "bench-compare-float32-fwd.png" not in bench:
        problems.append("guides/benchmarks.html lacks the figure of jrelu compare")
    # code lines that fit the column
    for page in sorted(site.rglob("*.html")):
        if "_modules" in page.parts or page.name in ("genindex.html", "search.html"):
            continue
        body = page.read_text().split('<article class="bd-article"', 1)[-1]
        for m in _BLOCK.finditer(body):
            if m[2] == "console":
                continue
            kind = "docstring" if "doctest" in m[1] else "guide"
            for line in html_lib.unescape(re.sub(r"<[^>]+>", "", m[3])).splitlines():
                if len(line) > CODE_WIDTH[kind]:
                    where = page.relative_to(site)
                    problems.append(
                        f"{where}: a code line of {len(line)} characters (> {CODE_WIDTH[kind]}): {line.strip()[:60]}"
                    )
    return problems


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")))
