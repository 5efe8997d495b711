r"""Classification-localisation (CL) balanced NMS, eqs. (6)-(7) of the poster [4].

Greedy NMS keeps, in each cluster of overlapping boxes, the one with the highest classification
score. With task spatial misalignment the best-classified box need not be the best-placed one,
so the poster re-ranks the cluster with a localisation term. For the cluster of a ground truth
``o`` (boxes :math:`b_i^o`, scores :math:`p_i^o`, score logits :math:`f_i^o`, centres
:math:`c_i^o`):

.. math::

    \hat c^o = \sum_{i=1}^n \frac{\exp(f_i^o)}{\sum_{j=1}^n \exp(f_j^o)}\, c_i^o       \tag{6}

    s^{nms}_i = p_i^o + \operatorname{dis}(c_i^o, \hat c^o)                             \tag{7}

Readings (GUIDE.md section 4):

- greedy per class: the cluster of the top remaining box is every remaining box of its class
  with IoU above ``iou_threshold`` with it (and itself); the whole cluster leaves the pool and
  one of its boxes is kept;
- :math:`f = \log(p / (1 - p))` (the logit of the score), so eq. (6) is a softmax-weighted
  centre;
- ``dis`` is a penalty: :math:`s_i = p_i - \gamma\, \|c_i - \hat c\|_2 / \sqrt{w_i h_i}` (scale
  free); the cluster's choice maximises it; ties go to the higher score, then to the lower index;
- kept boxes of one class never overlap above the threshold. With ``gamma > 0`` a cluster's
  choice can overlap an earlier cluster's choice (a member of cluster A may overlap the leader
  of cluster B); such a choice is dropped, greedily in cluster order: the rule NMS applies to
  its own kept boxes (two boxes overlapping above the threshold show one object);
- with ``gamma = 0`` every choice is its cluster's top box, no two overlap, and the result is
  exactly greedy NMS per class: the boxes ``torchvision.ops.batched_nms`` keeps (tests check
  both; for ids of ~1e6 below 1,000 boxes, batched_nms on the ids compacted with
  ``torch.unique``, see below).

Exact for any scores and class ids (issue 16):

- class ids are compacted with ``torch.unique`` and each class runs ``torchvision.ops.nms`` on
  its own boxes (``batched_nms``'s per-class path). Below 1,000 boxes ``batched_nms`` instead
  shifts each class by ``id * (max coordinate + 1)`` and runs one NMS; with large ids (or
  negative coordinates) the shifted float32 coordinates lose the precision that tells
  overlapping from not, so that path is not used;
- a box's cluster is the leader that suppressed it: the first leader of its class, in greedy
  processing order (decreasing score, ties to the lower index: torchvision's stable sort), whose
  IoU with it exceeds the threshold. Per-class ``nms`` returns its kept boxes in that order
  (``batched_nms`` re-sorts them with an unstable sort, which scrambles tied scores);
- the IoU is computed with the operations and in the dtype of torchvision's kernel and compared
  with the threshold as a double, as the kernel does;
- eqs. (6)-(7) are evaluated in float64; half-precision inputs are computed in float32.

Vectorised without a Python loop over boxes (only over classes, as ``batched_nms``): each box
is compared with the at most ``L`` leaders of its class (``[N, L]`` IoU blocks), and eqs.
(6)-(7) are segment softmaxes and segment argmaxes (``scatter_reduce``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import nms

from cplus_edu.checks import check_float, check_integer, check_range, describe
from cplus_edu.detection.boxes import check_boxes

__all__ = ["cl_balanced_nms", "nms_clusters"]

_P_EPS = 1e-6  # scores are clamped to [eps, 1 - eps] before the logit of eq. (6)
_BLOCK = 1 << 18  # elements of one [rows, L] IoU block (its temporaries stay in the cache)


def _check_inputs(boxes, scores, labels, iou_threshold) -> float:
    check_boxes("boxes", boxes)
    check_integer("labels", labels, 1)
    if scores is None:  # nms_clusters without scores
        if len(boxes) != len(labels):
            raise ValueError(
                f"boxes and labels must have the same length, got {describe(boxes)} and "
                f"{describe(labels)}"
            )
        return check_range("iou_threshold", iou_threshold, 0.0, 1.0)
    check_float("scores", scores, 1)
    if not (len(boxes) == len(scores) == len(labels)):
        raise ValueError(
            f"boxes, scores and labels must have the same length, got {describe(boxes)}, "
            f"{describe(scores)} and {describe(labels)}"
        )
    if scores.numel():
        if bool(torch.isnan(scores).any()):
            raise ValueError(f"scores contains NaN ({int(torch.isnan(scores).sum())} values)")
        if scores.min() < 0 or scores.max() > 1:
            raise ValueError(
                "scores must be probabilities in [0, 1] (eq. 6 takes their logit), got values in "
                f"[{float(scores.min()):.3g}, {float(scores.max()):.3g}]"
            )
    return check_range("iou_threshold", iou_threshold, 0.0, 1.0)


def _working_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The promoted floating dtype, at least float32 (torchvision's nms has no half kernel)."""
    dtype = torch.float32
    for t in tensors:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _threshold(iou_threshold: float, dtype: torch.dtype) -> Tensor:
    """The largest ``dtype`` value ``<= iou_threshold``: for an IoU ``v`` in ``dtype``,
    ``v > result`` exactly when ``v > iou_threshold`` as doubles (torchvision's comparison)."""
    t = torch.tensor(iou_threshold, dtype=dtype)
    if float(t) > iou_threshold:
        t = torch.nextafter(t, torch.tensor(-torch.inf, dtype=dtype))
    return t


