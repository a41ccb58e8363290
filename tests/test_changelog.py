"""Releases people can follow: CHANGELOG.md (Keep a Changelog) names the version pyproject.toml declares
and jrelu reports, a release with changes that may break working code raises more than the patch
version, and the errors that cite a release's change find it there."""

from __future__ import annotations

import itertools
import pathlib
import re

import jax.numpy as jnp
import pytest

import jrelu
from jrelu import linen as jl

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
RELEASE = re.compile(r"^## \[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})$", re.M)


def _releases() -> list[tuple[tuple[int, int, int], str]]:
    """(version, its section's text), newest first."""
    found = list(RELEASE.finditer(CHANGELOG))
    ends = [m.start() for m in found[1:]] + [len(CHANGELOG)]
    return [
        ((int(m[1]), int(m[2]), int(m[3])), CHANGELOG[m.end() : end])
        for m, end in zip(found, ends, strict=True)
    ]


def test_the_newest_release_is_the_version_declared_and_reported():
    # (a regular expression, not tomllib: Python 3.10 is supported and has none)
    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r'^\[project\]\n(?:.*\n)*?version = "([^"]+)"', pyproject, re.M)[1]
    newest = ".".join(map(str, _releases()[0][0]))
    assert CHANGELOG.index("## [Unreleased]") < CHANGELOG.index(f"## [{newest}]")
    assert newest == declared
    assert jrelu.__version__ == declared, "installed metadata is stale: pip install -e . again"


def test_breaking_changes_raise_more_than_the_patch_version():
    """Semantic versioning, 0.x form: a section of changes that may break working code comes with a
    new minor (or major) version, never a patch."""
    releases = _releases()
    assert [v for v, _ in releases] == sorted((v for v, _ in releases), reverse=True)
    for (new, text), (old, _) in itertools.pairwise(releases):
        if "### Changed (may break working code)" in text:
            assert new[:2] != old[:2], (
                f"{new} breaks working code but only raises the patch version"
            )


def test_the_prelu_error_cites_a_release_that_describes_its_change():
    old_params = {"params": {"negative_slope": jnp.full((3,), 0.25, jnp.float32)}}
    with pytest.raises(ValueError) as info:
        jl.PReLU().apply(old_params, jnp.ones((2, 3), jnp.float32))
    cited = re.search(r"jrelu (\d+)\.(\d+)\.(\d+)", str(info.value))
    assert cited and "CHANGELOG.md" in str(info.value), str(info.value)
    text = dict(_releases())[tuple(int(g) for g in cited.groups())]
    breaking = text.split("### Changed (may break working code)", 1)[1].split("###", 1)[0]
    assert "`jrelu.linen.PReLU()` learns one shared slope" in breaking
    assert "`PReLU(axis=-1)`" in breaking
