"""The chapters read as a course: each opens with goals, prerequisites and a run-time band and
closes with exercises whose answers are checked; papers are named, never by our file numbers;
the Binder badge opens a notebook that exists."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HINT, ANSWER = "<details><summary>Hint</summary>", "<details><summary>Answer</summary>"
# a typed duration ("41 s", "2 min", "90 seconds"): the run prints its own time instead
TYPED_TIME = re.compile(r"\b\d+(\.\d+)?\s*(s|sec|secs|seconds?|min|mins|minutes?)\b")


def _cells(path: Path) -> list[dict]:
    return [{**c, "text": "".join(c["source"])} for c in json.loads(path.read_text())["cells"]]


def _section(text: str, start: str, stop: str | None) -> str:
    after = text.split(start, 1)[1]
    return after.split(stop, 1)[0] if stop else after


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_opens_with_goals_prerequisites_and_a_run_time_band(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and cells[0]["text"].startswith("# "), "title first"
    opening = cells[1]
    assert opening["cell_type"] == "markdown" and opening["text"].startswith("## Before you start")
    text = opening["text"]
    for part in ("**You will be able to**", "**Prerequisites.**", "**Run time.**"):
        assert part in text, f"{path.name}: the opening misses {part}"
    goals = _section(text, "**You will be able to**", "**Prerequisites.**")
    bullets = [line for line in goals.splitlines() if line.startswith("* ")]
    assert 3 <= len(bullets) <= 5, f"{path.name}: {len(bullets)} goals, want 3-5"
    prerequisites = _section(text, "**Prerequisites.**", "**Run time.**")
    assert re.search(r"[Cc]hapters? \d\d|[Nn]o earlier chapter", prerequisites), path.name
    assert "GLOSSARY.md" in prerequisites or "REFERENCES.md" in prerequisites, path.name
    run_time = _section(text, "**Run time.**", None)
    assert re.search(r"\b(about|under|well under|two to three|a few)\b", run_time, re.I)
    assert "minute" in run_time and "CPU" in run_time, f"{path.name}: band and machine"
    assert not TYPED_TIME.search(run_time), f"{path.name}: a band, not a measured number"
    # the run time is measured: a stopwatch starts in the next cell and the last cell prints it
    assert cells[2]["cell_type"] == "code" and "Stopwatch()" in cells[2]["text"], path.name
    assert cells[-1]["cell_type"] == "code" and "stopwatch.report()" in cells[-1]["text"]


def _markdown_starting(cells: list[dict], prefix: str) -> list[int]:
    return [i for i, c in enumerate(cells)
            if c["cell_type"] == "markdown" and c["text"].startswith(prefix)]  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_hint_and_an_answer_checked_by_a_hidden_cell(path):
    cells = _cells(path)
    headings = _markdown_starting(cells, "## Exercises")
    assert len(headings) == 1, f"{path.name}: one '## Exercises' section"
    exercises = _markdown_starting(cells, "### Exercise ")
    assert len(exercises) >= 2 and min(exercises) > headings[0], path.name
    for i in exercises:
        text, answer_cell = cells[i]["text"], cells[i + 1]
        name = f"{path.name}: {text.splitlines()[0]}"
        assert text.count(HINT) == 1 and text.count(ANSWER) == 1, name
        assert text.index(HINT) < text.index(ANSWER), f"{name}: the hint comes first"
        assert text.count("</details>") == 2, f"{name}: close both <details> blocks"
        assert answer_cell["cell_type"] == "code", f"{name}: the answer's code cell follows it"
        assert "answer" in answer_cell["metadata"].get("tags", []), f"{name}: tag it 'answer'"
        assert answer_cell["metadata"].get("jupyter", {}).get("source_hidden") is True, name
        assert "assert " in answer_cell["text"], f"{name}: the answer cell checks its claim"


# "seed 000", "seed_001", "Seed 004's", "(seed 003:" and our copies' file names ("000_1a2b..."):
# how the papers are stored here, not what they are called
SEED_NAME = re.compile(r"\bseeds?[ _-]?0\d\d\b|\b00\d_[0-9a-f]{16}\b", re.I)


def _user_facing_files() -> list[Path]:
    files = [ROOT / name for name in ("README.md", "GLOSSARY.md", "REFERENCES.md", "CLAIMS.md")]
    files += sorted((ROOT / "notebooks").glob("*.ipynb"))
    for folder in ("notebooks/scripts", "cplus_edu", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_papers_are_named_not_numbered_by_our_seed_files():
    files = _user_facing_files()
    assert len(files) > 50
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in files for n, line in enumerate(path.read_text().splitlines(), 1)
             if SEED_NAME.search(line)]  # fmt: skip
    assert not found, "name papers by author / short title and REFERENCES.md [n]:\n" + "\n".join(
        found
    )


def test_the_seed_name_pattern_catches_seed_numbers_but_not_random_seeds():
    for bad in ("(seed 000, Table 1)", "seed 003: RetinaNet", "Seed 004's slides", "seed002",
                "000_111eb579e0f53697.txt"):  # fmt: skip
        assert SEED_NAME.search(bad), bad
    for fine in ("seed 0", "(seed 0)", "seeds (0, 1, 2)", "SEEDS = (0, 1, 2, 3, 4)", "seed 10"):
        assert not SEED_NAME.search(fine), fine


BADGE = re.compile(
    r"\(https://mybinder\.org/v2/gh/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/(?P<ref>[^?\s]+)"
    r"\?urlpath=lab/tree/(?P<path>[^)\s]+)\)"
)


def test_the_binder_badge_opens_an_existing_notebook_and_says_what_to_change():
    readme = (ROOT / "README.md").read_text()
    badges = list(BADGE.finditer(readme))
    assert len(badges) == 1, "one Binder badge in README.md"
    badge = badges[0]
    assert (ROOT / badge["path"]).is_file(), f"the badge opens {badge['path']}, which is missing"
    assert badge["path"].endswith(".ipynb") and badge["path"].startswith("notebooks/")
    for needed in ("requirements.txt", "postBuild"):
        assert (ROOT / "binder" / needed).is_file(), f"binder/{needed}"
    if badge["owner"] == "OWNER":  # a placeholder: the README must say exactly what to replace
        binder = readme.split("## Binder", 1)[1].split("\n## ", 1)[0]
        assert "`OWNER`" in binder and "`README.md`" in binder and badge.group(0)[1:-1] in binder
