"""Synthetic segmentation scenes with large, small and thin objects of several classes (chapter 06).

The Liu & Lew slides (REFERENCES.md [3]) argue that a softmax-trained FCN loses object pixels to the
background, small objects and thin parts most. These scenes are built so that this can happen
and be measured:

- the background is a coarse grating in a muted colour (random per image) plus pixel noise;
- every object is saturated (a random hue, independent of its class), so *whether* a pixel is
  on an object can be seen from one pixel's colour and a little context;
- *which* object class it is is written only in the object's texture: a fine grating
  (period 4 pixels) whose orientation is the class (class 1: 0 degrees, class 2: 45, ...).
  A large object shows many periods; a small disc or a thin line shows less than one, so on them
  the class is a guess while "object, not background" is still clear.

Each scene has ``n_large`` ellipses, ``n_thin`` lines (1-2 pixels wide) and ``n_small`` discs
(radius 1-2.5 pixels), drawn in that order (later ones on top). ``labels`` is 0 on the background
and the class ``1..num_classes`` on objects; ``kinds`` tells which kind of object covers a pixel
(0 background, 1 large, 2 thin, 3 small), so recall can be split by object size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cplus_edu.checks import check_positive_int
from cplus_edu.train import torch_threads

KIND_NAMES = ("background", "large", "thin", "small")
_TEXTURE_FREQUENCY = 0.25  # cycles per pixel of the class texture (a period of 4 pixels)


@dataclass
class SegmentationScenes:
    """``images [N, 3, H, W]`` in [0, 1]; ``labels [N, H, W]`` long, 0 = background, 1..C the
    object classes; ``kinds [N, H, W]`` long, 0 background / 1 large / 2 thin / 3 small."""

    images: Tensor
    labels: Tensor
    kinds: Tensor
    num_classes: int  # C + 1, background included

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> SegmentationScenes:
        return SegmentationScenes(
            self.images[index], self.labels[index], self.kinds[index], self.num_classes
        )


def _hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """``h, s, v`` ``[N]`` in [0, 1] -> ``[N, 3]`` RGB."""
    k = torch.tensor([5.0, 3.0, 1.0])
    t = (k + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * (torch.minimum(t, 4 - t).clamp(0, 1))


def make_segmentation_scenes(
    n: int,
    size: int = 48,
    num_object_classes: int = 4,
    n_large: int = 1,
    n_thin: int = 2,
    n_small: int = 3,
    noise: float = 0.06,
    object_saturation: tuple[float, float] = (0.45, 0.8),
    seed: int = 0,
) -> SegmentationScenes:
    """``n`` scenes of ``size x size`` pixels (see the module docstring).

    ``object_saturation`` is the range of the objects' colour saturation (the background's is
    below 0.25): lower values make objects harder to tell from the background. Deterministic
    for a given ``seed``; runs on one torch thread (tiny tensors: more threads only wait).
    """
    with torch_threads(1):
        return _make_scenes(n, size, num_object_classes, n_large, n_thin, n_small, noise,
                            object_saturation, seed)  # fmt: skip


def _make_scenes(n, size, num_object_classes, n_large, n_thin, n_small, noise, object_saturation,
                 seed) -> SegmentationScenes:  # fmt: skip
    check_positive_int("n", n)
    check_positive_int("size", size, 8)
    check_positive_int("num_object_classes", num_object_classes)
    g = torch.Generator().manual_seed(seed)

    def uniform(count: int, low: float = 0.0, high: float = 1.0) -> Tensor:
        return torch.rand(count, generator=g) * (high - low) + low

    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )  # fmt: skip
    images = torch.empty(n, 3, size, size)
    labels = torch.zeros(n, size, size, dtype=torch.long)
    kinds = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        # background: a coarse grating in a muted colour
        theta, freq, phase = uniform(1, high=math.pi), uniform(1, 0.04, 0.12), uniform(1, 0, 6.3)
        colour = _hsv_to_rgb(uniform(1), uniform(1, 0.0, 0.25), uniform(1, 0.45, 0.75))[0]
        wave = torch.sin(2 * math.pi * freq * (xx * theta.cos() + yy * theta.sin()) + phase)
        image = colour[:, None, None] * (1 + 0.3 * wave)
        label, kind = labels[i], kinds[i]
        shapes = [1] * n_large + [2] * n_thin + [3] * n_small
        for kind_id in shapes:
            if kind_id == 1:  # an ellipse, radii 0.12-0.25 of the image side
                cx, cy = uniform(2, 0.25 * size, 0.75 * size)
                rx, ry = uniform(2, 0.12 * size, 0.25 * size)
                angle = uniform(1, high=math.pi)
                u = (xx - cx) * angle.cos() + (yy - cy) * angle.sin()
                v = -(xx - cx) * angle.sin() + (yy - cy) * angle.cos()
                mask = (u / rx) ** 2 + (v / ry) ** 2 <= 1
            elif kind_id == 2:  # a line segment 1-2 pixels wide
                x0, y0 = uniform(2, 0.1 * size, 0.9 * size)
                angle = uniform(1, high=math.pi)
                half = uniform(1, 0.2 * size, 0.4 * size)
                width = uniform(1, 0.5, 1.0)
                dx, dy = xx - x0, yy - y0
                along = dx * angle.cos() + dy * angle.sin()
                across = -dx * angle.sin() + dy * angle.cos()
                mask = (along.abs() <= half) & (across.abs() <= width)
            else:  # a small disc
                cx, cy = uniform(2, 0.1 * size, 0.9 * size)
                radius = uniform(1, 1.0, 2.5)
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
            if not mask.any():
                continue
            cls = int(torch.randint(1, num_object_classes + 1, (1,), generator=g))
            # the class is the orientation of a fine grating; the colour is random
            orientation = (cls - 1) * math.pi / num_object_classes
            tex = torch.sin(
                2 * math.pi * _TEXTURE_FREQUENCY * (xx * math.cos(orientation)
                                                    + yy * math.sin(orientation))
                + uniform(1, 0, 6.3)
            )  # fmt: skip
            hue = uniform(1)
            sat = uniform(1, *object_saturation)
            obj_colour = _hsv_to_rgb(hue, sat, uniform(1, 0.6, 0.95))[0]
            painted = obj_colour[:, None, None] * (1 + 0.35 * tex)
            image = torch.where(mask, painted, image)
            label[mask] = cls
            kind[mask] = kind_id
        image = image + noise * torch.randn(3, size, size, generator=g)
        images[i] = image.clamp(0, 1)
    return SegmentationScenes(images, labels, kinds, num_object_classes + 1)
