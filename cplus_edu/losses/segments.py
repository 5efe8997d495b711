"""Region maps for region-based losses: per-image region bins and segment reductions in O(pixels).

Region losses (CAS, class-agnostic CE, the discriminative loss) take an integer map
`regions` `[B, H, W]` whose ids carry no class meaning: any integers, any number of regions per
image, ids may differ between images, and `ignore_index` marks pixels that belong to no region.

`RegionBins` maps every pixel to a bin `k` of its own image, so that per-region sums are one
product or one `scatter_add` over the pixels (no Python loop over regions or images):

- one bin per distinct id of the batch, never one per id of their span (ids {0, 4000} give 2
  bins, not 4001): the cost is O(pixels + distinct ids) whatever the ids' values. A span of at
  most `DENSE_MAX_BINS` ids is kept as it is (`k = id - min(id)`); a span of at most the number
  of pixels is compacted by one `bincount` over it and a lookup; a larger one (ids like 10**9)
  by `torch.unique` (a sort). Bins of ids absent from an image stay empty (`count == 0`) and are
  masked out;
- ignored pixels belong to no bin.

Two ways to compute the same sums, chosen by the number of bins (the callers never see which):

- few bins (`K <= DENSE_MAX_BINS`, e.g. a binary foreground/background map): a dense one-hot map
  `[B, K, P]`; region sums are one batched matrix product `values @ one_hot^T` and broadcasting
  back is `per_region @ one_hot`. This costs O(K P) but runs as vectorised dense kernels;
- many bins: one `scatter_add` into `K + 1` bins (the last one, the dump bin, collects the ignored
  pixels) and one `gather` back. This costs O(M P) whatever K is, but scatters do not vectorise.

`benchmarks/cas_overhead.py` measures both paths against K and prints where they cross.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Largest number of bins per image for which region sums use the dense one-hot product instead of
#: scatter_add. Measured with CASLoss by benchmarks/cas_overhead.py (2-core CPU, noisy): at M = 2
#: channels the dense path is 1.2-1.7x faster for K = 1-3, ties at K = 4 and loses from K = 6
#: (0.3x at K = 20); at M = 21 it wins up to K = 12-16. K <= 4 never loses at either.
DENSE_MAX_BINS = 4


def mean_over(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of per-image `values` `[B]` over `mask` `[B]`; 0 (attached to the graph) if empty."""
    return (values * mask).sum() / mask.sum().clamp_min(1)


def _valid_range(flat: Tensor, ignore_index: int) -> tuple[int, int, bool] | None:
    """`(min, max, maybe_ignored)` of the ids of `flat` other than `ignore_index`, or None if
    every pixel is ignored; `maybe_ignored` is False if no pixel can hold `ignore_index`. One pass
    in the usual case; a second one only if `ignore_index` is the min or the max."""
    low, high = (int(v) for v in torch.aminmax(flat))
    maybe_ignored = low <= ignore_index <= high
    if low == high == ignore_index:
        return None
    if low == ignore_index:  # e.g. -100 below every id: the smallest id among the others
        low = int(torch.where(flat == ignore_index, high, flat).min())
    if high == ignore_index:  # e.g. 255 above every id
        high = int(torch.where(flat == ignore_index, low, flat).max())
    return low, high, maybe_ignored


