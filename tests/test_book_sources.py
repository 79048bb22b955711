"""The book's sources agree with each other: the bibliography is the one the timeline writes, every
citation and every glossary link resolves, and every chapter ends with exercises, solutions and reading.

A broken ``{cite}`` or ``{term}`` fails the book build too, but only at the end of a long one; these
checks read the sources in a second. None of them executes a notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lineage import timeline

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted(BOOK.glob("*.md"))

CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
TERM = re.compile(r"\{term\}`([^`]+)`")
LABELLED = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)  # `text <target>`


def markdown(path: Path) -> str:
    """The prose of a book page, or the markdown cells of a chapter."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def sources() -> list[Path]:
    return [*CHAPTERS, *PAGES]


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(encoding="utf-8"), re.M))


def glossary_terms() -> list[str]:
    """Every term of the ``{glossary}`` directive of book/glossary.md: its unindented lines."""
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    block = re.search(r"^```\{glossary\}\n(.*?)^```", text, re.S | re.M)
    assert block, "book/glossary.md has no {glossary} directive"
    return [line.strip() for line in block.group(1).splitlines()
            if line.strip() and not line[0].isspace() and not line.startswith(":")]


def test_the_bibliography_is_written_from_the_timeline():
    """Edit lineage/timeline.py, then run `python scripts/references.py`; this fails in between."""
    committed = (BOOK / "references.bib").read_text(encoding="utf-8")
    assert committed == timeline.bibtex(), "book/references.bib is stale: run python scripts/references.py"


def test_every_system_and_work_has_one_key():
    works = [*timeline.SYSTEMS, *timeline.OTHER_WORKS]
    keys = [timeline.cite_key(w) for w in works]
    assert len(keys) == len(set(keys))
    assert set(keys) == bib_keys()
    assert timeline.cite_key(timeline.get("WaveNet")) == "wavenet2016"
    assert timeline.cite_key(timeline.get("AudioLDM 2")) == "audioldm22023"
    for w in works:  # every entry can be read: an arXiv id or an explicit address
        assert re.fullmatch(r"\d{4}\.\d{4,5}", w.arxiv) or getattr(w, "url", ""), w.name


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
def test_every_citation_is_in_the_bibliography(path):
    keys = bib_keys()
    cited = {k.strip() for group in CITE.findall(markdown(path)) for k in group.split(",")}
    assert cited <= keys, f"{path.name} cites keys missing from book/references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
def test_every_term_link_is_in_the_glossary(path):
    terms = {t.lower() for t in glossary_terms()}
    used = set()
    for role in TERM.findall(markdown(path)):
        m = LABELLED.match(role)
        used.add((m.group(2) if m else role).strip().lower())
    assert used <= terms, f"{path.name} links terms the glossary lacks: {sorted(used - terms)}"


def test_the_glossary_defines_each_term_once():
    terms = [t.lower() for t in glossary_terms()]
    assert len(terms) == len(set(terms))
    assert {"mu-law", "receptive field", "fid", "real-time factor", "classifier-free guidance"} <= set(terms)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_ends_with_exercises_solutions_and_reading(path):
    """3-5 exercises, each followed by its solution in a dropdown; a further-reading list; and the
    chapter's last code cell still after every other code cell (the exercises add none)."""
    text = markdown(path)
    assert "## Further reading" in text, f"{path.name} has no further reading"
    section = text.split("## Exercises", 1)
    assert len(section) == 2, f"{path.name} has no exercises"
    body = section[1].split("\n## ", 1)[0]
    exercises = re.findall(r"^\*\*(\d+)\. ", body, re.M)
    solutions = re.findall(r"^:::\{admonition\} Solution\n:class: dropdown$", body, re.M)
    assert 3 <= len(exercises) <= 5, f"{path.name}: {len(exercises)} exercises"
    assert exercises == [str(k) for k in range(1, len(exercises) + 1)]
    assert len(solutions) == len(exercises), f"{path.name}: every exercise needs its solution"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    last_code = [c for c in cells if c["cell_type"] == "code"][-1]
    assert "assert " in "".join(last_code["source"]), f"{path.name}: the last code cell must be the chapter's check"


def test_the_table_of_contents_holds_every_page_and_chapter():
    toc = (BOOK / "_toc.yml").read_text(encoding="utf-8")
    files = set(re.findall(r"file:\s*(\S+)", toc)) | set(re.findall(r"^root:\s*(\S+)", toc, re.M))
    assert {f"notebooks/{p.stem}" for p in CHAPTERS} <= files
    assert {"setup", "glossary", "bibliography", "teachers"} <= files
    assert all((BOOK / f"{f}.md").is_file() or (BOOK / f"{f}.ipynb").is_file() for f in files)
