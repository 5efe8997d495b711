"""IAC score (eq. 4) and anchor assignment (eq. 5): slow loops, torchvision's Matcher, edges."""

import pytest
import torch
from torchvision.models.detection._utils import Matcher

from cplus_edu.detection import assign_anchors, iac_score, intersection_over_min_area, make_anchors


def random_boxes(n, seed, size=64.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 30 + 1
    return torch.cat([xy, xy + wh], 1)


def loop_iac(anchors, gts, prob, alpha):
    out = torch.zeros(len(anchors), len(gts), dtype=torch.float64)
    for a in range(len(anchors)):
        for g in range(len(gts)):
            ax1, ay1, ax2, ay2 = anchors[a].tolist()
            gx1, gy1, gx2, gy2 = gts[g].tolist()
            iw = max(0.0, min(ax2, gx2) - max(ax1, gx1))
            ih = max(0.0, min(ay2, gy2) - max(ay1, gy1))
            smaller = min((ax2 - ax1) * (ay2 - ay1), (gx2 - gx1) * (gy2 - gy1))
            out[a, g] = alpha * float(prob[a, g]) + (1 - alpha) * iw * ih / smaller  # eq. (4)
    return out


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_iac_score_matches_a_loop(alpha):
    anchors, gts = random_boxes(40, 0), random_boxes(5, 1)
    prob = torch.rand(40, 5, generator=torch.Generator().manual_seed(2))
    got = iac_score(anchors, gts, prob, alpha)
    assert torch.allclose(got.double(), loop_iac(anchors, gts, prob, alpha), atol=1e-6)


def test_intersection_over_min_area_is_one_for_nested_boxes():
    outer = torch.tensor([[0.0, 0, 40, 10]])
    inner = torch.tensor([[5.0, 2, 10, 8], [50, 50, 60, 60]])
    assert intersection_over_min_area(inner, outer).squeeze(1).tolist() == [1.0, 0.0]


def matcher_labels(gts, anchors, low_quality):
    """torchvision's RetinaNet Matcher(0.5, 0.4) as (labels 1 / 0 / -1, matched gt)."""
    from torchvision.ops import box_iou

    m = Matcher(0.5, 0.4, allow_low_quality_matches=low_quality)(box_iou(gts, anchors))
    labels = torch.where(m >= 0, 1, torch.where(m == Matcher.BELOW_LOW_THRESHOLD, 0, -1))
    return labels, m


@pytest.mark.parametrize("low_quality", [False, True])
@pytest.mark.parametrize("seed", range(20))
def test_without_cls_prob_it_is_retinanets_iou_rule(seed, low_quality):
    """Same labels and matches as torchvision's Matcher (RetinaNet's 0.5 / 0.4 rule), with and
    without its low-quality matches, on the detector's anchor grid (many IoU ties) and on random
    anchors."""
    grid = make_anchors(64)
    for anchors in (grid, random_boxes(300, seed + 100)):
        gts = random_boxes(1 + seed % 5, seed)
        a = assign_anchors(anchors, gts, torch.arange(len(gts)),
                           allow_low_quality_matches=low_quality)  # fmt: skip
        expected, m = matcher_labels(gts, anchors, low_quality)
        assert torch.equal(a.labels, expected)
        assert torch.equal(a.matched[m >= 0], m[m >= 0])


def test_low_quality_matches_give_every_object_a_positive_anchor():
    """A thin diagonal bar: its box overlaps no anchor with IoU >= 0.5, so only the low-quality
    rule gives it a positive anchor (its best one); without it the object is never learnt."""
    anchors = make_anchors(64)
    gt = torch.tensor([[10.0, 10.0, 50.0, 16.0]])
    without = assign_anchors(anchors, gt, torch.tensor([0]), allow_low_quality_matches=False)
    with_lq = assign_anchors(anchors, gt, torch.tensor([0]))
    assert without.num_positive == 0 < with_lq.num_positive
    from torchvision.ops import box_iou

    best = box_iou(anchors, gt)[:, 0]
    assert torch.equal(with_lq.labels == 1, best == best.max())


@pytest.mark.parametrize("seed", range(3))
def test_iac_adds_positives_on_top_of_the_low_quality_rule(seed):
    anchors, gts = make_anchors(64), random_boxes(3, seed + 10)
    prob = torch.rand(len(anchors), 3, generator=torch.Generator().manual_seed(seed))
    iou_only, m = matcher_labels(gts, anchors, True)
    iac_only = assign_anchors(anchors, gts, torch.arange(3), prob, allow_low_quality_matches=False)
    both = assign_anchors(anchors, gts, torch.arange(3), prob)
    assert torch.equal(both.labels, torch.maximum(iou_only, iac_only.labels))
    assert torch.equal(both.by_score, both.labels.eq(1) & iou_only.ne(1))
    assert torch.equal(both.matched[m >= 0], m[m >= 0])  # IoU positives keep RetinaNet's match


def loop_assign(anchors, gts, prob, alpha, fg, bg, thr):
    labels = []
    for a in range(len(anchors)):
        from torchvision.ops import box_iou

        iou = box_iou(anchors[a : a + 1], gts)[0]
        s = loop_iac(anchors[a : a + 1], gts, prob[a : a + 1], alpha)[0]
        if iou.max() >= fg or s.max() >= thr:  # eq. (5): the positive case comes first
            labels.append(1)
        elif iou.max() <= bg:
            labels.append(0)
        else:
            labels.append(-1)
    return torch.tensor(labels)


@pytest.mark.parametrize("seed", range(3))
def test_eq5_matches_a_loop(seed):
    anchors, gts = make_anchors(64), random_boxes(3, seed + 10)
    prob = torch.rand(len(anchors), 3, generator=torch.Generator().manual_seed(seed))
    a = assign_anchors(anchors, gts, torch.arange(3), prob, 0.5, 0.5, 0.4, 0.7, False)
    assert torch.equal(a.labels, loop_assign(anchors, gts, prob, 0.5, 0.5, 0.4, 0.7))
    assert a.by_score.any()  # the score rule does something in this test


def test_a_low_iou_anchor_on_the_object_becomes_positive():
    """A thin diagonal object's box is big; a small anchor inside it has IoU <= 0.4 but
    intersection / min-area = 1, so with a confident classifier eq. (5) makes it positive."""
    gt = torch.tensor([[0.0, 0, 40, 40]])
    anchors = torch.tensor([[10.0, 10, 22, 22], [100, 100, 110, 110]])
    plain = assign_anchors(anchors, gt, torch.tensor([0]), allow_low_quality_matches=False)
    assert plain.labels.tolist() == [0, 0]
    prob = torch.tensor([[0.8], [0.9]])
    a = assign_anchors(anchors, gt, torch.tensor([0]), prob, alpha=0.5, score_threshold=0.7,
                       allow_low_quality_matches=False)  # fmt: skip
    assert a.labels.tolist() == [1, 0] and a.by_score.tolist() == [True, False]
    assert a.matched[0] == 0
    assert a.score[0] == pytest.approx(0.5 * 0.8 + 0.5 * 1.0)
    # alpha = 0 ignores the classifier, alpha = 1 ignores the geometry
    low = torch.tensor([[0.1], [0.9]])
    for alpha, labels in ((0.0, [1, 0]), (1.0, [0, 1])):
        a = assign_anchors(anchors, gt, torch.tensor([0]), low, alpha,
                           allow_low_quality_matches=False)  # fmt: skip
        assert a.labels.tolist() == labels


def test_score_positive_anchors_take_the_best_score_gt():
    gts = torch.tensor([[0.0, 0, 40, 40], [30, 30, 70, 70]])
    anchor = torch.tensor([[32.0, 32, 38, 38]])  # inside both boxes
    prob = torch.tensor([[0.2, 0.9]])
    a = assign_anchors(anchor, gts, torch.tensor([0, 1]), prob, allow_low_quality_matches=False)
    assert a.labels.tolist() == [1] and a.matched.tolist() == [1]


def test_image_without_objects_is_all_negative():
    anchors = make_anchors(64)
    a = assign_anchors(anchors, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                       torch.zeros(len(anchors), 0))  # fmt: skip
    assert (a.labels == 0).all() and (a.matched == -1).all()


def test_bad_inputs_are_refused_clearly():
    anchors, gts = random_boxes(6, 0), random_boxes(2, 1)
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="degenerate"):
        assign_anchors(anchors, gts[:, [2, 3, 0, 1]], labels)
    with pytest.raises(ValueError, match="gt_labels has 1"):
        assign_anchors(anchors, gts, labels[:1])
    with pytest.raises(ValueError, match=r"shape \[A, G\]"):
        assign_anchors(anchors, gts, labels, torch.rand(6, 3))
    with pytest.raises(ValueError, match="NaN"):
        assign_anchors(anchors, gts, labels, torch.full((6, 2), float("nan")))
    with pytest.raises(ValueError, match="probabilities"):
        iac_score(anchors, gts, torch.full((6, 2), 2.0))
    with pytest.raises(ValueError, match="bg_threshold"):
        assign_anchors(anchors, gts, labels, bg_threshold=0.6)
    with pytest.raises(TypeError, match="integer"):
        assign_anchors(anchors, gts, labels.float())
    with pytest.raises(ValueError, match="NaN or Inf"):
        assign_anchors(anchors, gts.clone().fill_(float("inf")), labels)
