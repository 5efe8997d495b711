"""The claims ledger (CLAIMS.md) and each chapter's "What we measured vs the paper".

A chapter builds one :class:`Claim` per headline claim it measures, with the numbers of **its own
run** in ``ours`` and the verdict of the shared rule (:mod:`.verdicts`). :func:`claims_markdown`
renders them as the chapter's closing table, so no number is typed into markdown, and
:func:`check_ledger` asserts that CLAIMS.md has the same claims with the same verdicts. CLAIMS.md
lists one verdict per claim, or, where runs on different CPUs (different floating-point kernels,
see README "Portability") gave different verdicts, each verdict seen, joined by `` or ``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .verdicts import VERDICTS

LEDGER_NAME = "CLAIMS.md"
COLUMNS = ("id", "source", "claim", "paper", "ours", "scale", "verdict", "chapter")
# where a verdict comes from: the notebook's live run, or the stored reference results
# (results/CHAPTER.json, see reference.py), which are the same on every CPU that reads them
SCALES = ("teaching", "reference")


@dataclass(frozen=True)
class Claim:
    """One measured claim: a stable ``id`` (``09-cc-mnist``), the claim in words, the paper's
    number, ours (rendered from the run), the verdict, and the ``scale`` it was measured at
    ("teaching": this notebook's live run; "reference": the stored results)."""

    id: str
    claim: str
    paper: str
    ours: str
    verdict: str
    scale: str = "teaching"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.id or " " in self.id:
            raise ValueError(f"id must be a non-empty word like '09-cc-mnist', got {self.id!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(claims: list[Claim]):
    """The chapter's "What we measured vs the paper" table, as an ``IPython`` Markdown object
    (a notebook displays it; ``.data`` is the text)."""
    from IPython.display import Markdown

    lines = ["| claim | paper | ours | measured at | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(c.claim)} | {_cell(c.paper)} | {_cell(c.ours)} | {_scale_words(c)} "
              f"| **{c.verdict}** |" for c in claims]  # fmt: skip
    return Markdown("\n".join(lines))


def _scale_words(claim: Claim) -> str:
    return "this run (teaching size)" if claim.scale == "teaching" else "stored reference results"


def find_ledger(start: Path | None = None) -> Path | None:
    """CLAIMS.md in ``start`` (default: the working directory) or a parent, else beside the
    package's source tree; ``None`` if neither has it (an installed copy without the repo)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / LEDGER_NAME).is_file():
            return folder / LEDGER_NAME
    return None


def read_ledger(path: Path | str | None = None) -> dict[str, dict[str, str]]:
    """``{id: {column: text}}`` of CLAIMS.md's table, checking its form: the columns above, one
    row per id, every verdict (each alternative of an ``or``) one of the known verdicts."""
    path = Path(path) if path is not None else find_ledger()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"no {LEDGER_NAME} found (looked from {Path.cwd()} upwards)")
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    if not lines:
        raise ValueError(f"{path} has no table")
    header = tuple(c.strip() for c in lines[0].strip().strip("|").split("|"))
    if header != COLUMNS:
        raise ValueError(f"{path}: the table's columns must be {COLUMNS}, got {header}")
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(COLUMNS):
            raise ValueError(f"{path}: a row needs {len(COLUMNS)} cells: {line}")
        row = dict(zip(COLUMNS, cells))
        if row["id"] in rows:
            raise ValueError(f"{path}: the id {row['id']!r} is used twice")
        if row["scale"] not in SCALES:
            raise ValueError(f"{path}: scale {row['scale']!r} in row {row['id']!r}, "
                             f"not one of {SCALES}")  # fmt: skip
        for verdict in ledger_verdicts(row):
            if verdict not in VERDICTS:
                raise ValueError(f"{path}: unknown verdict {verdict!r} in row {row['id']!r}")
        rows[row["id"]] = row
    return rows


def ledger_verdicts(row: dict[str, str]) -> set[str]:
    """The verdicts a ledger row allows (``**holds**`` -> {"holds"}; ``a or b`` -> {a, b})."""
    return {v.strip() for v in row["verdict"].replace("*", "").split(" or ")}


def check_ledger(claims: list[Claim], chapter: str, path: Path | str | None = None) -> None:
    """Assert that CLAIMS.md's rows for ``chapter`` are exactly ``claims`` (same ids) and that
    each verdict computed here is one the ledger lists. Prints a note and checks nothing when
    CLAIMS.md is not there (the package installed without its repository)."""
    path = Path(path) if path is not None else find_ledger()
    if path is None:
        print(f"({LEDGER_NAME} not found: the chapter's verdicts were not compared with it)")
        return
    rows = read_ledger(path)
    ours = {c.id: c for c in claims}
    listed = {i for i, row in rows.items() if row["chapter"] == chapter}
    problems = [f"{i}: in {LEDGER_NAME} for {chapter} but not measured here"
                for i in sorted(listed - ours.keys())]  # fmt: skip
    for c in claims:
        if c.id not in rows:
            problems.append(f"{c.id}: measured here but not in {LEDGER_NAME}")
        elif rows[c.id]["chapter"] != chapter:
            problems.append(f"{c.id}: {LEDGER_NAME} names chapter {rows[c.id]['chapter']!r}")
        elif rows[c.id]["scale"] != c.scale:
            problems.append(f"{c.id}: measured here at {c.scale} scale, "
                            f"{LEDGER_NAME} says {rows[c.id]['scale']!r}")  # fmt: skip
        elif c.verdict not in ledger_verdicts(rows[c.id]):
            problems.append(f"{c.id}: verdict here {c.verdict!r}, "
                            f"{LEDGER_NAME} says {rows[c.id]['verdict']!r}")  # fmt: skip
    if problems:
        raise AssertionError(f"{path} disagrees with this run:\n  " + "\n  ".join(problems))
    print(f"{LEDGER_NAME} agrees: {len(claims)} claims of {chapter}, same verdicts")
