"""The reference results' figures: paired differences with the verdict rule's interval, and
learning curves over seeds."""

import matplotlib
import pytest

matplotlib.use("Agg")

from cplus_edu.experiments import paired_verdict, plot_paired_intervals  # noqa: E402
from cplus_edu.viz import plot_learning_curves  # noqa: E402


def test_paired_intervals_draw_each_seed_and_the_rules_interval():
    pairs = {"b - a": [1.0, 2.0, 3.0], "d - c": [-0.01, -0.02, -0.03, 0.01]}
    fig = plot_paired_intervals(pairs, unit="points")
    assert len(fig.axes) == 2
    for ax, values in zip(fig.axes, pairs.values()):
        dots = sorted(float(x) for c in ax.collections[:1] for x, _ in c.get_offsets())
        assert dots == sorted(values)
        evidence = paired_verdict(values)
        (line,) = [ln for ln in ax.lines if ln.get_linewidth() == 3]
        assert list(line.get_xdata()) == pytest.approx([evidence.low, evidence.high])
        low, high = ax.get_xlim()
        assert low < min(0.0, evidence.low) and high > max(0.0, evidence.high)
    with pytest.raises(ValueError, match="pairs"):
        plot_paired_intervals({"empty": []})


def test_learning_curves_one_line_per_seed_and_a_mean():
    curves = {"softmax": [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "fused": [[0.0, 1.0, 2.0]]}
    fig = plot_learning_curves(curves, ylabel="mIoU")
    lines = fig.axes[0].lines
    assert len(lines) == 2 + 1 + 1 + 1  # seeds and a mean per loss
    assert list(lines[2].get_ydata()) == [2.0, 3.0, 4.0]  # softmax's mean
    with pytest.raises(ValueError, match="curves"):
        plot_learning_curves({"fused": []}, ylabel="mIoU")
