"""Every relative link in README.md and docs/*.md reaches a file that exists, and an anchor reaches
a heading of that file; mkdocs.yml's nav lists every page of docs/ and nothing else. `.ci/run`
also builds the site with `mkdocs build --strict`; this test needs no MkDocs."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

PAGES = sorted((REPO / "docs").glob("*.md"))
FILES = [REPO / "README.md", *PAGES]

#: [text](target) or [text](target "title"); images too. Code spans and fenced blocks are
#: removed first, so a link written inside backticks is not a link.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub and MkDocs (Python-Markdown's toc) both give a plain-text heading."""
    text = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(2)) for m in HEADING.finditer(text)}


def links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text(encoding="utf-8")))


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) and not target.startswith("//")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in filter(relative, links(path)):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if path.parent == REPO / "docs" and REPO / "docs" not in dest.parents:
            broken.append(f"{target}: outside docs/ (MkDocs cannot publish it; use a code span)")
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: {dest.name} has no heading #{anchor}")
    assert not broken, f"{path.relative_to(REPO)}: " + "; ".join(broken)


def test_the_readme_links_to_the_docs() -> None:
    targets = {t.partition("#")[0] for t in links(REPO / "README.md")}
    assert {f"docs/{p.name}" for p in PAGES} <= targets


def test_the_nav_lists_every_page_once() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = [page for entry in config["nav"] for page in entry.values()]
    assert sorted(nav) == sorted(p.name for p in PAGES)
    assert len(nav) == len(set(nav))


def test_the_link_checker_sees_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "a.md"
    page.write_text(
        "# A `b` c: d\n\n[ok](#a-b-c-d) [gone](#nope) `[code](missing.md)` [f](missing.md)\n"
        "```\n[fenced](missing2.md)\n```\n"
    )
    assert links(page) == ["#a-b-c-d", "#nope", "missing.md"]
    assert anchors(page) == {"a-b-c-d"}