class RegionBins:
    """Per-image region bins of a region map `regions` `[B, H, W]`.

    Args:
        regions: integer region map `[B, H, W]`.
        ignore_index: id of pixels that belong to no region.
        dense: force the dense one-hot path (True) or the scatter path (False); by default dense
            iff `K <= DENSE_MAX_BINS`. Both give the same values and gradients.

    Attributes:
        num_bins: `K`, bins per image.
        count: `[B, K]` pixels per bin (long); 0 for ids absent from an image.
        present: `[B, K]` bool, bins holding at least one pixel: the image's regions.
        num_regions: `[B]` number of regions per image (long).
        ids: `[K]` the region id each bin stands for.
        index: `[B, P]` (P = H * W) bin of each pixel in `[0, K]`; `K` (the dump bin) for ignored
            pixels. Computed on first use.
    """

    def __init__(self, regions: Tensor, ignore_index: int = -100, dense: bool | None = None):
        batch = regions.shape[0]
        pixels = regions[0].numel()
        self._flat = regions.reshape(batch, pixels).long()  # [B, P]
        self._ignore_index = int(ignore_index)
        self._local: Tensor | None = None  # [B, P] bin of each pixel (garbage where ignored)
        self._index: Tensor | None = None
        id_range = _valid_range(self._flat, self._ignore_index) if self._flat.numel() else None
        low, high, self._maybe_ignored = (0, -1, True) if id_range is None else id_range
        span = high - low + 1  # Python ints: no int64 overflow
        self._low, self._high = low, high
        if span > pixels:  # huge ids (10**9): one bin per distinct id, by a sort
            known = torch.where(self._flat != self._ignore_index, self._flat, low)  # [B, P]
            self.ids, self._local = torch.unique(known, return_inverse=True)
            span = len(self.ids)
        else:
            self.ids = torch.arange(span, device=regions.device) + low  # [K]: one bin per id
        if self._local is None and span > DENSE_MAX_BINS:  # O(pixels): keep the ids that occur
            offset = torch.where(self._flat != self._ignore_index, self._flat - low, 0)  # [B, P]
            occurs = torch.bincount(offset.flatten(), minlength=span) > 0  # [span]
            if not bool(occurs.all()):  # ids {0, 4000}: 2 bins, not 4001
                self.ids = self.ids[occurs]
                self._local = (occurs.cumsum(0) - 1)[offset]  # [B, P] bin of each pixel
                span = len(self.ids)
        self.num_bins = span
        self.dense = span <= DENSE_MAX_BINS if dense is None else bool(dense)
        self._one_hots: dict[torch.dtype, Tensor] = {}
        if self.dense:
            exact = torch.float32 if pixels < 2**24 else torch.float64  # integer sums stay exact
            self.count = self.one_hot(exact).sum(dim=2).long()  # [B, K]
        else:
            self.count = regions.new_zeros(batch, span + 1, dtype=torch.long).scatter_add_(
                1, self.index, self.index.new_ones(1).expand(batch, pixels)
            )[:, :span]  # [B, K]
        self.present = self.count > 0  # [B, K]
        self.num_regions = self.present.sum(1)  # [B]

    @property
    def index(self) -> Tensor:
        """`[B, P]` bin of each pixel in `[0, K]`, `K` for ignored pixels (the dump bin)."""
        if self._index is None:
            local = self._flat - self._low if self._local is None else self._local
            if self._maybe_ignored:
                ignored = self._flat == self._ignore_index
                local = torch.where(ignored, self.num_bins, local)
            self._index = local
        return self._index

    def one_hot(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """`[B, K, P]` one-hot map of the bins in `dtype` (zero columns for ignored pixels);
        cached per dtype."""
        if dtype not in self._one_hots:
            if self._one_hots:  # another dtype exists already: convert it
                self._one_hots[dtype] = next(iter(self._one_hots.values())).to(dtype)
            else:
                hit = self._flat.unsqueeze(1) == self.ids.view(1, -1, 1)  # [B, K, P]
                if self._low < self._ignore_index < self._high:  # ignore_index between the ids
                    hit &= (self.ids != self._ignore_index).view(1, -1, 1)
                self._one_hots[dtype] = hit.to(dtype)
        return self._one_hots[dtype]

    def sum(self, values: Tensor) -> Tensor:
        """Per-region sums of pixel values `[B, M, P]` -> `[B, M, K]`."""
        if self.dense:
            return torch.bmm(values, self.one_hot(values.dtype).transpose(1, 2))
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
        if self.dense:
            return torch.bmm(per_region, self.one_hot(per_region.dtype))
        batch, channels, _ = per_region.shape
        padded = torch.cat([per_region, per_region.new_zeros(batch, channels, 1)], dim=2)
        index = self.index.unsqueeze(1).expand(batch, channels, self.index.shape[1])
        return padded.gather(2, index)
