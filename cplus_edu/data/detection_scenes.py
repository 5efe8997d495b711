"""Synthetic detection scenes: irregular shapes, and MNIST digits on a canvas (chapter 07).

The poster's anchor-assignment argument is about *irregular* objects: for a thin diagonal bar,
an L shape or a triangle the box's centre is not where the object's mass is, and an anchor that
sits on the object can have a small IoU with the object's box. These scenes have exactly such
objects, with their masks, so a notebook can compare what a detector attends to with where the
object really is.

- :func:`make_shape_scenes`: ``size x size`` grey images with 1 to ``max_objects`` non-touching
  objects of three classes, randomly rotated: 0 ``bar`` (elongated rectangle), 1 ``L`` (L shape),
  2 ``triangle`` (right triangle); Gaussian pixel noise on a dark background.
- :func:`make_digit_scenes`: MNIST digits (cropped to their ink, rescaled) pasted on a canvas.

Boxes are tight ``xyxy`` boxes of the object's pixels (``x2 = last column + 1``), labels integer
classes from 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DetectionScenes", "make_shape_scenes", "make_digit_scenes", "SHAPE_CLASSES"]

SHAPE_CLASSES = ("bar", "L", "triangle")


@dataclass
class DetectionScenes:
    """``images [N, 1, S, S]`` in about [0, 1]; per image ``boxes[i] [G_i, 4]`` (``xyxy``),
    ``labels[i] [G_i]`` and ``masks[i] [G_i, S, S]`` (bool)."""

    images: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]
    masks: list[Tensor]
    class_names: tuple[str, ...] = field(default=SHAPE_CLASSES)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> "DetectionScenes":
        """A subset: an int, a slice or a list of indices."""
        if isinstance(index, int):
            index = [index]
        idx = list(range(len(self)))[index] if isinstance(index, slice) else list(index)
        return DetectionScenes(
            self.images[idx],
            [self.boxes[i] for i in idx],
            [self.labels[i] for i in idx],
            [self.masks[i] for i in idx],
            self.class_names,
        )

    def targets(self) -> list[dict[str, Tensor]]:
        """torchmetrics / torchvision style targets: ``[{"boxes", "labels"}, ...]``."""
        return [{"boxes": b, "labels": y} for b, y in zip(self.boxes, self.labels)]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _shape_mask(kind: int, size: int, centre, angle: float, dims, grid) -> Tensor:
    """Bool mask ``[S, S]`` of one shape, its unrotated bounding box centred at ``centre``."""
    ys, xs = grid
    c, s = math.cos(angle), math.sin(angle)
    u = c * (xs - centre[0]) + s * (ys - centre[1])  # shape frame
    v = -s * (xs - centre[0]) + c * (ys - centre[1])
    a, b, t = dims  # length, second length, thickness
    if kind == 0:  # bar: a x t rectangle
        return (u.abs() <= a / 2) & (v.abs() <= t / 2)
    u, v = u + a / 2, v + b / 2  # corner frame: the shape lies in [0, a] x [0, b]
    if kind == 1:  # L: a horizontal arm and a vertical arm sharing the corner
        inside = (u >= 0) & (u <= a) & (v >= 0) & (v <= b)
        return inside & ((v <= t) | (u <= t))
    # right triangle with legs a (along u) and b (along v)
    return (u >= 0) & (v >= 0) & (u / a + v / b <= 1)


def _tight_box(mask: Tensor) -> Tensor:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)


def make_shape_scenes(
    n_images: int,
    size: int = 64,
    max_objects: int = 3,
    noise: float = 0.08,
    seed: int = 0,
) -> DetectionScenes:
    """``n_images`` scenes of bars, L shapes and triangles (see the module docstring)."""
    if n_images < 1 or max_objects < 1:
        raise ValueError(f"n_images and max_objects must be >= 1, got {n_images}, {max_objects}")
    g = torch.Generator().manual_seed(seed)
    grid = torch.meshgrid(
        torch.arange(size, dtype=torch.float32) + 0.5,
        torch.arange(size, dtype=torch.float32) + 0.5,
        indexing="ij",
    )

    def uniform(lo, hi):
        return lo + (hi - lo) * float(torch.rand((), generator=g))

    images, boxes, labels, masks = [], [], [], []
    for _ in range(n_images):
        image = torch.zeros(size, size)
        occupied = torch.zeros(size, size, dtype=torch.bool)
        count = int(torch.randint(1, max_objects + 1, (), generator=g))
        obj_boxes, obj_labels, obj_masks = [], [], []
        for _ in range(20 * count):
            if len(obj_labels) == count:
                break
            kind = int(torch.randint(0, 3, (), generator=g))
            t = uniform(4.0, 7.0)
            if kind == 0:
                dims = (uniform(0.35, 0.6) * size, 0.0, t)
                half = math.hypot(dims[0], t) / 2
            else:
                dims = (uniform(0.22, 0.42) * size, uniform(0.22, 0.42) * size, t)
                half = math.hypot(dims[0], dims[1]) / 2
            centre = (uniform(half, size - half), uniform(half, size - half))
            mask = _shape_mask(kind, size, centre, uniform(0, 2 * math.pi), dims, grid)
            grown = F.max_pool2d(mask[None, None].float(), 5, 1, 2)[0, 0].bool()
            if mask.sum() < 20 or (grown & occupied).any():
                continue  # too small, or touching another object
            occupied |= mask
            image[mask] = uniform(0.6, 1.0)
            obj_boxes.append(_tight_box(mask))
            obj_labels.append(kind)
            obj_masks.append(mask)
        image = image + noise * torch.randn(size, size, generator=g)
        images.append(image)
        boxes.append(torch.stack(obj_boxes))
        labels.append(torch.tensor(obj_labels, dtype=torch.long))
        masks.append(torch.stack(obj_masks))
    return DetectionScenes(torch.stack(images)[:, None], boxes, labels, masks, SHAPE_CLASSES)


def make_digit_scenes(
    digits: Tensor,
    digit_labels: Tensor,
    n_images: int,
    size: int = 64,
    max_objects: int = 3,
    scale: tuple[float, float] = (0.7, 1.1),
    seed: int = 0,
) -> DetectionScenes:
    """Scenes of 1 to ``max_objects`` digits from ``digits [M, 1, 28, 28]`` (in [0, 1]) with
    classes ``digit_labels [M]``: each digit is cropped to its ink (> 0.2), rescaled by a factor in
    ``scale`` and pasted without touching another one. Classes keep the digits' labels."""
    if digits.ndim != 4 or len(digits) != len(digit_labels):
        raise ValueError(
            f"digits must be [M, 1, H, W] with one label each, got {list(digits.shape)} and "
            f"{len(digit_labels)} labels"
        )
    g = torch.Generator().manual_seed(seed)
    num_classes = int(digit_labels.max()) + 1
    images, boxes, labels, masks = [], [], [], []
    for _ in range(n_images):
        image = torch.zeros(size, size)
        occupied = torch.zeros(size, size, dtype=torch.bool)
        count = int(torch.randint(1, max_objects + 1, (), generator=g))
        obj_boxes, obj_labels, obj_masks = [], [], []
        for _ in range(20 * count):
            if len(obj_labels) == count:
                break
            i = int(torch.randint(0, len(digits), (), generator=g))
            ink = digits[i, 0] > 0.2
            ys, xs = torch.nonzero(ink, as_tuple=True)
            crop = digits[i, 0, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            f = scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=g))
            h, w = max(4, round(crop.shape[0] * f)), max(4, round(crop.shape[1] * f))
            if h >= size or w >= size:
                continue
            crop = F.interpolate(crop[None, None], (h, w), mode="bilinear", align_corners=False)
            y0 = int(torch.randint(0, size - h + 1, (), generator=g))
            x0 = int(torch.randint(0, size - w + 1, (), generator=g))
            mask = torch.zeros(size, size, dtype=torch.bool)
            mask[y0 : y0 + h, x0 : x0 + w] = crop[0, 0] > 0.2
            grown = F.max_pool2d(mask[None, None].float(), 3, 1, 1)[0, 0].bool()
            if mask.sum() < 10 or (grown & occupied).any():
                continue
            occupied |= mask
            region = image[y0 : y0 + h, x0 : x0 + w]
            image[y0 : y0 + h, x0 : x0 + w] = torch.maximum(region, crop[0, 0].clamp(0, 1))
            obj_boxes.append(_tight_box(mask))
            obj_labels.append(int(digit_labels[i]))
            obj_masks.append(mask)
        images.append(image)
        boxes.append(torch.stack(obj_boxes))
        labels.append(torch.tensor(obj_labels, dtype=torch.long))
        masks.append(torch.stack(obj_masks))
    names = tuple(str(k) for k in range(num_classes))
    return DetectionScenes(torch.stack(images)[:, None], boxes, labels, masks, names)
