r"""IoU-classification-aware (IAC) anchor assignment, eqs. (4)-(5) of the poster [4].

Poster (no code or full text is public): "dynamic coefficient loss, IoU-classification-aware
anchor assignment, classification-localisation balanced NMS", RetinaNet on COCO / VOC 2007.

RetinaNet labels an anchor by its best IoU with a ground-truth box: positive at IoU >= 0.5,
negative below 0.4, ignored in between. For an irregular object (an L shape, a thin diagonal
bar) an anchor that sits on the object's mass can have a small IoU with the object's box, and is
then trained as *background* although it sees the object best. The poster adds the classifier's
opinion:

.. math::

    s_i^{iou} = \alpha\, \hat p_i + (1 - \alpha)\, \frac{area_i^{intersect}}{area_i^{min}}  \tag{4}

    \Gamma_i = \begin{cases}
        1 & IoU_i \ge fg\_threshold \text{ or } s_i^{iou} \ge score\_threshold \\
        0 & IoU_i \le bg\_threshold \\
        -1 & \text{otherwise} \end{cases}                                                  \tag{5}

Readings (GUIDE.md section 4):

- :math:`\hat p_i` is the predicted probability, at anchor ``i``, of the class of the ground truth
  it is scored against (``cls_prob [A, G]``), taken from the current model and detached;
- :math:`area^{min} = \min(area_{anchor}, area_{gt})`; both terms are computed per (anchor, gt)
  pair and an anchor's :math:`s_i` is its best over the ground truths;
- eq. (5) lists the positive case first, so it wins: an anchor with ``IoU <= bg_threshold`` but
  ``s >= score_threshold`` is positive;
- the matched ground truth is the best-IoU one, except for anchors that are positive *only*
  through the score: those take the best-score one;
- with ``cls_prob=None`` only the IoU rule is left: RetinaNet's.

RetinaNet's IoU rule has one more case, which eq. (5) does not mention: a ground truth whose best
anchor has IoU below ``fg_threshold`` would get no positive anchor at all (a thin diagonal bar's
box is large and mostly empty), so torchvision's RetinaNet builds its ``Matcher(0.5, 0.4,
allow_low_quality_matches=True)``: for every ground truth, the anchors of highest IoU with it
(ties included) are made positive too, matched to *their* best-IoU ground truth. With
``allow_low_quality_matches`` (the default) :func:`assign_anchors` does the same, and with
``cls_prob=None`` its labels and matches equal torchvision's ``Matcher`` with either setting
(a test checks both). The IAC score adds positives on top of this rule; ``by_score`` marks the
anchors that are positive through the score alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cplus_edu.checks import check_float, check_integer, check_range, describe
from cplus_edu.detection.boxes import box_iou, check_boxes, intersection_over_min_area

__all__ = ["iac_score", "assign_anchors", "Assignment", "class_prob_per_gt"]


def _check_prob(name: str, prob, shape: tuple[int, ...]) -> Tensor:
    check_float(name, prob, 2)
    if tuple(prob.shape) != shape:
        raise ValueError(f"{name} must have shape [A, G] = {list(shape)}, got {describe(prob)}")
    if prob.numel() and not bool(torch.isfinite(prob).all()):
        raise ValueError(f"{name} contains NaN or Inf ({int((~torch.isfinite(prob)).sum())})")
    if prob.numel() and (prob.min() < 0 or prob.max() > 1):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1], got values in "
            f"[{float(prob.min()):.3g}, {float(prob.max()):.3g}]"
        )
    return prob


def iac_score(anchors: Tensor, gt_boxes: Tensor, cls_prob: Tensor, alpha: float = 0.5) -> Tensor:
    """Eq. (4): ``alpha * p + (1 - alpha) * intersection / min(area_anchor, area_gt)``, ``[A, G]``.

    ``anchors [A, 4]`` and ``gt_boxes [G, 4]`` are ``xyxy``; ``cls_prob[a, g]`` is the predicted
    probability of gt ``g``'s class at anchor ``a`` (see :func:`class_prob_per_gt`).
    """
    check_boxes("anchors", anchors)
    check_boxes("gt_boxes", gt_boxes)
    _check_prob("cls_prob", cls_prob, (len(anchors), len(gt_boxes)))
    alpha = check_range("alpha", alpha, 0.0, 1.0)
    overlap = intersection_over_min_area(anchors, gt_boxes)  # [A, G]
    return alpha * cls_prob + (1 - alpha) * overlap  # eq. (4)


def class_prob_per_gt(probs: Tensor, gt_labels: Tensor) -> Tensor:
    """``[A, G]`` from per-anchor class probabilities ``probs [A, K]``: column ``g`` is the
    probability of gt ``g``'s class ``gt_labels[g]``, which must lie in ``[0, K - 1]`` (any
    integer dtype; a negative label is refused, not read from the end)."""
    check_float("probs", probs, 2)
    check_integer("gt_labels", gt_labels, 1)
    _check_prob("probs", probs, tuple(probs.shape))
    num_classes = probs.shape[1]
    if gt_labels.numel() and (gt_labels.min() < 0 or gt_labels.max() >= num_classes):
        raise ValueError(
            f"gt_labels must be class indices in [0, {num_classes - 1}] (probs has {num_classes} "
            f"classes), got values in [{int(gt_labels.min())}, {int(gt_labels.max())}]"
        )
    return probs[:, gt_labels.long()]  # (a uint8 index would be read as a mask)


@dataclass
class Assignment:
    """Per-anchor result of :func:`assign_anchors` (all ``[A]``).

    ``labels``: 1 positive, 0 negative, -1 ignored (eq. 5); ``matched``: index of the matched
    ground truth (-1 where there is none, i.e. no ground truth); ``iou``: best IoU; ``score``:
    best IAC score (``nan`` without ``cls_prob``); ``by_score``: positive only through the score.
    """

    labels: Tensor
    matched: Tensor
    iou: Tensor
    score: Tensor
    by_score: Tensor

    @property
    def num_positive(self) -> int:
        return int((self.labels == 1).sum())


def assign_anchors(
    anchors: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    cls_prob: Tensor | None = None,
    alpha: float = 0.5,
    fg_threshold: float = 0.5,
    bg_threshold: float = 0.4,
    score_threshold: float = 0.7,
    allow_low_quality_matches: bool = True,
) -> Assignment:
    """Label every anchor positive / negative / ignored by eq. (5); ``cls_prob=None``: RetinaNet.

    ``anchors [A, 4]``, ``gt_boxes [G, 4]`` (``xyxy``), ``gt_labels [G]`` (integer classes),
    ``cls_prob [A, G]`` as for :func:`iac_score`. ``allow_low_quality_matches``: each ground
    truth's highest-IoU anchors are positive as well (torchvision's RetinaNet; see the module).
    An image without ground truth (``G = 0``) gives every anchor the label 0.
    """
    check_boxes("anchors", anchors)
    check_boxes("gt_boxes", gt_boxes)
    check_integer("gt_labels", gt_labels, 1)
    if len(gt_labels) != len(gt_boxes):
        raise ValueError(
            f"gt_labels has {len(gt_labels)} entries but gt_boxes has {len(gt_boxes)} boxes"
        )
    fg = check_range("fg_threshold", fg_threshold, 0.0, 1.0)
    bg = check_range("bg_threshold", bg_threshold, 0.0, 1.0)
    if bg > fg:
        raise ValueError(f"bg_threshold ({bg}) must not exceed fg_threshold ({fg})")
    check_range("score_threshold", score_threshold, 0.0, 1.0)
    num_anchors = len(anchors)
    if len(gt_boxes) == 0:
        zeros = torch.zeros(num_anchors, dtype=torch.long)
        nan = torch.full((num_anchors,), float("nan"))
        return Assignment(zeros, zeros - 1, torch.zeros(num_anchors), nan, zeros.bool())
    iou = box_iou(anchors, gt_boxes)  # [A, G]
    best_iou, matched = iou.max(dim=1)  # RetinaNet: the best-IoU gt
    labels = torch.full((num_anchors,), -1, dtype=torch.long)
    labels[best_iou <= bg] = 0  # eq. (5), case 0
    labels[best_iou >= fg] = 1  # eq. (5), case 1 by IoU
    if allow_low_quality_matches:  # torchvision's Matcher.set_low_quality_matches_
        best_for_a_gt = (iou == iou.max(dim=0, keepdim=True).values).any(dim=1)
        labels[best_for_a_gt] = 1  # matched to the anchor's own best-IoU gt, as torchvision
    by_score = torch.zeros(num_anchors, dtype=torch.bool)
    score = torch.full((num_anchors,), float("nan"))
    if cls_prob is not None:
        s = iac_score(anchors, gt_boxes, cls_prob, alpha)  # [A, G], eq. (4)
        score, best_by_score = s.max(dim=1)
        by_score = (score >= score_threshold) & (labels != 1)
        labels[by_score] = 1  # eq. (5), case 1 by score: listed first, so it wins over case 0
        matched = torch.where(by_score, best_by_score, matched)
    return Assignment(labels, matched, best_iou, score, by_score)
