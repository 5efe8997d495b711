"""Chapter 06: the synthetic scenes, the scores and a tiny end-to-end run of the recipe."""

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from cplus_edu.data import make_segmentation_scenes
from cplus_edu.experiments import (
    FusedConfig,
    describe_pair,
    example_columns,
    pos_crf_changes,
    results_table,
    run_fused_experiment,
    segmentation_scores,
)
from cplus_edu.experiments.fused import METHODS, SeedRuns


def test_scenes_shapes_kinds_and_determinism():
    a = make_segmentation_scenes(6, 32, num_object_classes=3, seed=4)
    b = make_segmentation_scenes(6, 32, num_object_classes=3, seed=4)
    assert a.images.shape == (6, 3, 32, 32) and a.labels.shape == a.kinds.shape == (6, 32, 32)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert a.labels.max() <= 3 and a.num_classes == 4
    assert torch.equal(a.labels > 0, a.kinds > 0)  # every object pixel has a kind
    assert set(a.kinds.unique().tolist()) == {0, 1, 2, 3}
    # small discs and thin lines are small: fewer pixels than the large ellipses
    assert (a.kinds == 3).sum() < (a.kinds == 1).sum() and (a.kinds == 2).sum() < (
        a.kinds == 1
    ).sum()
    assert not torch.equal(
        make_segmentation_scenes(6, 32, seed=5).images[:, :, :4], a.images[:, :, :4]
    )
    with pytest.raises(ValueError, match="size"):
        make_segmentation_scenes(2, 4)


def test_scores_by_hand():
    scenes = make_segmentation_scenes(2, 24, seed=1)
    pred = scenes.labels.clone()
    s = segmentation_scores(pred, scenes)
    assert s["mIoU"] == pytest.approx(100.0) and s["recall"] == pytest.approx(100.0)
    # call every small disc background: small recall 0, large untouched, mIoU as torchmetrics says
    pred[scenes.kinds == 3] = 0
    s = segmentation_scores(pred, scenes)
    assert s["recall small"] == 0.0 and s["recall large"] == pytest.approx(100.0)
    objects = scenes.labels > 0
    expected = 100.0 * float((pred == scenes.labels)[objects].float().mean())
    assert s["recall"] == pytest.approx(expected)
    metric = MulticlassJaccardIndex(num_classes=scenes.num_classes, average="macro")
    assert s["mIoU"] == pytest.approx(100.0 * float(metric(pred, scenes.labels)))
    thin = scenes.kinds == 2
    assert s["recall thin"] == pytest.approx(100.0)
    assert s["recall small+thin"] == pytest.approx(
        100.0 * float(thin.sum()) / float((scenes.kinds >= 2).sum())
    )


def test_tiny_run_end_to_end():
    config = FusedConfig(size=16, n_train=8, n_val=2, n_test=3, epochs=1, batch_size=4, width=4,
                         embedding_dim=4, seeds=(0, 1), objectness_weights=(1.0, 10.0))  # fmt: skip
    results = run_fused_experiment(config, progress=False)
    assert set(results.runs) == set(METHODS)
    for method in METHODS:
        assert len(results.runs[method]["mIoU"]) == 2
        assert all(0.0 <= v <= 100.0 for v in results.runs[method]["recall"])
    assert results.probs["fused"].shape == (3, 5, 16, 16)
    assert torch.allclose(results.probs["fused"].sum(1), torch.ones(3, 16, 16))
    assert len(results.histories["fused"]) == 2
    assert set(results.histories["fused"][0].terms) == {"softmax", "positive_sharing"}
    assert results.objectness.shape == (3, 16, 16)
    assert all(w in (1.0, 10.0) for w in results.tuned_weights)
    table = results_table(results).splitlines()
    assert len(table) == 2 + len(METHODS)
    assert [line.split("  ")[0].strip() for line in table[2:]] == list(METHODS)
    assert "62.91" in table[2] and "74.98" in table[3] and "±" in table[2]
    columns = example_columns(results, rows=(0, 2), weight=10.0)
    assert columns["fused + POS-CRF (w 10)"].shape == (2, 16, 16)
    assert columns["objectness"].is_floating_point()
    assert max(len(line) for line in table) <= 100
    changes = pos_crf_changes(results, 10.0)
    assert changes.shape == (3,) and changes.dtype == torch.int64 and (changes >= 0).all()
    expected = (columns["fused + CRF"] != columns["fused + POS-CRF (w 10)"]).flatten(1).sum(1)
    assert changes[[0, 2]].tolist() == expected.tolist()
    assert results.differences("softmax", "fused", "mIoU") == [
        b - a for a, b in zip(results.runs["softmax"]["mIoU"], results.runs["fused"]["mIoU"])
    ]


def _fake_results(softmax_miou, fused_miou):
    runs = {"softmax": {"mIoU": softmax_miou}, "fused": {"mIoU": fused_miou}}
    return SeedRuns(runs, [])


