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


def _fake_results():
    """Five seeds in 3-D: NormFace's spread 10 + seed, CosFace's 2 less, ArcFace's equal."""
    from cplus_edu.experiments.margin_family import FAMILY_HEADS

    spread = {"NormFace": 10.0, "CosFace": 8.0, "ArcFace": 10.0}
    runs = [{"metrics": {"head": h, "dim": 3, "seed": s, "accuracy": 0.985 + s / 1000,
                         "spread_deg": spread.get(h, 15.0) + s + (h == "CosFace") * s / 10,
                         "inter_min_deg": 80.0, "inter_nn_deg": 85.0}}
            for s in range(5) for h in FAMILY_HEADS]  # fmt: skip
    return {"params": {"seeds": list(range(5))}, "runs": runs}


def test_reference_jobs_credibility_and_claims_from_stored_runs():
    from cplus_edu.experiments.margin_family import (
        SCALES,
        credibility,
        jobs,
        reference_claims,
        spread_gains,
    )

    assert len({j["seed"] for j in jobs(SCALES["reference"])}) >= 5
    assert SCALES["reference"]["n_per_class"] is None  # every training image
    data = _fake_results()
    bars = credibility(data)
    assert set(bars) == {f"{h} test accuracy, 3-D, digits 0-5 (mean over seeds)"
                         for h in ("softmax", "NormFace")}  # fmt: skip
    assert bars["softmax test accuracy, 3-D, digits 0-5 (mean over seeds)"][0] == pytest.approx(
        0.987)
    gains = spread_gains(data)
    assert gains["CosFace"] == pytest.approx([2.0, 1.9, 1.8, 1.7, 1.6])
    assert gains["ArcFace"] == pytest.approx([0.0] * 5)
    (claim,) = reference_claims(data)
    assert claim.id == "08-margin-compacts" and claim.scale == "reference"
    assert claim.verdict == "inconclusive at this scale"  # ArcFace's part: no difference
