"""The claims ledger (CLAIMS.md): well-formed rows, every seed covered, chapters check rows."""

import re
from pathlib import Path

from cplus_edu.experiments.ledger import read_ledger
from cplus_edu.experiments.reference import CHAPTERS, recipe

ROOT = Path(__file__).resolve().parents[1]


SOURCES = ("C+1 loss [1]", "CAS loss [2]", "fused loss [3]", "DC loss poster [4]", "CC-loss [5]")


def test_every_row_has_a_known_verdict_and_source():
    rows = read_ledger(ROOT / "CLAIMS.md")  # raises on an unknown verdict, scale or repeated id
    assert rows, "the ledger is empty"
    for row in rows.values():
        assert row["source"] in SOURCES, row
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", row["id"]), row["id"]
        assert row["id"][:2] == row["chapter"][:2], f"{row['id']} is measured in {row['chapter']}"


def test_every_paper_has_a_row_and_is_cited():
    """Each of the five papers has claims, and its number [k] is its entry in REFERENCES.md."""
    sources = {row["source"] for row in read_ledger(ROOT / "CLAIMS.md").values()}
    assert sources == set(SOURCES), sources
    references = (ROOT / "REFERENCES.md").read_text()
    for source in SOURCES:
        number, name = source[-2], source.split(" [")[0]
        entry = re.search(rf"^{number}\. \*\*(.+?)\*\*", references, re.M)
        assert entry and name.split()[0].lower() in entry.group(1).lower(), (source, entry)


def test_every_chapter_in_the_ledger_exists_and_checks_its_rows():
    """Each chapter named renders its claims and asserts them against the ledger at run time
    (`check_ledger(claims, "<chapter>")`), and names every id the ledger gives it (in the
    notebook, or in its recipe module when the claims are built from stored reference results)."""
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    rows = read_ledger(ROOT / "CLAIMS.md").values()
    for chapter in {row["chapter"] for row in rows}:
        assert chapter in notebooks, f"the ledger names a missing chapter {chapter}"
        source = (ROOT / "notebooks" / "scripts" / f"{chapter}.py").read_text()
        assert f'check_ledger(claims, "{chapter}")' in source, chapter
        if chapter in CHAPTERS:
            source += Path(recipe(chapter).__file__).read_text()
        for row in rows:
            if row["chapter"] == chapter:
                assert f'"{row["id"]}"' in source, f"{chapter} never builds claim {row['id']}"


def test_the_readme_links_the_ledger():
    assert "CLAIMS.md" in (ROOT / "README.md").read_text()
