r"""Classification-localisation (CL) balanced NMS, eqs. (6)-(7) of the poster (seed 003).

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
  free); the kept box maximises it; ties go to the higher score, then to the lower index;
- with ``gamma = 0`` the kept box is the top box and the result is exactly
  ``torchvision.ops.batched_nms`` (a test checks it).

Vectorised without a Python loop over boxes: the clusters are exactly greedy NMS's suppression
sets (a box leaves the pool with the first kept box, in score order, that overlaps it; a kept
box overlaps no earlier kept box), so torchvision's ``batched_nms`` finds the cluster leaders,
each box is attached to the first leader of its class it overlaps (a ``[N, L]`` IoU against the
at most ``L`` leaders of its class), and eqs. (6)-(7) are segment softmaxes and segment argmaxes
(``scatter_reduce``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from cplus_edu.checks import check_float, check_integer, check_range, describe
from cplus_edu.detection.boxes import check_boxes

__all__ = ["cl_balanced_nms", "nms_clusters"]

_P_EPS = 1e-6  # scores are clamped to [eps, 1 - eps] before the logit of eq. (6)


def _check_inputs(boxes, scores, labels, iou_threshold) -> None:
    check_boxes("boxes", boxes)
    check_float("scores", scores, 1)
    check_integer("labels", labels, 1)
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
    check_range("iou_threshold", iou_threshold, 0.0, 1.0)


_CHUNK = 1024  # boxes per block of the box-leader IoU (a block's temporaries stay in the cache)


def _first_leader(table, cls_of_box, boxes, area, iou_threshold):
    """Keep-order position of the first leader of its class each box overlaps (``[n]``)."""
    g = table.index_select(0, cls_of_box)  # [n, 6, L]: the leaders of each box's class
    lx1, ly1, lx2, ly2, larea, lpos = g.unbind(1)  # [n, L] each
    x1, y1, x2, y2 = (c[:, None] for c in boxes.unbind(1))
    iw = (torch.minimum(lx2, x2) - torch.maximum(lx1, x1)).clamp_(min=0)
    ih = (torch.minimum(ly2, y2) - torch.maximum(ly1, y1)).clamp_(min=0)
    inter = iw.mul_(ih)
    union = larea + area[:, None] - inter
    over = inter / union > iou_threshold  # [n, L], as torchvision's nms; empty slots: 0 / area
    # the first overlapping leader (argmax returns the first maximum); a box overlapping none
    # (impossible but for rounding) goes to slot 0, its class's top box
    slot = torch.argmax(over.to(torch.uint8), dim=1, keepdim=True)
    return lpos.gather(1, slot).squeeze(1).long()


def nms_clusters(boxes: Tensor, labels: Tensor, leaders: Tensor, iou_threshold: float) -> Tensor:
    """Cluster id ``[N]`` of every box: the position in ``leaders`` (greedy NMS's kept boxes, in
    its order) of the first leader of the same class whose IoU with the box exceeds the
    threshold. A leader is its own cluster."""
    lo, hi = int(labels.min()), int(labels.max())
    if hi - lo < max(len(labels), 64):  # class ids used directly (shifted to start at 0)
        cls_of_box, num_classes = labels - lo, hi - lo + 1
    else:  # sparse, large ids: compact them
        classes, cls_of_box = torch.unique(labels, return_inverse=True)
        num_classes = len(classes)
    cls_of_leader = cls_of_box[leaders]  # [K]
    # rank of every leader inside its class, in keep order (a stable sort keeps the order)
    order = torch.sort(cls_of_leader, stable=True).indices
    counts = torch.bincount(cls_of_leader, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order)) - starts[cls_of_leader[order]]
    width = int(counts.max())
    # per class its leaders' positions in keep order, coordinates and areas: [C, 6, L]
    # (empty slots: position 0, a zero box); then gathered per box: [N, 6, L]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    table = torch.zeros(num_classes, 6, width, dtype=boxes.dtype)
    position = torch.arange(len(leaders), dtype=boxes.dtype)
    rows = torch.cat([boxes[leaders], area[leaders, None], position[:, None]], 1)  # [K, 6]
    table[cls_of_leader, :, rank] = rows
    cluster = torch.empty(len(boxes), dtype=torch.long)
    for start in range(0, len(boxes), _CHUNK):  # chunks of boxes keep [chunk, L] in the cache
        part = slice(start, start + _CHUNK)
        cluster[part] = _first_leader(table, cls_of_box[part], boxes[part], area[part],
                                      iou_threshold)  # fmt: skip
    cluster[leaders] = torch.arange(len(leaders))
    return cluster


def cl_balanced_nms(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    iou_threshold: float = 0.5,
    gamma: float = 0.5,
) -> Tensor:
    """Kept indices ``[K]`` (int64) sorted by decreasing score: one box per greedy NMS cluster,
    the one maximising ``p_i - gamma * ||c_i - c_hat|| / sqrt(w_i * h_i)`` (eqs. 6-7).

    ``boxes [N, 4]`` ``xyxy``, ``scores [N]`` probabilities, ``labels [N]`` integer classes;
    ``gamma = 0`` returns exactly ``torchvision.ops.batched_nms(boxes, scores, labels,
    iou_threshold)``. Empty inputs give an empty result.
    """
    _check_inputs(boxes, scores, labels, iou_threshold)
    gamma = check_range("gamma", gamma, 0.0)
    if len(boxes) == 0:
        return torch.empty(0, dtype=torch.long)
    leaders = batched_nms(boxes, scores, labels, iou_threshold)  # greedy clusters' top boxes
    cluster = nms_clusters(boxes, labels, leaders, iou_threshold)  # [N] in [0, K)
    k = len(leaders)
    p = scores.clamp(_P_EPS, 1 - _P_EPS)
    f = torch.log(p) - torch.log1p(-p)  # score logits
    # eq. (6): softmax of f over each cluster, weighting the centres
    f_max = torch.full((k,), -torch.inf, dtype=f.dtype).scatter_reduce(0, cluster, f, "amax")
    w = torch.exp(f - f_max[cluster])
    w = w / torch.zeros(k, dtype=w.dtype).index_add_(0, cluster, w)[cluster]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
    c_hat = torch.zeros(k, 2, dtype=boxes.dtype).index_add_(0, cluster, w[:, None] * centres)
    # eq. (7): score minus the scale-free distance to the cluster centre
    size = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-12).sqrt()
    dist = (centres - c_hat[cluster]).norm(dim=1) / size
    s = scores - gamma * dist.to(scores.dtype)
    # argmax of s per cluster; ties: higher score, then lower index
    best = torch.full((k,), -torch.inf, dtype=s.dtype).scatter_reduce(0, cluster, s, "amax")
    tied = s == best[cluster]
    p_tie = torch.where(tied, scores, torch.full_like(scores, -1.0))
    best_p = torch.full((k,), -1.0, dtype=s.dtype).scatter_reduce(0, cluster, p_tie, "amax")
    tied &= scores == best_p[cluster]
    index = torch.arange(len(boxes))
    big = torch.full_like(index, len(boxes))
    kept = big[:k].scatter_reduce(0, cluster, torch.where(tied, index, big), "amin")
    # decreasing score, ties by lower index (a stable sort of index-sorted kept boxes)
    kept = kept.sort().values
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]
