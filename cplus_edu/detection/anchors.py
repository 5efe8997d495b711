"""Anchors: RetinaNet's grid of boxes, a few sizes and aspect ratios at every feature cell.

torchvision's ``AnchorGenerator`` does the same for ``ImageList`` batches of varying size; our
scenes all have one size, so a plain function returning one ``[A, 4]`` tensor (``xyxy`` pixels)
is clearer. The order is level by level, then row-major over cells, then sizes x ratios per cell,
which is the order the detector's head flattens its outputs in (``TinyDetector``).

Where a cell's anchors sit: on the centre of the cell's receptive field. With pixel ``i``
spanning ``[i, i + 1]`` (the scenes' convention) a stack of 3x3 convolutions with padding 1 and
strides 1 or 2 centres output cell ``j`` of stride ``s`` on input pixel ``s * j``, i.e. at
``s * j + 0.5`` (a test checks it on ``TinyDetector``), not at the middle of the cell's
``s x s`` block, ``s * (j + 0.5)``, which is 3.5 pixels off at stride 8. torchvision's
``AnchorGenerator`` also puts cell ``j`` at ``s * j`` (its boxes count pixel ``i`` at ``i``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cplus_edu.checks import check_range

__all__ = ["make_anchors"]


def make_anchors(
    image_size: int,
    strides: tuple[int, ...] = (8, 16),
    sizes: tuple[tuple[float, ...], ...] = ((12.0, 20.0), (28.0, 44.0)),
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
    offset: float = 0.5,
) -> Tensor:
    """Anchors ``[A, 4]`` for a square ``image_size`` image, one level per stride.

    At level ``l`` every cell ``(i, j)``, centred at ``(stride * j + offset, stride * i +
    offset)`` (``offset = 0.5``: the receptive field's centre, see the module), gets one anchor
    per size in ``sizes[l]`` and ratio ``r = h / w`` in ``aspect_ratios`` with area ``size**2``.
    ``A = sum_l (image_size / stride_l)**2 * len(sizes[l]) * len(aspect_ratios)``.
    """
    if len(sizes) != len(strides):
        raise ValueError(f"sizes needs one tuple per stride: {len(strides)}, got {len(sizes)}")
    offset = check_range("offset", offset, 0.0, float(min(strides)))
    levels = []
    ratios = torch.tensor(aspect_ratios, dtype=torch.float32)
    for stride, level_sizes in zip(strides, sizes):
        if image_size % stride:
            raise ValueError(f"image_size {image_size} is not a multiple of stride {stride}")
        n = image_size // stride
        s = torch.tensor(level_sizes, dtype=torch.float32)
        w = (s[:, None] / ratios.sqrt()[None, :]).reshape(-1)  # [S * R]
        h = (s[:, None] * ratios.sqrt()[None, :]).reshape(-1)
        shapes = torch.stack([-w, -h, w, h], dim=1) / 2  # [S*R, 4] around the origin
        c = torch.arange(n, dtype=torch.float32) * stride + offset
        cy, cx = torch.meshgrid(c, c, indexing="ij")
        centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # [n*n, 1, 4]
        levels.append((centres + shapes[None]).reshape(-1, 4))
    return torch.cat(levels)
