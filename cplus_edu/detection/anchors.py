"""Anchors: RetinaNet's grid of boxes, a few sizes and aspect ratios at every feature cell.

torchvision's ``AnchorGenerator`` does the same for ``ImageList`` batches of varying size; our
scenes all have one size, so a plain function returning one ``[A, 4]`` tensor (``xyxy`` pixels)
is clearer. The order is level by level, then row-major over cells, then sizes x ratios per cell,
which is the order the detector's head flattens its outputs in (``TinyDetector``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["make_anchors"]


def make_anchors(
    image_size: int,
    strides: tuple[int, ...] = (8, 16),
    sizes: tuple[tuple[float, ...], ...] = ((12.0, 20.0), (28.0, 44.0)),
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
) -> Tensor:
    """Anchors ``[A, 4]`` for a square ``image_size`` image, one level per stride.

    At level ``l`` every cell centre ``(stride * (j + 0.5), stride * (i + 0.5))`` gets one anchor
    per size in ``sizes[l]`` and ratio ``r = h / w`` in ``aspect_ratios`` with area ``size**2``.
    ``A = sum_l (image_size / stride_l)**2 * len(sizes[l]) * len(aspect_ratios)``.
    """
    if len(sizes) != len(strides):
        raise ValueError(f"sizes needs one tuple per stride: {len(strides)}, got {len(sizes)}")
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
        c = (torch.arange(n, dtype=torch.float32) + 0.5) * stride
        cy, cx = torch.meshgrid(c, c, indexing="ij")
        centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # [n*n, 1, 4]
        levels.append((centres + shapes[None]).reshape(-1, 4))
    return torch.cat(levels)
