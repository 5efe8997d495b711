r"""Boxes: checks, centres and sizes, intersection over the smaller area, and the box coder.

Every box in ``cplus_edu.detection`` is ``xyxy``: ``[x1, y1, x2, y2]`` in pixels with
``x1 <= x2`` and ``y1 <= y2``. torchvision.ops has the standard pieces and we use them
(``box_iou``, ``box_area``, ``box_convert``, ``generalized_box_iou_loss``); this file adds only
what the poster needs on top:

- :func:`intersection_over_min_area`, the geometric half of the IAC score, eq. (4):
  :math:`area^{intersect} / area^{min}` with :math:`area^{min} = \min(area_{anchor}, area_{gt})`;
  it is 1 whenever one box lies inside the other, so an anchor inside an elongated object scores
  high even though its IoU with the object's box is small;
- :class:`BoxCoder`, RetinaNet's anchor-relative deltas ``(dx, dy, dw, dh)`` (Girshick 2015).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import box_area, box_iou

from cplus_edu.checks import check_float, describe

__all__ = [
    "check_boxes",
    "box_centers",
    "box_sizes",
    "box_iou",
    "intersection_over_min_area",
    "BoxCoder",
]


def check_boxes(name: str, boxes) -> Tensor:
    """``boxes [N, 4]`` must be finite floating-point ``xyxy`` boxes with ``x1 <= x2, y1 <= y2``.

    ``N = 0`` is allowed (an image without objects); returns ``boxes``.
    """
    check_float(name, boxes, 2)
    if boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] (x1, y1, x2, y2), got {describe(boxes)}")
    if boxes.numel() == 0:
        return boxes
    if not bool(torch.isfinite(boxes).all()):
        bad = int((~torch.isfinite(boxes)).any(dim=1).sum())
        raise ValueError(f"{name} contains NaN or Inf ({bad} boxes)")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name} has {int(bad.sum())} degenerate boxes with x2 < x1 or y2 < y1 "
            f"(xyxy expected), first at index {i}: {boxes[i].tolist()}"
        )
    return boxes


def box_centers(boxes: Tensor) -> Tensor:
    """Centres ``[N, 2]`` (x, y) of ``xyxy`` boxes ``[N, 4]``."""
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def box_sizes(boxes: Tensor) -> Tensor:
    """Widths and heights ``[N, 2]`` of ``xyxy`` boxes ``[N, 4]``."""
    return boxes[:, 2:] - boxes[:, :2]


def intersection_over_min_area(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-9) -> Tensor:
    r"""``[N, M]``: :math:`|b_1 \cap b_2| / \min(|b_1|, |b_2|)`, the second term of eq. (4).

    It lies in [0, 1] and equals 1 when one box contains the other. Zero-area boxes give 0.
    """
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])  # [N, M, 2]
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)  # [N, M]
    smaller = torch.min(box_area(boxes1)[:, None], box_area(boxes2)[None, :])
    return inter / smaller.clamp(min=eps)


class BoxCoder:
    r"""RetinaNet's box parameterisation relative to an anchor (Girshick 2015, eq. 6-9):

    .. math::

        d_x = w_x \frac{x - x_a}{w_a},\quad d_y = w_y \frac{y - y_a}{h_a},\quad
        d_w = w_w \log\frac{w}{w_a},\quad d_h = w_h \log\frac{h}{h_a}

    with centres ``(x, y)``, sizes ``(w, h)`` and the usual weights ``(1, 1, 1, 1)``. ``decode``
    clamps ``d_w, d_h`` at ``log(1000 / 16)`` as torchvision does, so a wild prediction cannot
    overflow ``exp``.
    """

    def __init__(self, weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)):
        self.weights = weights
        self.clamp = math.log(1000.0 / 16)

    def encode(self, boxes: Tensor, anchors: Tensor) -> Tensor:
        """Deltas ``[N, 4]`` that move ``anchors [N, 4]`` onto ``boxes [N, 4]``."""
        wx, wy, ww, wh = self.weights
        a_ctr, a_wh = box_centers(anchors), box_sizes(anchors).clamp(min=1e-6)
        b_ctr, b_wh = box_centers(boxes), box_sizes(boxes).clamp(min=1e-6)
        dxy = (b_ctr - a_ctr) / a_wh * torch.tensor([wx, wy], dtype=boxes.dtype)
        dwh = torch.log(b_wh / a_wh) * torch.tensor([ww, wh], dtype=boxes.dtype)
        return torch.cat([dxy, dwh], dim=1)

    def decode(self, deltas: Tensor, anchors: Tensor) -> Tensor:
        """``xyxy`` boxes ``[..., 4]`` from ``deltas [..., 4]`` and ``anchors [..., 4]``."""
        wx, wy, ww, wh = self.weights
        w = torch.tensor([wx, wy, ww, wh], dtype=deltas.dtype, device=deltas.device)
        d = deltas / w
        a_ctr = (anchors[..., :2] + anchors[..., 2:]) / 2
        a_wh = anchors[..., 2:] - anchors[..., :2]
        ctr = a_ctr + d[..., :2] * a_wh
        wh_ = a_wh * torch.exp(d[..., 2:].clamp(max=self.clamp))
        return torch.cat([ctr - wh_ / 2, ctr + wh_ / 2], dim=-1)
