"""Chapter 06: the synthetic scenes, the scores and a tiny end-to-end run of the recipe."""

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from cplus_edu.data import make_segmentation_scenes
from cplus_edu.experiments import (
    FusedConfig,
    example_columns,
    results_table,
    run_fused_experiment,
    segmentation_scores,
)
from cplus_edu.experiments.fused import METHODS


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
    columns = example_columns(results, rows=(0, 2))
    assert columns["fused + POS-CRF"].shape == (2, 16, 16)
    assert columns["objectness"].is_floating_point()
    assert results.differences("softmax", "fused", "mIoU") == [
        b - a for a, b in zip(results.runs["softmax"]["mIoU"], results.runs["fused"]["mIoU"])
    ]