def test_describe_pair_reads_the_paired_differences_with_the_shared_rule():
    text, evidence = describe_pair(_fake_results([70.0, 69.0, 71.0], [72.0, 70.5, 73.5]),
                                   "softmax", "fused", "mIoU")  # fmt: skip
    # differences +2.0, +1.5, +2.5: mean +2.0, sd 0.5, t(0.975, 2) = 4.303 -> +2.0 ± 1.24
    assert evidence.n == 3 and evidence.up == 3 and evidence.verdict == "holds"
    assert evidence.low == pytest.approx(2.0 - 4.303 * 0.5 / 3**0.5, abs=1e-3)
    assert text.startswith("softmax 70.0 ± 1.0 → fused 72.0 ± 1.5; paired +2.0 [+0.8, +3.2]")
    # one collapsed seed: the interval reaches far below 0, the verdict is inconclusive
    _, collapsed = describe_pair(_fake_results([70.0, 69.0, 71.0], [68.0, 70.0, 30.0]),
                                 "softmax", "fused", "mIoU")  # fmt: skip
    assert collapsed.verdict == "inconclusive at this scale" and collapsed.up == 1


def test_recall_plot_draws_every_seed_and_stays_in_range():
    import matplotlib

    matplotlib.use("Agg")
    from cplus_edu.viz import plot_recall_by_kind

    per_seed = {
        "softmax": {"recall large": [95.0, 96.0, 94.0], "recall small": [40.0, 35.0, 38.0]},
        "fused": {"recall large": [95.0, 96.0, 5.0], "recall small": [30.0, 20.0, 2.0]},
    }
    fig = plot_recall_by_kind(per_seed, ("recall large", "recall small"))
    ax = fig.axes[0]
    dots = sorted(float(y) for c in ax.collections for _, y in c.get_offsets())
    values = sorted(v for m in per_seed.values() for vals in m.values() for v in vals)
    assert dots == values  # one dot per seed, at its value
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(round(sum(v) / 3, 6) for m in per_seed.values() for v in m.values())
    assert ax.get_ylim() == (0, 100)


def _fake_reference(fused_lr_val, fused_final=(74.0, 73.0, 75.0, 72.0, 76.0)):
    """A stored-results dict of the reference recipe's jobs with made-up metrics: the tuning
    runs' last validation mIoU per rate of the fused loss in ``fused_lr_val``, softmax best at
    0.01."""
    from cplus_edu.experiments.fused import SCALES, jobs

    params = SCALES["reference"]
    runs = []
    for job in jobs(params):
        if job["role"] == "tuning":
            last = (fused_lr_val[job["lr"]] if job["loss"] == "fused"
                    else 75.0 - 100 * abs(job["lr"] - 0.01))  # fmt: skip
        else:
            last = fused_final[job["seed"]] if job["loss"] == "fused" else 75.0
        curve = [40.0] * (params["epochs"] - 10) + [last - 0.5] * 9 + [last]
        methods = (["softmax", "softmax + CRF"] if job["loss"] == "softmax" else
                   ["fused", "fused + CRF", "fused + POS-CRF", "fused + POS-CRF (tuned)"])
        scores = {m: {"mIoU": last, "recall": 80.0, "recall large": 95.0,
                      "recall small+thin": 40.0} for m in methods}  # fmt: skip
        metrics = {"val mIoU": curve, "train loss": [1.0], "scores": scores,
                   "tuned weight": 3.0 if job["loss"] == "fused" else None}
        runs.append({"job": job, "metrics": metrics, "wall_seconds": 1.0, "cpu_seconds": 1.0})
    return {"params": params, "runs": runs}


def test_reference_picks_each_rate_on_validation_and_refuses_other_rates():
    from cplus_edu.experiments.fused import credibility, picked_lrs, reference_claims

    picked = {0.0025: 60.0, 0.005: 70.0, 0.01: 72.0, 0.02: 71.0}
    data = _fake_reference(picked)
    assert picked_lrs(data) == {"softmax": 0.01, "fused": 0.01}
    with pytest.raises(ValueError, match="tuning runs picked"):
        credibility(data)  # SCALES says fused at 0.005: the compared runs used another rate
    data = _fake_reference({0.0025: 60.0, 0.005: 70.0, 0.01: 72.0, 0.02: 74.0})
    bars = credibility(data)
    assert bars["softmax test mIoU (mean over seeds)"] == (75.0, 70.0)
    assert bars["fused: lowest last-epoch validation mIoU of a seed"][0] == 72.0
    gains = [v for k, (v, _) in bars.items() if "last quarter" in k]
    assert gains == [pytest.approx(-0.5), pytest.approx(-0.5)]
    claims = reference_claims(data)
    assert [c.scale for c in claims] == ["reference"] * 5
    assert "softmax 0.01, fused 0.02" in claims[0].ours