def _class_groups(labels: Tensor) -> tuple[Tensor, Tensor, list[int]]:
    """Compact class ``[N]`` (0..C-1) of every box, the boxes grouped by class (ascending index
    inside a class) and the group sizes: cost O(N log N), whatever the ids."""
    _, cls = torch.unique(labels, return_inverse=True)
    order = torch.sort(cls, stable=True).indices
    return cls, order, torch.bincount(cls).tolist()


def _layout(sizes: list[int]) -> tuple[Tensor, Tensor]:
    """Of members grouped by class with ``sizes`` per class: where each class starts ``[C]``
    and each member's position inside its class ``[K]``."""
    sizes_t = torch.tensor(sizes, dtype=torch.long)
    starts = torch.cumsum(sizes_t, 0) - sizes_t
    return starts, torch.arange(int(sizes_t.sum())) - torch.repeat_interleave(starts, sizes_t)


def _per_class_nms(boxes, scores, order, counts, iou_threshold) -> tuple[Tensor, list[int]]:
    """Greedy NMS of each class on its own boxes: the leaders grouped by class, each class's
    in processing order, and the number per class."""
    parts = [
        idx[nms(b, s, iou_threshold)]
        for idx, b, s in zip(order.split(counts), boxes[order].split(counts),
                             scores[order].split(counts))
    ]  # fmt: skip
    return torch.cat(parts), [len(p) for p in parts]


