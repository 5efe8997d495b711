"""The figure beside every reference verdict: one row per comparison, its verdict written out."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cplus_edu.experiments import plot_paired_intervals  # noqa: E402


def test_rows_labels_and_verdicts():
    ax = plot_paired_intervals({"A - B": [0.02, 0.03, 0.025], "C - D": [-0.01, 0.01]}, scale=100,
                               unit="points", pair="split")  # fmt: skip
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C - D", "A - B"]
    notes = [t.get_text() for t in ax.texts]
    assert "holds (3/3 up)" in notes and "inconclusive at this scale (1/2 up)" in notes
    assert "splits" in ax.get_xlabel() and "points" in ax.get_xlabel()
    plt.close("all")


def test_no_comparison_is_refused():
    with pytest.raises(ValueError, match="at least one comparison"):
        plot_paired_intervals({})
