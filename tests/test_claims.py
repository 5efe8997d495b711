"""The claims ledger (CLAIMS.md): well-formed rows, every seed covered, every chapter real."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {"holds", "holds in direction only", "does not reproduce at this scale",
            "does not reproduce", "not tested yet"}  # fmt: skip
COLUMNS = ["seed", "claim", "paper", "ours (mean ± std, runs)", "verdict", "chapter"]


def ledger_rows() -> list[dict[str, str]]:
    lines = [line for line in (ROOT / "CLAIMS.md").read_text().splitlines()
             if line.startswith("|")]  # fmt: skip
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == COLUMNS, header
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(COLUMNS), f"a row needs {len(COLUMNS)} cells: {line}"
        rows.append(dict(zip(COLUMNS, cells)))
    return rows


def test_every_row_has_a_known_verdict_and_a_seed():
    rows = ledger_rows()
    assert rows, "the ledger is empty"
    for row in rows:
        verdict = re.sub(r"\*", "", row["verdict"]).split(" (")[0].strip()
        assert verdict in VERDICTS, f"unknown verdict {row['verdict']!r} in {row['claim']!r}"
        assert re.fullmatch(r"00[0-4]", row["seed"]), row


def test_every_seed_has_a_row():
    seeds = {row["seed"] for row in ledger_rows()}
    assert seeds == {"000", "001", "002", "003", "004"}, seeds


def test_every_chapter_named_in_the_ledger_exists():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for row in ledger_rows():
        for chapter in re.findall(r"\d\d_\w+", row["chapter"]):
            assert chapter in notebooks, f"{row['claim']!r} names a missing chapter {chapter}"
        tested = "not tested yet" not in row["verdict"]
        assert not tested or re.search(r"\d\d_\w+", row["chapter"]), (
            f"{row['claim']!r} has a verdict but no chapter that measures it"
        )


def test_the_readme_links_the_ledger():
    assert "CLAIMS.md" in (ROOT / "README.md").read_text()
