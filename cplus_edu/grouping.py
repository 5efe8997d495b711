"""Turn pixel descriptors into regions: greedy mean-shift grouping, as De Brabandere et al. do.

A region loss (CAS, the discriminative loss) trains descriptors, not labels; to score a
segmentation they must be grouped. Per image, repeatedly (at most `max_regions` times):

1. take the first pixel (raster order) not yet grouped;
2. mean-shift from its descriptor: the centre moves to the mean of the ungrouped descriptors within
   `bandwidth` of it, `iterations` times;
3. the ungrouped pixels within `bandwidth` of the final centre form a new region (the starting
   pixel always joins it).

Pixels left when `max_regions` is reached join the region with the nearest centre. The bandwidth
is a property of the loss: half the distance the loss puts between region means (`sqrt(2) / 2`
for CAS, whose optima are simplex corners; `delta_d` for the discriminative loss, whose means are
at least `2 delta_d` apart with pixels within `delta_v` of them).
"""

from __future__ import annotations

import torch
from torch import Tensor


def group_pixels(
    descriptors: Tensor, bandwidth: float, max_regions: int = 32, iterations: int = 10
) -> Tensor:
    """Region map `[N, H, W]` (ids 0, 1, ... per image) from `descriptors` `[N, D, H, W]`."""
    if not isinstance(descriptors, Tensor) or descriptors.dim() != 4:
        shape = tuple(descriptors.shape) if isinstance(descriptors, Tensor) else descriptors
        raise ValueError(f"descriptors must have shape [N, D, H, W], got {shape}")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    if max_regions < 1:
        raise ValueError(f"max_regions must be >= 1, got {max_regions}")
    n, d, h, w = descriptors.shape
    points = descriptors.detach().reshape(n, d, -1).transpose(1, 2).double()  # [N, P, D]
    regions = torch.empty(n, h * w, dtype=torch.long)
    for image in range(n):
        x = points[image]
        label = torch.full((h * w,), -1, dtype=torch.long)
        centres = []
        while (label < 0).any() and len(centres) < max_regions:
            free = label < 0
            start = int(free.nonzero()[0])
            centre = x[start]
            for _ in range(iterations):
                near = free & ((x - centre).norm(dim=1) < bandwidth)
                if near.any():
                    centre = x[near].mean(dim=0)
            members = free & ((x - centre).norm(dim=1) < bandwidth)
            members[start] = True
            label[members] = len(centres)
            centres.append(centre)
        left = label < 0
        if left.any():
            distances = torch.cdist(x[left], torch.stack(centres))
            label[left] = distances.argmin(dim=1)
        regions[image] = label
    return regions.view(n, h, w)
