"""CL-balanced NMS (eqs. 6-7): against a slow greedy loop (float64, Python floats), equal to
batched_nms at gamma=0, for tied scores, any class ids, dtypes and sizes on both sides of
batched_nms's 1,000-box switch; no two kept boxes of one class overlap at any gamma."""

import math

import pytest
import torch
from torchvision.ops import batched_nms, nms

from cplus_edu.detection import cl_balanced_nms, nms_clusters


def loop_iou(a, b):
    """IoU of two boxes (tuples of Python floats), with torchvision's kernel's operations."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else math.nan


def loop_cl_nms(boxes, scores, labels, iou_threshold, gamma):
    """The poster's procedure written the obvious way, in float64: per class, take the top
    remaining box, its cluster is it and every remaining box overlapping it; keep the cluster's
    best box by eq. (7) unless it overlaps a box already kept for the class; drop the cluster."""
    boxes, scores, labels = boxes.double().tolist(), scores.double().tolist(), labels.tolist()
    kept = []
    for c in sorted(set(labels)):
        pool = [i for i in range(len(boxes)) if labels[i] == c]
        pool.sort(key=lambda i: (-scores[i], i))
        kept_c = []
        while pool:
            top = pool[0]
            cluster = [i for i in pool
                       if i == top or loop_iou(boxes[top], boxes[i]) > iou_threshold]  # fmt: skip
            logits = []
            for i in cluster:
                p = min(max(scores[i], 1e-6), 1 - 1e-6)
                logits.append(math.log(p / (1 - p)))
            top_logit = max(logits)
            weights = [math.exp(f - top_logit) for f in logits]
            total = sum(weights)
            centres = [((boxes[i][0] + boxes[i][2]) / 2, (boxes[i][1] + boxes[i][3]) / 2)
                       for i in cluster]  # fmt: skip
            cx = sum(w * x for w, (x, _) in zip(weights, centres)) / total  # eq. (6)
            cy = sum(w * y for w, (_, y) in zip(weights, centres)) / total
            best, best_key = None, None
            for i, (x, y) in zip(cluster, centres):
                w, h = boxes[i][2] - boxes[i][0], boxes[i][3] - boxes[i][1]
                s = scores[i] - gamma * math.hypot(x - cx, y - cy) / math.sqrt(w * h)  # eq. (7)
                key = (s, scores[i], -i)
                if best_key is None or key > best_key:
                    best, best_key = i, key
            if all(not loop_iou(boxes[k], boxes[best]) > iou_threshold for k in kept_c):
                kept_c.append(best)
            pool = [i for i in pool if i not in cluster]
        kept += kept_c
    kept.sort(key=lambda i: (-scores[i], i))
    return torch.tensor(kept, dtype=torch.long)


def same_class_overlaps(boxes, labels, kept, iou_threshold):
    """Pairs of kept boxes of one class with IoU above the threshold (float64 loop)."""
    b, y = boxes.double().tolist(), labels.tolist()
    k = kept.tolist()
    return [(i, j) for n, i in enumerate(k) for j in k[n + 1 :]
            if y[i] == y[j] and loop_iou(b[i], b[j]) > iou_threshold]  # fmt: skip


def random_boxes(n, classes, seed, size=100.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 30 + 2
    return (torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g),
            torch.randint(0, classes, (n,), generator=g))  # fmt: skip


def clustered_boxes(objects, per_object, classes, seed):
    g = torch.Generator().manual_seed(seed)
    wh = torch.rand(objects, 2, generator=g) * 40 + 10
    xy = torch.rand(objects, 2, generator=g) * 150
    n = objects * per_object
    centre = xy.repeat_interleave(per_object, 0) + torch.randn(n, 2, generator=g) * 4
    size = wh.repeat_interleave(per_object, 0) * torch.exp(torch.randn(n, 2, generator=g) * 0.15)
    labels = torch.randint(0, classes, (objects,), generator=g).repeat_interleave(per_object)
    return torch.cat([centre - size / 2, centre + size / 2], 1), torch.rand(n, generator=g), labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_gamma_zero_is_batched_nms_on_random_boxes(seed, threshold):
    boxes, scores, labels = random_boxes(400, 5, seed)
    got = cl_balanced_nms(boxes, scores, labels, threshold, gamma=0.0)
    assert torch.equal(got, batched_nms(boxes, scores, labels, threshold))


@pytest.mark.parametrize("seed", range(4))
def test_gamma_zero_is_batched_nms_on_clustered_boxes(seed):
    boxes, scores, labels = clustered_boxes(30, 40, 4, seed)  # 1,200 boxes: torchvision's loop
    for threshold in (0.4, 0.5, 0.6):
        got = cl_balanced_nms(boxes, scores, labels, threshold, gamma=0.0)
        assert torch.equal(got, batched_nms(boxes, scores, labels, threshold))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 5.0])
def test_matches_the_slow_greedy_loop(seed, gamma):
    boxes, scores, labels = clustered_boxes(8, 12, 3, seed)
    got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma=gamma)
    assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.5, gamma))


def test_a_large_gamma_keeps_the_box_nearest_the_weighted_centre():
    # three boxes in one cluster: the top-scored one is off-centre, the middle one central
    boxes = torch.tensor([[14.0, 10, 34, 30], [10, 10, 30, 30], [6, 10, 26, 30]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    labels = torch.zeros(3, dtype=torch.long)
    assert cl_balanced_nms(boxes, scores, labels, 0.3, gamma=0.0).tolist() == [0]
    assert cl_balanced_nms(boxes, scores, labels, 0.3, gamma=10.0).tolist() == [1]


def test_ties_go_to_the_higher_score_then_the_lower_index():
    # boxes 0 and 1 mirror each other about box 2's centre: same distance to c_hat
    boxes = torch.tensor([[12.0, 10, 32, 30], [8, 10, 28, 30], [10, 10, 30, 30], [10, 10, 30, 30]])
    labels = torch.zeros(4, dtype=torch.long)
    equal = torch.tensor([0.8, 0.8, 0.5, 0.5])
    # equal scores and distances: the lower index wins
    assert cl_balanced_nms(boxes[:2], equal[:2], labels[:2], 0.3, gamma=0.5).tolist() == [0]
    # identical boxes 2 and 3 with the same score: the lower index again
    assert cl_balanced_nms(boxes[2:], equal[2:], labels[2:], 0.3, gamma=0.5).tolist() == [0]


def test_output_sorted_by_decreasing_score_and_classes_kept_apart():
    boxes, scores, labels = clustered_boxes(20, 10, 3, 7)
    kept = cl_balanced_nms(boxes, scores, labels, 0.5, gamma=1.0)
    assert (scores[kept][:-1] >= scores[kept][1:]).all()
    same = torch.zeros(len(boxes), dtype=torch.long)
    assert len(cl_balanced_nms(boxes, scores, same, 0.5, 1.0)) <= len(kept)


def test_empty_input_gives_an_empty_result():
    kept = cl_balanced_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))
    assert kept.dtype == torch.long and kept.shape == (0,)


def test_bad_inputs_are_refused_clearly():
    boxes, scores, labels = random_boxes(10, 2, 0)
    with pytest.raises(ValueError, match="degenerate"):
        cl_balanced_nms(boxes[:, [2, 1, 0, 3]], scores, labels)
    with pytest.raises(ValueError, match="NaN"):
        cl_balanced_nms(boxes, torch.where(scores > 0.5, scores, torch.nan), labels)
    with pytest.raises(ValueError, match="same length"):
        cl_balanced_nms(boxes, scores[:5], labels)
    with pytest.raises(ValueError, match="probabilities"):
        cl_balanced_nms(boxes, scores * 3, labels)
    with pytest.raises(TypeError, match="integer"):
        cl_balanced_nms(boxes, scores, labels.float())
    with pytest.raises(ValueError, match="gamma"):
        cl_balanced_nms(boxes, scores, labels, gamma=-1.0)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        cl_balanced_nms(boxes[:, :3], scores, labels)


# --- issue 16: ties, N > 1000, any class ids, dtypes and sizes ---------------------------------


def tied(scores, levels):
    """Scores rounded down to ``levels`` values: many exact ties."""
    return (scores * levels).floor() / levels


def by_score_then_index(kept, scores):
    order = sorted(kept.tolist(), key=lambda i: (-float(scores[i]), i))
    return kept.tolist() == order


@pytest.mark.parametrize("levels", [2, 5, 20])
@pytest.mark.parametrize("n_objects", [8, 30])  # 320 (coordinate trick) and 1,200 boxes
def test_gamma_zero_keeps_batched_nms_boxes_with_tied_scores(levels, n_objects):
    boxes, scores, labels = clustered_boxes(n_objects, 40, 4, levels)
    scores = tied(scores, levels)
    got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma=0.0)
    expected = batched_nms(boxes, scores, labels, 0.5)
    # the same boxes; batched_nms orders ties by an unstable sort above 1,000 boxes, we by index
    assert sorted(got.tolist()) == sorted(expected.tolist())
    assert by_score_then_index(got, scores)
    assert same_class_overlaps(boxes, labels, got, 0.5) == []
    if n_objects == 8:
        assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.5, 0.0))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 5.0])
@pytest.mark.parametrize(
    "ids",
    [
        lambda y: y,
        lambda y: y * 1_000_003,  # ~1e6: batched_nms's coordinate offsets lose precision
        lambda y: y * 1_000_003 - 2_000_000,  # negative
        lambda y: (2**62) - y,  # near the int64 limit
        lambda y: y.to(torch.int8),
        lambda y: y.to(torch.int16),
        lambda y: y.to(torch.int32),
        lambda y: y.to(torch.uint8),
    ],
    ids=["small", "1e6", "negative", "2**62", "int8", "int16", "int32", "uint8"],
)
def test_matches_the_loop_for_any_class_ids_with_ties(ids, gamma):
    boxes, scores, labels = clustered_boxes(12, 25, 5, 3)
    scores = tied(scores, 10)
    labels = ids(labels)
    got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma)
    assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.5, gamma))
    assert same_class_overlaps(boxes, labels, got, 0.5) == []
    if gamma == 0.0:  # greedy NMS of each class on its own
        compact = torch.unique(labels.long(), return_inverse=True)[1]
        assert sorted(got.tolist()) == sorted(batched_nms(boxes, scores, compact, 0.5).tolist())


def test_many_classes_and_ids_of_one_million_above_1000_boxes():
    boxes, scores, labels = random_boxes(1500, 300, 11, size=60.0)
    labels = labels * 1_000_003
    for gamma in (0.0, 1.0):
        got = cl_balanced_nms(boxes, scores, labels, 0.4, gamma)
        assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.4, gamma))


@pytest.mark.parametrize("gamma", [0.5, 1.0, 5.0])
@pytest.mark.parametrize("seed", range(2))
def test_no_two_kept_boxes_of_a_class_overlap_at_any_gamma(gamma, seed):
    boxes, scores, labels = clustered_boxes(60, 50, 3, seed)  # 3,000 boxes
    scores = tied(scores, 50) if seed else scores
    got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma)
    assert same_class_overlaps(boxes, labels, got, 0.5) == []
    assert by_score_then_index(got, scores)
    # every kept box belongs to a different greedy-NMS cluster
    cluster = nms_clusters(boxes, labels, batched_nms(boxes, scores, labels, 0.5), 0.5, scores)
    assert len(set(cluster[got].tolist())) == len(got)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_dtypes_give_the_float32_or_float64_answer(dtype):
    boxes, scores, labels = clustered_boxes(8, 12, 3, 5)
    boxes, scores = boxes.to(dtype), tied(scores, 8).to(dtype)
    for gamma in (0.0, 1.0):
        got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma)
        wide = torch.float64 if dtype == torch.float64 else torch.float32
        wider = cl_balanced_nms(boxes.to(wide), scores.to(wide), labels, 0.5, gamma)
        assert torch.equal(got, wider)
        if dtype == torch.float64:
            assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.5, gamma))
    # float32 boxes with float64 scores: computed in float64
    mixed = cl_balanced_nms(boxes.float(), scores.double(), labels, 0.5, 1.0)
    assert torch.equal(mixed, cl_balanced_nms(boxes.float().double(), scores.double(), labels,
                                              0.5, 1.0))  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 999, 1000, 1001])
def test_sizes_around_batched_nms_switch(n):
    boxes, scores, labels = random_boxes(n, 3, n, size=150.0)
    scores = tied(scores, 4)
    for gamma in (0.0, 0.7):
        got = cl_balanced_nms(boxes, scores, labels, 0.5, gamma)
        assert torch.equal(got, loop_cl_nms(boxes, scores, labels, 0.5, gamma))


def test_identical_boxes_with_tied_scores_keep_the_lowest_index():
    boxes = torch.tensor([[5.0, 5, 15, 15]] * 4)
    scores, labels = torch.full((4,), 0.5), torch.zeros(4, dtype=torch.long)
    for gamma in (0.0, 2.0):
        assert cl_balanced_nms(boxes, scores, labels, 0.5, gamma).tolist() == [0]


def test_the_threshold_is_compared_as_torchvision_does():
    # IoU exactly 3/10: in float32 it rounds to 0.30000001 > 0.3, and torchvision's kernel
    # compares that with the double 0.3, so it suppresses; the clusters must agree
    boxes = torch.tensor([[0.0, 0, 10, 1], [0, 0, 3, 1], [20, 0, 30, 1]])
    scores, labels = torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long)
    assert nms(boxes, scores, 0.3).tolist() == [0, 2]
    for gamma in (0.0, 1.0):
        got = cl_balanced_nms(boxes, scores, labels, 0.3, gamma)
        assert len(got) == 2 and 2 in got.tolist()


def test_nms_clusters_with_tied_scores_follow_the_processing_order():
    boxes, scores, labels = clustered_boxes(30, 40, 4, 1)  # 1,200 boxes: batched_nms re-sorts
    scores = tied(scores, 3)
    leaders = batched_nms(boxes, scores, labels, 0.5)
    cluster = nms_clusters(boxes, labels, leaders, 0.5, scores)
    # slow: the suppressor of each box is the first leader of its class, by (-score, index),
    # that overlaps it
    b = boxes.double().tolist()
    order = sorted(leaders.tolist(), key=lambda i: (-float(scores[i]), i))
    position = {int(k): n for n, k in enumerate(leaders.tolist())}
    for i in range(0, len(boxes), 7):
        if i in position:
            assert cluster[i] == position[i]
            continue
        first = next(k for k in order if labels[k] == labels[i] and loop_iou(b[k], b[i]) > 0.5)
        assert cluster[i] == position[first]


def test_nms_clusters_refuses_leaders_that_are_not_nms_output():
    boxes, scores, labels = clustered_boxes(4, 5, 2, 0)
    leaders = batched_nms(boxes, scores, labels, 0.5)
    with pytest.raises(ValueError, match="overlaps no leader"):
        nms_clusters(boxes, labels, leaders, 0.9, scores)  # a non-leader at 0.5 may not be one
    with pytest.raises(ValueError, match="no box of"):
        nms_clusters(boxes, labels, leaders[labels[leaders] != labels[leaders[0]]], 0.5)
    with pytest.raises(ValueError, match="repeated"):
        nms_clusters(boxes, labels, torch.cat([leaders, leaders[:1]]), 0.5)
    with pytest.raises(ValueError, match="must index"):
        nms_clusters(boxes, labels, leaders + len(boxes), 0.5)


def test_infinite_gamma_is_refused():
    boxes, scores, labels = random_boxes(5, 2, 0)
    with pytest.raises(ValueError, match="gamma"):
        cl_balanced_nms(boxes, scores, labels, 0.5, math.inf)
