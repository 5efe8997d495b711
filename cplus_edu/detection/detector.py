"""A tiny anchor-based one-stage detector: a few conv layers and a RetinaNet-style head.

``TinyDetector`` reads ``[B, C, S, S]`` images and predicts, at two feature levels (strides 8 and
16), for every anchor of :func:`make_anchors` a logit per class (sigmoid, no background class, as
RetinaNet) and four box deltas (``BoxCoder``). The classification and box subnets share one
backbone, the setting in which the poster's "task spatial misalignment" arises; as in RetinaNet
the two subnets are shared across levels and the classification bias starts at the prior
``p = 0.01``.

``forward`` returns ``(features, DetectorOutput(cls_logits [B, A, K], box_deltas [B, A, 4]))``
with ``features`` the stride-8 backbone map ``[B, width, S/8, S/8]``, in the package's
``(features, outputs)`` habit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from cplus_edu.detection.anchors import make_anchors

__all__ = ["TinyDetector", "DetectorOutput"]


class DetectorOutput(NamedTuple):
    cls_logits: Tensor  # [B, A, K]
    box_deltas: Tensor  # [B, A, 4]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.ReLU())


class TinyDetector(nn.Module):
    """Backbone (stride 8 and 16 maps of ``width`` channels) + shared RetinaNet-style head.

    ``anchor_sizes`` per level and ``aspect_ratios`` define the anchors (buffer ``anchors
    [A, 4]``); ``A = (S/8)^2 * 6 + (S/16)^2 * 6`` with the defaults.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        width: int = 32,
        image_size: int = 64,
        anchor_sizes: tuple[tuple[float, ...], ...] = ((12.0, 20.0), (28.0, 44.0)),
        aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
        prior: float = 0.01,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.image_size = image_size
        self.register_buffer(
            "anchors", make_anchors(image_size, (8, 16), anchor_sizes, aspect_ratios)
        )
        self.per_cell = len(anchor_sizes[0]) * len(aspect_ratios)
        w = width
        self.stem = nn.Sequential(
            _conv(in_channels, w // 2, 1), _conv(w // 2, w, 2), _conv(w, w, 2), _conv(w, w, 2)
        )  # stride 8
        self.down = _conv(w, w, 2)  # stride 16
        self.cls_tower = nn.Sequential(_conv(w, w), _conv(w, w))
        self.box_tower = nn.Sequential(_conv(w, w), _conv(w, w))
        self.cls_out = nn.Conv2d(w, self.per_cell * num_classes, 3, 1, 1)
        self.box_out = nn.Conv2d(w, self.per_cell * 4, 3, 1, 1)
        nn.init.normal_(self.cls_out.weight, std=0.01)
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior) / prior))
        nn.init.normal_(self.box_out.weight, std=0.01)
        nn.init.zeros_(self.box_out.bias)

    def _flatten(self, t: Tensor, per_anchor: int) -> Tensor:
        b, _, h, w = t.shape  # [B, per_cell * D, h, w] -> [B, h * w * per_cell, D]
        return (
            t.view(b, self.per_cell, per_anchor, h, w)
            .permute(0, 3, 4, 1, 2)
            .reshape(b, h * w * self.per_cell, per_anchor)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, DetectorOutput]:
        c3 = self.stem(x)
        levels = [c3, self.down(c3)]
        cls = [self._flatten(self.cls_out(self.cls_tower(f)), self.num_classes) for f in levels]
        box = [self._flatten(self.box_out(self.box_tower(f)), 4) for f in levels]
        return c3, DetectorOutput(torch.cat(cls, 1), torch.cat(box, 1))
