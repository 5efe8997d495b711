"""Synthetic region scenes for the CAS chapters: texture mosaics and saliency scenes.

Every image is a set of regions, each filled with a *texture*: a sinusoidal grating
`colour * (1 + contrast * sin(2 pi f (x cos theta + y sin theta) + phase))` plus pixel noise,
so telling regions apart takes a few pixels of context (orientation and frequency), not only colour.

- `make_texture_mosaics`: Voronoi mosaics whose number of cells varies from image to image, each
  cell a different texture of a fixed bank; region ids are cell ids with no class meaning (the
  general multi-region setting of the CAS paper, section 5.1-5.2).
- `make_saliency_scenes`: one object (an ellipse with a fine, saturated texture) on a background
  (a coarse, muted texture); the mask is 1 on the object. Region 0 is the background, region 1
  the object. A small `object_radius` gives the class-imbalance scene (a tiny region beside a
  large one).
- `flip_region_labels`: the paper's low-fidelity labels: each region of each image has its label
  flipped, as a whole, with probability p (section 5, "noise is for the region label and not pixel
  wise label").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cplus_edu.checks import check_positive_int

# The mosaic texture bank: 4 orientations x 2 frequencies, each with its own colour. The first
# three colours are nearly pure red, green and blue, equally far apart, so that a 3-channel model
# has no pair of the first three textures that looks alike.
_BANK_ORIENTATIONS = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4)
_BANK_FREQUENCIES = (0.09, 0.28)  # cycles per pixel
_BANK_COLOURS = (
    (0.90, 0.20, 0.20),
    (0.20, 0.90, 0.20),
    (0.20, 0.20, 0.90),
    (0.85, 0.80, 0.20),
    (0.65, 0.40, 0.85),
    (0.35, 0.80, 0.75),
    (0.80, 0.45, 0.65),
    (0.60, 0.60, 0.60),
)


@dataclass
class TextureMosaics:
    """`images` `[N, 3, H, W]` in [0, 1]; `regions` `[N, H, W]` cell ids 0..k-1 (k varies);
    `textures` `[N, K]` the bank texture of each cell (-1 where an image has fewer cells)."""

    images: Tensor
    regions: Tensor
    textures: Tensor

    @property
    def num_regions(self) -> Tensor:
        """`[N]` number of cells of each image."""
        return (self.textures >= 0).sum(dim=1)

    @property
    def texture_colours(self) -> Tensor:
        """`[8, 3]` RGB colour of each texture of the bank (for legends and plots)."""
        return torch.tensor(_BANK_COLOURS)


@dataclass
class SaliencyScenes:
    """`images` `[N, 3, H, W]` in [0, 1]; `mask` `[N, H, W]` long, 1 on the object, 0 elsewhere.
    The mask is also the region map: region 0 the background, region 1 the object."""

    images: Tensor
    mask: Tensor


def _check_range(name: str, value, low: float) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and low <= value[0] <= value[1]):
        raise ValueError(
            f"{name} must be a pair (min, max) with {low} <= min <= max, got {value!r}"
        )
    return float(value[0]), float(value[1])


def render_textures(
    regions: Tensor,
    orientation: Tensor,
    frequency: Tensor,
    colour: Tensor,
    contrast: Tensor,
    noise: float,
    generator: torch.Generator,
) -> Tensor:
    """Fill region `k` of image `n` with the grating of parameters `[N, K]` (colour `[N, K, 3]`).

    `regions` `[N, H, W]` holds ids in [0, K); returns images `[N, 3, H, W]` clipped to [0, 1].
    """
    n, h, w = regions.shape
    flat = regions.reshape(n, -1)  # [N, P]
    phase = torch.rand(orientation.shape, generator=generator) * 2 * math.pi  # [N, K]
    per_pixel = [t.gather(1, flat) for t in (orientation, frequency, contrast, phase)]
    theta, freq, amp, phi = (t.view(n, 1, h, w) for t in per_pixel)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    along = xs * theta.cos() + ys * theta.sin()  # [N, 1, H, W]
    grating = 1 + amp * torch.sin(2 * math.pi * freq * along + phi)
    rgb = colour.gather(1, flat.unsqueeze(2).expand(n, h * w, 3))  # [N, P, 3]
    rgb = rgb.transpose(1, 2).reshape(n, 3, h, w)
    images = rgb * grating / 2 + noise * torch.randn(n, 3, h, w, generator=generator)
    return images.clamp(0, 1)


def voronoi_regions(
    n: int, size: int, num_regions: tuple[int, int], generator: torch.Generator
) -> Tensor:
    """`[n, size, size]` Voronoi cell ids of `k` random seeds, `k` uniform in `num_regions`."""
    low, high = num_regions
    k_max = high
    counts = torch.randint(low, high + 1, (n,), generator=generator)  # [n]
    seeds = torch.rand(n, k_max, 2, generator=generator) * size  # [n, K, 2]
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    pixels = torch.stack([ys, xs], dim=-1).reshape(1, -1, 1, 2) + 0.5  # [1, P, 1, 2]
    distance = (pixels - seeds.unsqueeze(1)).square().sum(-1)  # [n, P, K]
    unused = torch.arange(k_max).view(1, 1, -1) >= counts.view(-1, 1, 1)
    distance = distance.masked_fill(unused, float("inf"))
    cells = distance.argmin(dim=2).view(n, size, size)
    # renumber the cells each image actually has as 0..k-1 (a seed can own no pixel)
    present = torch.zeros(n, k_max, dtype=torch.bool)
    present.scatter_(1, cells.view(n, -1), True)
    renumber = present.long().cumsum(dim=1) - 1  # [n, K]
    return renumber.gather(1, cells.view(n, -1)).view(n, size, size)


def make_texture_mosaics(
    n: int = 256,
    size: int = 32,
    num_regions: tuple[int, int] = (2, 5),
    num_textures: int = 8,
    noise: float = 0.05,
    seed: int = 0,
) -> TextureMosaics:
    """Voronoi mosaics with 2..5 cells (by default), each cell a different texture among the
    first `num_textures` of the bank (8 textures: 4 orientations x 2 frequencies)."""
    check_positive_int("n", n)
    check_positive_int("size", size)
    low, high = _check_range("num_regions", num_regions, 1)
    if not 1 <= num_textures <= len(_BANK_COLOURS):
        raise ValueError(f"num_textures must lie in [1, {len(_BANK_COLOURS)}], got {num_textures}")
    if high > num_textures or low != int(low) or high != int(high):
        raise ValueError(
            f"num_regions must be whole numbers <= num_textures = {num_textures}, got {num_regions}"
        )
    g = torch.Generator().manual_seed(seed)
    regions = voronoi_regions(n, size, (int(low), int(high)), g)
    k_max = int(regions.max()) + 1
    textures = torch.argsort(torch.rand(n, num_textures, generator=g), dim=1)[:, :k_max]
    cells = torch.zeros(n, k_max, dtype=torch.long)
    cells.scatter_(1, regions.view(n, -1), 1)
    textures = torch.where(cells.bool(), textures, torch.full_like(textures, -1))
    bank = textures.clamp_min(0)
    orientation = torch.tensor(_BANK_ORIENTATIONS).repeat(2)[bank]  # texture t: orientation t % 4
    frequency = torch.tensor(_BANK_FREQUENCIES).repeat_interleave(4)[bank]  # frequency t // 4
    colour = torch.tensor(_BANK_COLOURS)[bank]
    contrast = torch.full(bank.shape, 0.8)
    images = render_textures(regions, orientation, frequency, colour, contrast, noise, g)
    return TextureMosaics(images=images, regions=regions, textures=textures)


def make_saliency_scenes(
    n: int = 256,
    size: int = 32,
    object_radius: tuple[float, float] = (5.0, 10.0),
    noise: float = 0.05,
    seed: int = 0,
) -> SaliencyScenes:
    """One textured object (ellipse, radii in `object_radius` pixels) on a textured background.

    Background: coarse gratings (0.04-0.10 cycles/pixel), muted colours, contrast 0.3-0.6.
    Object: fine gratings (0.20-0.33 cycles/pixel), saturated colours, contrast 0.6-0.9.
    Orientations and phases are random, so what marks the object is its texture family.
    """
    check_positive_int("n", n)
    check_positive_int("size", size)
    r_low, r_high = _check_range("object_radius", object_radius, 0.5)
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    centre = (
        uniform(r_high, size - r_high, n, 2) if 2 * r_high < size else torch.full((n, 2), size / 2)
    )
    radii = uniform(r_low, r_high, n, 2)
    angle = uniform(0, math.pi, n)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    dy, dx = ys - centre[:, 0, None, None], xs - centre[:, 1, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    inside = (u / radii[:, 0, None, None]) ** 2 + (v / radii[:, 1, None, None]) ** 2 <= 1
    mask = inside.long()  # [N, H, W]: region 0 background, region 1 object
    orientation = uniform(0, math.pi, n, 2)
    frequency = torch.stack([uniform(0.04, 0.10, n), uniform(0.20, 0.33, n)], dim=1)
    grey = uniform(0.35, 0.65, n, 1, 1)
    muted = grey + uniform(-0.1, 0.1, n, 1, 3)
    vivid = torch.rand(n, 1, 3, generator=g)
    vivid = 0.15 + 0.8 * (vivid - vivid.amin(-1, keepdim=True)) / (
        vivid.amax(-1, keepdim=True) - vivid.amin(-1, keepdim=True) + 1e-6
    )
    colour = torch.cat([muted, vivid], dim=1)  # [N, 2, 3]
    contrast = torch.stack([uniform(0.3, 0.6, n), uniform(0.6, 0.9, n)], dim=1)
    images = render_textures(mask, orientation, frequency, colour, contrast, noise, g)
    return SaliencyScenes(images=images, mask=mask)


def flip_region_labels(labels: Tensor, regions: Tensor, p: float, seed: int = 0) -> Tensor:
    """Low-fidelity binary labels: flip each region's labels, as a whole, with probability `p`.

    `labels` `[N, H, W]` in {0, 1}; `regions` `[N, H, W]` ids in [0, K). Each (image, region)
    pair draws its own coin, so regions of one image flip independently.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    if labels.shape != regions.shape or labels.dim() != 3:
        raise ValueError(
            f"labels and regions must both be [N, H, W], got {tuple(labels.shape)} and "
            f"{tuple(regions.shape)}"
        )
    if regions.is_floating_point() or labels.is_floating_point():
        raise TypeError(
            f"labels and regions must be integer tensors, got {labels.dtype}, {regions.dtype}"
        )
    if ((labels != 0) & (labels != 1)).any():
        raise ValueError("labels must be 0 or 1")
    if regions.min() < 0:
        raise ValueError(f"regions must hold ids >= 0, got min {int(regions.min())}")
    g = torch.Generator().manual_seed(seed)
    n = labels.shape[0]
    flips = torch.rand(n, int(regions.max()) + 1, generator=g) < p  # [N, K]
    flip = flips.gather(1, regions.reshape(n, -1)).view_as(labels)
    return torch.where(flip, 1 - labels, labels)
