"""The shared paired-evidence figure: one row per comparison, its interval the verdict rule's."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cplus_edu.experiments import plot_evidence  # noqa: E402
from cplus_edu.experiments.verdicts import paired_verdict  # noqa: E402


def _interval(ax, index=0):
    return ax.containers[index].lines[2][0].get_segments()[0][:, 0]


def test_rows_intervals_and_verdicts_match_the_rule():
    comparisons = {"C+1 - CE": [0.01, 0.02, 0.03, 0.02], "CC - CE": [0.01, -0.02, 0.0]}
    fig = plot_evidence(comparisons, scale=100, unit="points", paper={"C+1 - CE": 1.4},
                        pair="split")  # fmt: skip
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(comparisons)
    texts = [t.get_text() for t in ax.texts]
    for name, values in comparisons.items():
        e = paired_verdict([100 * v for v in values], paper_effect=1.4 if "C+1" in name else None)
        assert any(t.startswith(e.verdict) for t in texts), (name, texts)
    e = paired_verdict([1.0, 2.0, 3.0, 2.0], paper_effect=1.4)
    assert list(_interval(ax)) == pytest.approx([e.low, e.high])
    assert "points" in ax.get_xlabel() and "splits" in ax.get_xlabel()
    plt.close("all")


def test_own_scale_gives_each_row_its_axes_and_range():
    comparisons = {"F_beta": [0.001, 0.002, 0.003], "ARI": [10.0, -20.0, 5.0, 0.0]}
    fig = plot_evidence(comparisons, own_scale=True)
    assert len(fig.axes) == 2
    for ax, values in zip(fig.axes, comparisons.values()):
        dots = sorted(float(x) for x, _ in ax.collections[0].get_offsets())
        assert dots == pytest.approx(sorted(values))
        e = paired_verdict(values)
        assert list(_interval(ax)) == pytest.approx([e.low, e.high])
        low, high = ax.get_xlim()
        assert low < min(0.0, e.low) and high > max(0.0, e.high)
        assert high - low < 10 * (max(values + [e.high, 0]) - min(values + [e.low, 0]))
    plt.close("all")


def test_refuses_empty_and_unknown_rows():
    with pytest.raises(ValueError, match="at least one comparison"):
        plot_evidence({})
    with pytest.raises(ValueError, match="non-empty"):
        plot_evidence({"empty": []})
    with pytest.raises(ValueError, match="paper names"):
        plot_evidence({"a": [1.0, 2.0]}, paper={"b": 1.0})
    with pytest.raises(ValueError, match="own_scale"):
        plot_evidence({"a": [1.0, 2.0]}, own_scale=True, ax=plt.gca())
    plt.close("all")
