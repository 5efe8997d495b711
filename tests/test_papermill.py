"""Chapters run from the command line with papermill, parameters overridden (the course's
scale switch works the same way: ``-p SCALE reference`` in a chapter that has a reference scale)."""

import json
import os
from pathlib import Path

import pytest

from cplus_edu.experiments.reference import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_has_one_parameters_cell_with_its_scale_switch(path):
    """One switch for the larger scale: ``SCALE = "teaching"`` (or "reference", the parameters
    the stored results were made with) in the chapters that have a reference scale; the old
    ``PAPER_SCALE`` switch, never run, is gone everywhere."""
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in _tags(c)]
    assert len(tagged) == 1, f"{path.name}: tag exactly one cell 'parameters' (papermill)"
    assert tagged[0]["cell_type"] == "code"
    assert "PAPER_SCALE" not in path.read_text(), f"{path.name}: fold PAPER_SCALE into SCALE"
    if path.stem in CHAPTERS:
        assert 'SCALE = "teaching"' in "".join(tagged[0]["source"]), (
            f'{path.name}: the parameters cell should hold SCALE = "teaching"'
        )


def test_papermill_runs_the_tour_with_a_parameter_overridden(tmp_path):
    import papermill

    data_root = Path(os.environ.get("CPLUS_EDU_DATA", "~/.cache/cplus_edu")).expanduser()
    if not (data_root / "MNIST").exists():
        pytest.fail(f"the tour needs MNIST under {data_root} (set CPLUS_EDU_DATA)")
    out = tmp_path / "tour.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "00_tour.ipynb"), str(out), parameters={"N_PER_DIGIT": 200},
        kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
    )
    cells = json.loads(out.read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in _tags(c)]
    assert len(injected) == 1 and "N_PER_DIGIT = 200" in "".join(injected[0]["source"])
    printed = "".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"]
    )
    assert "MNIST: 2000 training" in printed  # 200 per digit, 10 digits: the override took effect
