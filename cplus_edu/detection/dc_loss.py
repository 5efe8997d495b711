r"""The dynamic coefficient (DC) loss, eqs. (1)-(3) of the poster [4].

Task spatial misalignment: the classifier and the box regressor read the same features but want
different things from them, so a detection can be well classified and badly localised or the
reverse. The poster's answer for training: weigh each positive anchor's classification loss by
the reciprocal of its localisation error, so the classifier learns most from the anchors whose
boxes are good (and ranks them first at test time):

.. math::

    \lambda(x_i, \hat x_i) = \frac{1}{\operatorname{Sigmoid}[(c_i - \hat c_i)^2]
        + \operatorname{Tanh}\left(\left|\frac{w_i}{h_i} - \frac{\hat w_i}{\hat h_i}\right|\right)
        + \varepsilon}                                                                   \tag{1}

    \lambda'(x_i, \hat x_i) = \lambda(x_i, \hat x_i)\,
        \frac{\sum_{j=1}^N L_{cls}(p_j, \hat p_j)}
             {\sum_{j=1}^N \lambda(x_j, \hat x_j)\, L_{cls}(p_j, \hat p_j)}              \tag{2}

    \mathcal{L} = \sum_{i=1}^N \lambda'_i\, L_{cls}(p_i, \hat p_i)
        + \sum_{i=1}^M L_{cls}(p_i, \hat p_i) + \sum_{i=1}^N L_{reg}(x_i, \hat x_i)  \tag{3}

over the ``N`` positive and ``M`` negative anchors (eq. 3 as printed puts :math:`\lambda'` outside
the sum; it is per anchor, so it goes inside).

Readings (GUIDE.md section 4):

- :math:`(c_i - \hat c_i)^2` is the squared Euclidean distance of the predicted and the
  ground-truth box centres divided by the ground-truth box's area, so the coefficient does not
  depend on the object's size in pixels;
- :math:`\lambda` is computed from detached boxes: it weighs the classification loss and gets no
  gradient of its own;
- :math:`L_{cls}` is RetinaNet's sigmoid focal loss summed over the classes
  (``torchvision.ops.sigmoid_focal_loss``), :math:`L_{reg}` smooth-L1 on the anchor deltas or
  the GIoU loss on decoded boxes (``torchvision.ops.generalized_box_iou_loss``); the total is
  divided by ``max(1, N)`` as in RetinaNet;
- since :math:`\operatorname{Sigmoid}(0) = 1/2`, :math:`\lambda \in (1/2, 2]` before eq. (2): a
  perfect box weighs at most four times a hopeless one.

Inputs: anchor ``labels`` are eq. (5)'s 1 / 0 / -1 (-1: ignored, the only sentinel); any other
value, a class outside ``[0, K - 1]`` at a positive anchor, or a NaN / Inf / negative
classification loss is refused with a ``ValueError``. Integer tensors of any integer dtype are
accepted; half-precision inputs are computed in float32 and eqs. (1)-(2) in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from cplus_edu.checks import check_float, check_integer, check_range, describe
from cplus_edu.detection.boxes import BoxCoder, box_centers, box_sizes, check_boxes

__all__ = ["dynamic_coefficients", "DCLoss"]


def dynamic_coefficients(
    pred_boxes: Tensor, gt_boxes: Tensor, cls_loss: Tensor, eps: float = 1e-6
) -> Tensor:
    """Eqs. (1)-(2): normalised coefficients ``[N]`` for ``N`` positive anchors, detached.

    ``pred_boxes [N, 4]`` and ``gt_boxes [N, 4]`` are the predicted and matched ground-truth
    ``xyxy`` boxes, ``cls_loss [N]`` the positives' classification losses (finite, >= 0). The
    result satisfies ``sum(coef * cls_loss) == sum(cls_loss)``; when every loss is 0 the
    coefficients are 1. Computed in float64, returned in ``cls_loss``'s dtype (float32 for half
    precision).
    """
    check_boxes("pred_boxes", pred_boxes)
    check_boxes("gt_boxes", gt_boxes)
    check_float("cls_loss", cls_loss, 1)
    if not (len(pred_boxes) == len(gt_boxes) == len(cls_loss)):
        raise ValueError(
            f"pred_boxes, gt_boxes and cls_loss must have the same length, got "
            f"{len(pred_boxes)}, {len(gt_boxes)} and {len(cls_loss)}"
        )
    eps = _finite("eps", check_range("eps", eps, 0.0, open_low=True))
    out_dtype = torch.promote_types(cls_loss.dtype, torch.float32)
    if cls_loss.numel():
        if not bool(torch.isfinite(cls_loss).all()):
            bad = int((~torch.isfinite(cls_loss)).sum())
            raise ValueError(f"cls_loss contains NaN or Inf ({bad} values)")
        if bool((cls_loss < 0).any()):
            raise ValueError(
                f"cls_loss must be >= 0 (a loss per positive anchor), got minimum "
                f"{float(cls_loss.min()):.3g}"
            )
    pred_boxes, gt_boxes = pred_boxes.detach().double(), gt_boxes.detach().double()
    cls_loss = cls_loss.detach().double()
    if len(cls_loss) == 0:
        return cls_loss.to(out_dtype)
    gt_wh = box_sizes(gt_boxes).clamp(min=eps)
    pred_wh = box_sizes(pred_boxes).clamp(min=eps)
    d2 = (box_centers(pred_boxes) - box_centers(gt_boxes)).pow(2).sum(dim=1)
    d2 = d2 / gt_wh.prod(dim=1)  # our reading: the squared centre distance over the gt area
    ratio_gap = (pred_wh[:, 0] / pred_wh[:, 1] - gt_wh[:, 0] / gt_wh[:, 1]).abs()
    lam = 1.0 / (torch.sigmoid(d2) + torch.tanh(ratio_gap) + eps)  # eq. (1)
    weighted = (lam * cls_loss).sum()
    if not bool(weighted > 0):  # every loss is 0
        return torch.ones_like(lam, dtype=out_dtype)
    return (lam * cls_loss.sum() / weighted).to(out_dtype)  # eq. (2)


def _finite(name: str, value: float) -> float:
    if math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


class DCLoss(nn.Module):
    """Eq. (3): focal loss on positives weighted by the dynamic coefficients, focal loss on
    negatives, and a box loss on positives; divided by the number of positives.

    ``forward(cls_logits [A, K], box_deltas [A, 4], anchors [A, 4], labels [A],
    target_classes [A], target_boxes [A, 4])``: ``labels`` from eq. (5) (1 / 0 / -1), the matched
    ground truth's class and ``xyxy`` box per anchor (read only where ``labels == 1``). Anchors of
    several images are simply concatenated. ``dynamic=False`` gives RetinaNet's loss
    (coefficients 1). After each call ``terms`` holds the detached parts ``cls_pos``, ``cls_neg``,
    ``box`` and ``coef_std`` (spread of the coefficients over the positives).
    """

    def __init__(
        self,
        dynamic: bool = True,
        box_loss: str = "giou",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        if box_loss not in ("giou", "smooth_l1"):
            raise ValueError(f"box_loss must be 'giou' or 'smooth_l1', got {box_loss!r}")
        self.dynamic = bool(dynamic)
        self.box_loss = box_loss
        self.focal_alpha = check_range("focal_alpha", focal_alpha, 0.0, 1.0)
        self.focal_gamma = _finite("focal_gamma", check_range("focal_gamma", focal_gamma, 0.0))
        self.eps = _finite("eps", check_range("eps", eps, 0.0, open_low=True))
        self.coder = BoxCoder()
        self.terms: dict[str, float] = {}

    def forward(self, cls_logits, box_deltas, anchors, labels, target_classes, target_boxes):
        check_float("cls_logits", cls_logits, 2)
        check_float("box_deltas", box_deltas, 2)
        check_float("anchors", anchors, 2)
        check_float("target_boxes", target_boxes, 2)
        check_integer("labels", labels, 1)
        check_integer("target_classes", target_classes, 1)
        num = len(cls_logits)
        others = {"box_deltas": box_deltas, "anchors": anchors, "labels": labels,
                  "target_classes": target_classes, "target_boxes": target_boxes}  # fmt: skip
        for name, t in others.items():
            if len(t) != num:
                raise ValueError(
                    f"{name} has {len(t)} rows but cls_logits has {num} anchors ({describe(t)})"
                )
            if t.ndim == 2 and t.shape[1] != 4:
                raise ValueError(f"{name} must have shape [A, 4], got {describe(t)}")
        if num == 0:
            raise ValueError("the batch is empty: cls_logits has no anchors")
        if not bool(torch.isfinite(cls_logits).all()) or not bool(torch.isfinite(box_deltas).all()):
            raise ValueError("cls_logits or box_deltas contains NaN or Inf")
        labels, target_classes = labels.long(), target_classes.long()  # uint8 indexes as a mask
        pos, neg = labels == 1, labels == 0
        if not bool((pos | neg | (labels == -1)).all()):
            bad = labels[~(pos | neg | (labels == -1))]
            raise ValueError(
                f"labels must be 1 (positive), 0 (negative) or -1 (ignored), eq. (5); got "
                f"{int(bad.numel())} other values, e.g. {int(bad[0])}"
            )
        num_classes = cls_logits.shape[1]
        cls_t = target_classes[pos]
        if cls_t.numel() and (cls_t.min() < 0 or cls_t.max() >= num_classes):
            raise ValueError(
                f"target_classes of positives must be in [0, {num_classes - 1}], got values in "
                f"[{int(cls_t.min())}, {int(cls_t.max())}]"
            )
        check_boxes("anchors (of the positives)", anchors[pos])
        check_boxes("target_boxes (of the positives)", target_boxes[pos])
        dtype = torch.float32  # half precision is computed in float32
        for t in (cls_logits, box_deltas, anchors, target_boxes):
            dtype = torch.promote_types(dtype, t.dtype)
        cls_logits, box_deltas = cls_logits.to(dtype), box_deltas.to(dtype)
        anchors, target_boxes = anchors.to(dtype), target_boxes.to(dtype)
        onehot = torch.zeros_like(cls_logits)
        onehot[pos, cls_t] = 1.0
        focal = sigmoid_focal_loss(
            cls_logits, onehot, alpha=self.focal_alpha, gamma=self.focal_gamma, reduction="none"
        ).sum(dim=1)  # [A]: L_cls per anchor, summed over classes
        pred_boxes = self.coder.decode(box_deltas[pos], anchors[pos])
        gt = target_boxes[pos]
        if self.dynamic:
            coef = dynamic_coefficients(pred_boxes.detach(), gt, focal[pos], self.eps)
        else:
            coef = torch.ones_like(focal[pos])
        cls_pos = (coef * focal[pos]).sum()  # eq. (3), first sum
        cls_neg = focal[neg].sum()  # eq. (3), second sum
        if self.box_loss == "giou":
            box = generalized_box_iou_loss(pred_boxes, gt, reduction="sum")  # eq. (3), third sum
        else:
            box = F.smooth_l1_loss(
                box_deltas[pos], self.coder.encode(gt, anchors[pos]), beta=1 / 9, reduction="sum"
            )
        norm = max(1, int(pos.sum()))
        loss = (cls_pos + cls_neg + box) / norm
        self.terms = {
            "cls_pos": float(cls_pos.detach()) / norm,
            "cls_neg": float(cls_neg.detach()) / norm,
            "box": float(box.detach()) / norm,
            "coef_std": float(coef.std()) if coef.numel() > 1 else 0.0,
        }
        return loss
