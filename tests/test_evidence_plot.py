"""The shared paired-evidence figure: one row per comparison, its interval the verdict rule's."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cplus_edu.experiments.evidence_plot import plot_evidence  # noqa: E402
from cplus_edu.experiments.verdicts import paired_verdict  # noqa: E402


def test_rows_intervals_and_verdicts_match_the_rule():
    comparisons = {"C+1 - CE": [0.01, 0.02, 0.03, 0.02], "CC - CE": [0.01, -0.02, 0.0]}
    ax = plot_evidence(comparisons, scale=100, unit="points", paper={"C+1 - CE": 1.4})
    assert [t.get_text() for t in ax.get_yticklabels()] == list(comparisons)
    texts = [t.get_text() for t in ax.texts]
    for name, values in comparisons.items():
        e = paired_verdict([100 * v for v in values], paper_effect=1.4 if "C+1" in name else None)
        assert f"{e.verdict} ({e.n} pairs)" in texts
    bars = [c for c in ax.containers]  # one errorbar per comparison with >= 2 pairs
    low, high = bars[0].lines[2][0].get_segments()[0][:, 0]
    e = paired_verdict([1.0, 2.0, 3.0, 2.0], paper_effect=1.4)
    assert low == pytest.approx(e.low) and high == pytest.approx(e.high)
    assert "points" in ax.get_xlabel()
    plt.close("all")


def test_refuses_empty_and_unknown_paper_rows():
    with pytest.raises(ValueError, match="comparisons"):
        plot_evidence({})
    with pytest.raises(ValueError, match="paper names"):
        plot_evidence({"a": [1.0, 2.0]}, paper={"b": 1.0})
