"""Chapter 08's recipe: per-seed spread differences and the legend of what is drawn."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cplus_edu.experiments.margin_family import (  # noqa: E402
    Snapshot,
    digit_legend,
    paired_spread_gain,
)


def _snap(head, seed, spread):
    stats = {"spread_deg": spread, "inter_min_deg": 60.0, "inter_nn_deg": 60.0}
    return Snapshot(head, 3, None, seed, 0.9, stats, torch.zeros(1, 3), torch.zeros(1))


def test_paired_spread_gain_matches_seeds():
    norm = [_snap("NormFace", s, 10.0 + s) for s in (2, 0, 1)]
    cos = [_snap("CosFace", s, 9.0 + 2 * s) for s in (0, 1, 2)]
    # seeds 0, 1, 2: NormFace 10, 11, 12 minus CosFace 9, 11, 13
    assert paired_spread_gain(cos, norm) == pytest.approx([1.0, 0.0, -1.0])
    assert paired_spread_gain(norm, cos) == pytest.approx([-1.0, 0.0, 1.0])


def test_paired_spread_gain_bad_input():
    norm = [_snap("NormFace", s, 10.0) for s in (0, 1)]
    with pytest.raises(ValueError, match="seeds must match"):
        paired_spread_gain([_snap("CosFace", 0, 9.0)], norm)
    with pytest.raises(ValueError, match="one snapshot per seed"):
        paired_spread_gain(norm + [_snap("NormFace", 0, 9.0)], norm)
    with pytest.raises(ValueError, match="seeds must match"):
        paired_spread_gain([], [])


@pytest.mark.parametrize("rings", [True, False])
def test_legend_names_only_what_is_drawn(rings):
    _, ax = plt.subplots()
    digit_legend(ax, rings=rings)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")
    assert labels[:7] == [f"digit {d}" for d in range(6)] + ["C+1 background (6-9)"]
    assert any("ring" in t for t in labels) == rings
    assert any("spoke" in t for t in labels) == rings
