"""The claims ledger (CLAIMS.md): well-formed rows, every seed covered, chapters check rows."""

import re
from pathlib import Path

from cplus_edu.experiments.ledger import read_ledger

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_has_a_known_verdict_and_a_seed():
    rows = read_ledger(ROOT / "CLAIMS.md")  # raises on an unknown verdict or a repeated id
    assert rows, "the ledger is empty"
    for row in rows.values():
        assert re.fullmatch(r"00[0-4]", row["seed"]), row
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", row["id"]), row["id"]
        assert row["id"][:2] == row["chapter"][:2], f"{row['id']} is measured in {row['chapter']}"


def test_every_seed_has_a_row():
    seeds = {row["seed"] for row in read_ledger(ROOT / "CLAIMS.md").values()}
    assert seeds == {"000", "001", "002", "003", "004"}, seeds


def test_every_chapter_in_the_ledger_exists_and_checks_its_rows():
    """Each chapter named renders its claims and asserts them against the ledger at run time
    (`check_ledger(claims, "<chapter>")`), and names every id the ledger gives it."""
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    rows = read_ledger(ROOT / "CLAIMS.md").values()
    for chapter in {row["chapter"] for row in rows}:
        assert chapter in notebooks, f"the ledger names a missing chapter {chapter}"
        source = (ROOT / "notebooks" / f"{chapter}.py").read_text()
        assert f'check_ledger(claims, "{chapter}")' in source, chapter
        for row in rows:
            if row["chapter"] == chapter:
                assert f'"{row["id"]}"' in source, f"{chapter} never builds claim {row['id']}"


def test_the_readme_links_the_ledger():
    assert "CLAIMS.md" in (ROOT / "README.md").read_text()
