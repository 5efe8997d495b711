"""Region maps for region-based losses: per-image region bins and segment reductions in O(pixels).

Region losses (CAS, class-agnostic CE, the discriminative loss) take an integer map
`regions` `[B, H, W]` whose ids carry no class meaning: any integers, any number of regions per
image, ids may differ between images, and `ignore_index` marks pixels that belong to no region.

`RegionBins` maps every pixel to a bin `k` of its own image, so that per-region sums are one
`scatter_add` over the pixels (no Python loop over regions or images):

- ids are shifted to start at 0 (`k = id - min(id)`), giving `K = max - min + 1` bins per image;
  bins of ids absent from an image stay empty (`count == 0`) and are masked out;
- if the ids span more bins than an image has pixels (e.g. ids like 10**9), they are first
  compacted with `torch.unique` (a sort), so K is at most the number of distinct ids in the batch;
- ignored pixels go to one extra dump bin `K` that no loss reads.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_region_inputs(
    outputs: Tensor, regions: Tensor, outputs_name: str = "outputs", regions_name: str = "regions"
) -> None:
    """Raise a clear ValueError/TypeError for `outputs` `[B, M, H, W]` and `regions` `[B, H, W]`."""
    if not isinstance(outputs, Tensor) or not outputs.is_floating_point():
        kind = outputs.dtype if isinstance(outputs, Tensor) else type(outputs).__name__
        raise TypeError(f"{outputs_name} must be a floating-point tensor, got {kind}")
    if outputs.dim() != 4:
        raise ValueError(f"{outputs_name} must have shape [B, M, H, W], got {tuple(outputs.shape)}")
    if not isinstance(regions, Tensor):
        raise TypeError(f"{regions_name} must be an integer tensor, got {type(regions).__name__}")
    if regions.is_floating_point() or regions.is_complex() or regions.dtype == torch.bool:
        raise TypeError(f"{regions_name} must be an integer tensor, got {regions.dtype}")
    expected = (outputs.shape[0], *outputs.shape[2:])
    if tuple(regions.shape) != expected:
        raise ValueError(
            f"{regions_name} must have shape [B, H, W] = {expected} to match {outputs_name} "
            f"{tuple(outputs.shape)}, got {tuple(regions.shape)}"
        )
    if outputs.numel() == 0:
        raise ValueError(f"{outputs_name} is empty: shape {tuple(outputs.shape)}")


def check_finite(loss: Tensor, outputs: Tensor, outputs_name: str = "outputs") -> None:
    """Raise a clear ValueError if `loss` is NaN or Inf, naming the cause in `outputs`.

    Checking the (small) loss instead of every input value keeps the check off the hot path.
    """
    if torch.isfinite(loss).all():
        return
    if not torch.isfinite(outputs).all():
        raise ValueError(f"{outputs_name} contains NaN or Inf")
    raise ValueError(
        f"the loss overflowed although {outputs_name} is finite "
        f"(largest |value| {outputs.abs().max().item():.3g}); scale {outputs_name} down"
    )


def check_reduction(reduction: str, allowed: tuple[str, ...] = ("mean", "sum", "none")) -> str:
    """Return `reduction` if it is one of `allowed`, else raise a ValueError naming it."""
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def mean_over(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of per-image `values` `[B]` over `mask` `[B]`; 0 (attached to the graph) if empty."""
    return (values * mask).sum() / mask.sum().clamp_min(1)


class RegionBins:
    """Per-image region bins of a region map `regions` `[B, H, W]`.

    Attributes:
        index: `[B, P]` (P = H * W) bin of each pixel in `[0, K]`; `K` is the dump bin of
            ignored pixels.
        count: `[B, K]` pixels per bin (long); 0 for ids absent from an image.
        present: `[B, K]` bool, bins holding at least one pixel: the image's regions.
        num_regions: `[B]` number of regions per image (long).
        ids: `[K]` the region id each bin stands for.
    """

    def __init__(self, regions: Tensor, ignore_index: int = -100):
        batch = regions.shape[0]
        pixels = regions[0].numel()
        flat = regions.reshape(batch, pixels).long()
        valid = flat != ignore_index
        if valid.any():
            low = torch.where(valid, flat, flat.new_tensor(torch.iinfo(torch.long).max)).min()
            high = torch.where(valid, flat, flat.new_tensor(torch.iinfo(torch.long).min)).max()
            span = int(high) - int(low) + 1  # Python ints: no int64 overflow
            if span > pixels:  # huge ids: compact them so bins stay O(pixels)
                ids, local = torch.unique(torch.where(valid, flat, low), return_inverse=True)
                span = len(ids)
            else:
                local = flat - low
                ids = torch.arange(span, device=flat.device) + low
        else:
            local, span, ids = torch.zeros_like(flat), 0, flat.new_zeros(0)
        self.ids = ids
        self.num_bins = span
        self.index = torch.where(valid, local, torch.full_like(local, span))  # [B, P]
        offsets = torch.arange(batch, device=regions.device).unsqueeze(1) * (span + 1)
        counts = torch.bincount((self.index + offsets).flatten(), minlength=batch * (span + 1))
        counts = counts.view(batch, span + 1)
        self.count = counts[:, :span]  # [B, K]
        self.present = self.count > 0  # [B, K]
        self.num_regions = self.present.sum(1)  # [B]

    def sum(self, values: Tensor) -> Tensor:
        """Per-region sums of pixel values `[B, M, P]` -> `[B, M, K]` (one scatter_add)."""
        batch, channels, pixels = values.shape
        out = values.new_zeros(batch, channels, self.num_bins + 1)
        out = out.scatter_add(2, self.index.unsqueeze(1).expand(batch, channels, pixels), values)
        return out[:, :, : self.num_bins]

    def mean(self, values: Tensor) -> Tensor:
        """Per-region means of pixel values `[B, M, P]` -> `[B, M, K]` (0 in empty bins)."""
        count = self.count.to(values.dtype).clamp_min(1).unsqueeze(1)  # [B, 1, K]
        return self.sum(values) / count

    def broadcast(self, per_region: Tensor) -> Tensor:
        """Region values `[B, M, K]` back to their pixels `[B, M, P]` (ignored pixels get 0)."""
        batch, channels, _ = per_region.shape
        padded = torch.cat([per_region, per_region.new_zeros(batch, channels, 1)], dim=2)
        index = self.index.unsqueeze(1).expand(batch, channels, self.index.shape[1])
        return padded.gather(2, index)
