"""The learning curves of the reference runs: one line per seed and a mean per loss (the paired
differences' figure is tested in test_evidence_plot.py)."""

import matplotlib
import pytest

matplotlib.use("Agg")

from cplus_edu.viz import plot_learning_curves  # noqa: E402


def test_learning_curves_one_line_per_seed_and_a_mean():
    curves = {"softmax": [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "fused": [[0.0, 1.0, 2.0]]}
    fig = plot_learning_curves(curves, ylabel="mIoU")
    lines = fig.axes[0].lines
    assert len(lines) == 2 + 1 + 1 + 1  # seeds and a mean per loss
    assert list(lines[2].get_ydata()) == [2.0, 3.0, 4.0]  # softmax's mean
    with pytest.raises(ValueError, match="curves"):
        plot_learning_curves({"fused": []}, ylabel="mIoU")
