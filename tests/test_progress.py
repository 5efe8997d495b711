"""Progress bars stay readable in a saved notebook; the chapters' stopwatch."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from cplus_edu.utils import Stopwatch, progress_bar

FINAL_LINE = re.compile(r"demo: 100%\|.*\| 3/3 \[")


def _run_in_a_kernel(code: str) -> list[dict]:
    """The outputs a notebook would save for one code cell run in a real Jupyter kernel."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb.cells[0].outputs


def test_a_finished_bar_is_saved_as_its_final_text_line_not_a_widget():
    outputs = _run_in_a_kernel(
        "from cplus_edu.utils import progress_bar\n"
        "for _ in progress_bar(range(3), desc='demo', show=True):\n"
        "    pass\n"
    )
    data = [o["data"] for o in outputs if o["output_type"] == "display_data"]
    assert len(data) == 1, outputs
    assert set(data[0]) == {"text/plain"}, "the widget is still in the saved output"
    assert FINAL_LINE.search(data[0]["text/plain"]), data[0]


def test_a_failed_bar_is_saved_where_it_stopped_and_leave_false_leaves_no_line():
    outputs = _run_in_a_kernel(
        "from cplus_edu.utils import progress_bar\n"
        "for _ in progress_bar(range(5), desc='quiet', show=True, leave=False):\n"
        "    pass\n"
        "try:\n"
        "    for i in progress_bar(range(5), desc='broken', show=True):\n"
        "        assert i < 2\n"
        "except AssertionError:\n"
        "    pass\n"
    )
    texts = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert not any("widget" in t.lower() for t in texts), texts
    assert "quiet" not in "".join(texts)
    assert any(re.search(r"broken:\s+40%.*\| 2/5 \[", t) for t in texts), texts


def test_outside_a_notebook_the_bar_is_tqdm_text_and_can_be_silenced(capsys):
    assert list(progress_bar(range(4), desc="text", show=True)) == [0, 1, 2, 3]
    assert "text: 100%" in capsys.readouterr().err
    assert list(progress_bar(range(4), desc="silent", show=False)) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""


def test_stopwatch_counts_up_and_prints_minutes_and_seconds(monkeypatch):
    import cplus_edu.utils as utils

    now, cpu = [100.0], [7.0]
    monkeypatch.setattr(utils.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(utils.time, "process_time", lambda: cpu[0])
    watch = Stopwatch()
    now[0] += 42.4
    cpu[0] += 30.2
    assert watch.seconds() == pytest.approx(42.4) and str(watch) == "42 s"
    assert watch.cpu_seconds() == pytest.approx(30.2)
    now[0] += 65
    assert str(watch) == "1 min 47 s"
    assert watch.report() == (
        "This chapter ran in 1 min 47 s (wall clock; CPU time of this process 30 s)."
    )
