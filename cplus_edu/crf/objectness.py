r"""Pixel objectness from object proposals (Liu & Lew, REFERENCES.md [3]).

.. math::

    pos_j = \frac{g_j}{G}, \qquad pos_j \in [0, 1],

where :math:`g_j` counts the object proposals that contain pixel :math:`j` and :math:`G` is the
number of proposals of the image: "if there are more object proposals containing one pixel, then
this pixel should be assigned with a larger weight (or objectness)".

**Proposals.** The slides use geodesic object proposals (GOP, Kraehenbuehl & Koltun, ECCV 2014),
which have no maintained Python package. We build proposals in the spirit of selective search
(Uijlings et al., IJCV 2013), from scikit-image:

1. over-segment the image several times: Felzenszwalb-Huttenlocher graph segments at several
   ``scales`` and SLIC superpixels at several ``slic_segments`` counts, each in two colour spaces
   (RGB and HSV, as selective search diversifies its colour spaces);
2. candidates are every segment and every union of two adjacent segments (the first step of
   selective search's grouping);
3. keep the candidates that look like objects: between ``min_area`` pixels and ``max_area`` of
   the image, touching the image border with at most ``max_border`` of the border's length (the
   background is what surrounds the image), and standing out from a ``ring``-pixel band around
   them by a mean-colour distance of at least ``min_contrast`` (the colour-contrast cue of the
   objectness measure of Alexe et al., CVPR 2010).

This is cruder than GOP (no learned seeds, no geodesic distance), and the chapter shows the map it
gives; its role is the same: a per-pixel score, high inside compact regions that stand out from
their surroundings.

**Image** ``[3, H, W]``: uint8 (or any integer dtype) in 0..255, or float in [0, 1]
(``cplus_edu.crf.inputs``); a float image in 0..255 is refused, not read as mostly white.

**Size limit.** Every candidate is a dense ``[H, W]`` mask and their number grows with the
pixels, so time and memory grow with the square of the pixel count: here 48x48 takes about 1 s
and 650 MB, 96x96 about 7 s and 1.7 GB, 128x128 5 GB. Images above ``MAX_PIXELS = 9,216``
(96x96) are refused; downscale the image and upsample the map.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cplus_edu.checks import check_positive_int, check_range
from cplus_edu.crf.inputs import check_size, image_255

MAX_PIXELS = 96 * 96  # the proposals hold [G, H, W] masks, G growing with the pixels: O(pixels^2)


def _image_array(image: Tensor) -> np.ndarray:
    """``[3, H, W]`` image (uint8 in 0..255 or float in [0, 1], checked) -> ``[H, W, 3]`` float64
    array in [0, 1]."""
    return (image_255(image) / 255.0).permute(1, 2, 0).numpy()


def _candidates(segments: np.ndarray) -> np.ndarray:
    """Every segment and every union of two adjacent segments: ``[G, H, W]`` bool."""
    _, labels = np.unique(segments, return_inverse=True)
    labels = labels.reshape(segments.shape)
    n = int(labels.max()) + 1
    onehot = labels[None] == np.arange(n)[:, None, None]  # `[n, H, W]`
    pairs = np.concatenate([
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
        np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1),
    ])  # fmt: skip
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    return np.concatenate([onehot, onehot[pairs[:, 0]] | onehot[pairs[:, 1]]])


def _dilate(masks: np.ndarray, ring: int) -> np.ndarray:
    """Square dilation of ``[G, H, W]`` bool masks by ``ring`` pixels (shifted ORs, rows then
    columns)."""
    rows = masks.copy()
    for d in range(1, ring + 1):
        rows[:, d:] |= masks[:, :-d]
        rows[:, :-d] |= masks[:, d:]
    out = rows.copy()
    for d in range(1, ring + 1):
        out[:, :, d:] |= rows[:, :, :-d]
        out[:, :, :-d] |= rows[:, :, d:]
    return out


def _contrast(masks: np.ndarray, image: np.ndarray, ring: int) -> np.ndarray:
    """``[G]`` distance between each mask's mean colour and that of a ``ring``-pixel band
    around it (all masks at once: one dilation, two matrix products)."""
    band = torch.from_numpy(_dilate(masks, ring) & ~masks).flatten(1).float()  # `[G, H * W]`
    inside = torch.from_numpy(masks).flatten(1).float()
    pixels = torch.from_numpy(image).float().reshape(-1, 3)  # `[H * W, 3]`
    mean_in = inside @ pixels / inside.sum(1, keepdim=True).clamp_min(1)
    mean_band = band @ pixels / band.sum(1, keepdim=True).clamp_min(1)
    distance = (mean_in - mean_band).norm(dim=1)
    return torch.where(band.sum(1) > 0, distance, 0.0).numpy()


def segment_proposals(
    image: Tensor,
    scales: tuple[float, ...] = (20.0, 60.0),
    slic_segments: tuple[int, ...] = (40,),
    sigma: float = 0.5,
    min_area: int = 3,
    max_area: float = 0.3,
    max_border: float = 0.1,
    min_contrast: float = 0.35,
    ring: int = 2,
) -> Tensor:
    """Object proposals ``[G, H, W]`` (bool masks) of one ``image [3, H, W]`` (see the module
    docstring); ``G`` may be 0 for an image where nothing looks like an object. Colours are in
    [0, 1] units for ``min_contrast``; the defaults suit the chapter's 48x48 scenes."""
    from skimage.color import rgb2hsv
    from skimage.segmentation import felzenszwalb, slic

    array = _image_array(image)
    hint = "downscale the image (the proposals are coarse anyway) and upsample the map"
    check_size("segment_proposals", *array.shape[:2], MAX_PIXELS, hint)
    check_positive_int("min_area", min_area, 1)
    check_positive_int("ring", ring, 1)
    check_range("max_area", max_area, 0.0, 1.0, open_low=True)
    check_range("max_border", max_border, 0.0, 1.0)
    check_range("min_contrast", min_contrast, 0.0)
    h, w = array.shape[:2]
    masks = []
    for colours in (array, rgb2hsv(array)):
        for scale in scales:
            segments = felzenszwalb(colours, scale=scale, sigma=sigma, min_size=min_area)
            masks.append(_candidates(segments))
        for count in slic_segments:
            segments = slic(colours, n_segments=count, compactness=10.0, start_label=0)
            masks.append(_candidates(segments))
    masks = np.concatenate(masks)
    border = np.zeros((h, w), dtype=bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    area = masks.sum(axis=(1, 2))
    on_border = (masks & border).sum(axis=(1, 2))
    small_enough = (area >= min_area) & (area <= max_area * h * w)
    keep = small_enough & (on_border <= max_border * border.sum())
    masks = masks[keep]
    if len(masks) == 0:
        return torch.zeros(0, h, w, dtype=torch.bool)
    masks = masks[_contrast(masks, array, ring) >= min_contrast]
    if len(masks) == 0:
        return torch.zeros(0, h, w, dtype=torch.bool)
    # identical proposals (the same segment found twice) count once
    _, first = np.unique(np.packbits(masks.reshape(len(masks), -1), axis=1), axis=0,
                         return_index=True)  # fmt: skip
    masks = masks[np.sort(first)]
    return torch.from_numpy(masks)


def pixel_objectness(image: Tensor, **proposal_options) -> Tensor:
    """``pos [H, W]`` in [0, 1]: the share of the image's proposals that cover each pixel.

    ``image [3, H, W]``, uint8 in 0..255 or float in [0, 1], at most ``MAX_PIXELS`` (96x96);
    ``proposal_options`` go to ``segment_proposals``. An image without any proposal gets
    ``pos = 0`` everywhere (the POS-CRF is then the plain CRF).
    """
    proposals = segment_proposals(image, **proposal_options)  # `[G, H, W]`
    if len(proposals) == 0:
        return torch.zeros(image.shape[1:], dtype=torch.float32)
    return proposals.float().mean(dim=0)  # g_j / G