def _areas(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # as torchvision's kernel


def _table(boxes, area, cls, members, rank, num_classes: int) -> Tensor:
    """Per class its members' coordinates and areas in rank order, ``[5, C, L]``; empty slots
    hold a zero box (IoU 0 with any box of positive area, NaN and so not above with the rest)."""
    width = int(rank.max()) + 1 if len(rank) else 0
    table = torch.zeros(5, num_classes, width, dtype=boxes.dtype)
    table[:, cls[members], rank] = torch.cat([boxes[members], area[members, None]], 1).T
    return table


def _overlap_blocks(table, cls_of_box, boxes, area, iou_threshold):
    """Blocks ``(rows, over [n, L])``: whether each box's IoU with each table entry of its class
    exceeds the threshold, computed as torchvision's nms kernel does (table entry first)."""
    threshold = _threshold(iou_threshold, boxes.dtype)
    rows = max(1, _BLOCK // max(table.shape[2], 1))
    for start in range(0, len(boxes), rows):
        part = slice(start, start + rows)
        lx1, ly1, lx2, ly2, larea = table.index_select(1, cls_of_box[part])  # [n, L] each
        x1, y1, x2, y2 = boxes[part, :, None].unbind(1)  # [n, 1] each
        iw = torch.minimum(lx2, x2).sub_(torch.maximum(lx1, x1)).clamp_(min=0)
        ih = torch.minimum(ly2, y2).sub_(torch.maximum(ly1, y1)).clamp_(min=0)
        inter = iw.mul_(ih)
        yield part, inter.div(larea.add(area[part, None]).sub_(inter)) > threshold


def _clusters(boxes, area, cls, leaders, starts, rank, iou_threshold) -> Tensor:
    """Position in ``leaders`` (grouped by class from ``starts``, processing order inside a
    class, ``rank``) of the first leader of its class each box overlaps; a leader is its own
    cluster. Raises if a box overlaps none of its class's leaders (``leaders`` is then not
    greedy NMS's output)."""
    table = _table(boxes, area, cls, leaders, rank, len(starts))
    cluster = torch.empty(len(boxes), dtype=torch.long)
    hit = torch.empty(len(boxes), dtype=torch.bool)
    for part, over in _overlap_blocks(table, cls, boxes, area, iou_threshold):
        slot = torch.argmax(over.to(torch.uint8), dim=1, keepdim=True)  # the first overlap
        hit[part] = over.gather(1, slot).squeeze(1)
        cluster[part] = starts[cls[part]] + slot.squeeze(1)
    hit[leaders] = True  # a leader is its own cluster (a zero-area leader overlaps nothing)
    if not bool(hit.all()):
        i = int((~hit).nonzero()[0])
        raise ValueError(
            f"box {i} overlaps no leader of its class above iou_threshold={iou_threshold}: "
            f"leaders must be greedy NMS's kept boxes at this threshold ({int((~hit).sum())} such "
            "boxes)"
        )
    cluster[leaders] = torch.arange(len(leaders))
    return cluster


def nms_clusters(
    boxes: Tensor,
    labels: Tensor,
    leaders: Tensor,
    iou_threshold: float,
    scores: Tensor | None = None,
) -> Tensor:
    """Cluster id ``[N]`` of every box: the position in ``leaders`` (greedy NMS's kept boxes)
    of the leader that suppressed it, i.e. the first leader of the same class, in processing
    order, whose IoU with the box exceeds the threshold. A leader is its own cluster.

    Processing order: with ``scores``, decreasing score with ties to the lower index
    (torchvision's); without, the order of ``leaders`` inside each class (correct for
    ``batched_nms``'s output only when no two leaders of a class have the same score).
    """
    iou_threshold = _check_inputs(boxes, scores, labels, iou_threshold)
    check_integer("leaders", leaders, 1)
    leaders = leaders.long()
    if leaders.numel() and (leaders.min() < 0 or leaders.max() >= len(boxes)):
        raise ValueError(f"leaders must index boxes (0..{len(boxes) - 1}), got {describe(leaders)}")
    if len(torch.unique(leaders)) != len(leaders):
        raise ValueError("leaders contains repeated indices")
    if len(boxes) == 0:
        return torch.empty(0, dtype=torch.long)
    boxes = boxes.to(_working_dtype(boxes, scores))
    cls, _, counts = _class_groups(labels)
    perm = torch.arange(len(leaders))
    if scores is not None:  # (class, decreasing score, index): stable sorts, last key first
        perm = torch.sort(leaders).indices
        perm = perm[torch.sort(scores[leaders[perm]], descending=True, stable=True).indices]
    perm = perm[torch.sort(cls[leaders[perm]], stable=True).indices]
    sizes = torch.bincount(cls[leaders], minlength=len(counts)).tolist()
    if min(sizes) == 0:
        raise ValueError(f"leaders has no box of {sizes.count(0)} of the {len(sizes)} classes")
    cluster = _clusters(boxes, _areas(boxes), cls, leaders[perm], *_layout(sizes), iou_threshold)
    return perm[cluster]


def _choose(boxes, scores, cluster, k, gamma) -> Tensor:
    """Eqs. (6)-(7) in float64: per cluster the box maximising ``s``, ties to the higher score,
    then to the lower index (``[k]`` box indices)."""
    boxes, scores = boxes.double(), scores.double()
    p = scores.clamp(_P_EPS, 1 - _P_EPS)
    odds = p / (1 - p)  # exp(f) for the logit f: at most 1e6, so no max needs subtracting
    # eq. (6): softmax of f over each cluster, weighting the centres
    total = torch.zeros(k, dtype=odds.dtype).index_add_(0, cluster, odds)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
    c_hat = torch.zeros(k, 2, dtype=odds.dtype).index_add_(0, cluster, odds[:, None] * centres)
    c_hat /= total[:, None]
    # eq. (7): score minus the scale-free distance to the cluster centre
    size = _areas(boxes).clamp(min=1e-12).sqrt()
    s = scores - gamma * (centres - c_hat[cluster]).norm(dim=1) / size
    best = torch.full((k,), -torch.inf, dtype=s.dtype).scatter_reduce(0, cluster, s, "amax")
    tied = s == best[cluster]
    p_tie = torch.where(tied, scores, -1.0)
    best_p = torch.full((k,), -1.0, dtype=s.dtype).scatter_reduce(0, cluster, p_tie, "amax")
    tied &= scores == best_p[cluster]
    index = torch.arange(len(boxes))
    big = torch.full((k,), len(boxes))
    return big.scatter_reduce(0, cluster, torch.where(tied, index, len(boxes)), "amin")


def _drop_overlapping(boxes, area, cls, chosen, starts, rank, sizes, iou_threshold) -> Tensor:
    """Greedy NMS over the choices (grouped by class, in cluster order): a choice overlapping
    an earlier kept choice of its class is dropped. Returns the kept choices."""
    table = _table(boxes, area, cls, chosen, rank, len(starts))
    slots = torch.arange(table.shape[2])
    conflict = torch.zeros(len(chosen), dtype=torch.bool)
    for part, over in _overlap_blocks(table, cls[chosen], boxes[chosen], area[chosen],
                                      iou_threshold):  # fmt: skip
        conflict[part] = (over & (slots < rank[part, None])).any(dim=1)
    if not bool(conflict.any()):
        return chosen
    keep = torch.ones(len(chosen), dtype=torch.bool)
    for c in torch.unique(cls[chosen][conflict]).tolist():
        members = torch.arange(int(starts[c]), int(starts[c]) + sizes[c])
        priority = -rank[members].to(boxes.dtype)  # cluster order first
        kept = nms(boxes[chosen[members]], priority, iou_threshold)
        keep[members] = False
        keep[members[kept]] = True
    return chosen[keep]


def cl_balanced_nms(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    iou_threshold: float = 0.5,
    gamma: float = 0.5,
) -> Tensor:
    """Kept indices ``[K]`` (int64), by decreasing score with ties to the lower index: one box
    per greedy NMS cluster, the one maximising ``p_i - gamma * ||c_i - c_hat|| / sqrt(w_i h_i)``
    (eqs. 6-7), dropping a choice that overlaps an earlier cluster's choice of its class.

    ``boxes [N, 4]`` ``xyxy``, ``scores [N]`` probabilities, ``labels [N]`` integer classes (any
    integer dtype, any ids); ``gamma = 0`` keeps exactly the boxes of greedy NMS per class
    (``torchvision.ops.batched_nms``). Empty inputs give an empty result.
    """
    iou_threshold = _check_inputs(boxes, scores, labels, iou_threshold)
    gamma = check_range("gamma", gamma, 0.0)
    if math.isinf(gamma):
        raise ValueError("gamma must be finite, got inf")
    if len(boxes) == 0:
        return torch.empty(0, dtype=torch.long)
    dtype = _working_dtype(boxes, scores)
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    cls, order, counts = _class_groups(labels)
    leaders, sizes = _per_class_nms(boxes, scores, order, counts, iou_threshold)
    starts, rank = _layout(sizes)
    area = _areas(boxes)
    cluster = _clusters(boxes, area, cls, leaders, starts, rank, iou_threshold)  # [N] in [0, K)
    chosen = _choose(boxes, scores, cluster, len(leaders), gamma)
    if not torch.equal(chosen, leaders):  # (always equal at gamma = 0: leaders never overlap)
        chosen = _drop_overlapping(boxes, area, cls, chosen, starts, rank, sizes, iou_threshold)
    kept = chosen.sort().values  # then by decreasing score, ties to the lower index
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]
