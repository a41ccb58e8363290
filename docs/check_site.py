"""After a build: every public activation has a page on the site, with its figure and rendered math.

    python docs/check_site.py [docs/_build/html]

Run by ``.ci/run`` after ``sphinx-build``; exits 1 naming what is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jrelu


def main(site: Path) -> int:
    problems = []
    index = (site / "functions" / "index.html").read_text()
    for name in jrelu.FUNCTIONS:
        page = site / "functions" / f"{name}.html"
        if not page.exists():
            problems.append(f"no page for {name}")
            continue
        html = page.read_text()
        if f"{name}.png" not in html or not (site / "_images" / f"{name}.png").exists():
            problems.append(f"{name}: no figure")
        if 'class="math' not in html:
            problems.append(f"{name}: no math in the page")
        elif "_static/mathjax/tex-chtml.js" not in html:
            problems.append(f"{name}: MathJax is not served from the site")
        if f"{name}.html" not in index:
            problems.append(f"{name}: not linked from the function index")
    for p in problems:
        print(f"docs/check_site.py: {p}")
    print(
        f"docs/check_site.py: {len(jrelu.FUNCTIONS)} function pages checked, {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")))
