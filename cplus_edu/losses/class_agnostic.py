r"""Class-agnostic segmentation (CAS) loss and class-agnostic cross-entropy (CACE).

Paper: A. Sharma, N. Khan, M. Mubashar, G. Sundaramoorthi, P. Torr, "Class-Agnostic Segmentation
Loss and Its Application to Salient Object Detection and Segmentation", IJCAI 2021 workshop on
Weakly Supervised Representation Learning (arXiv:2010.14793; REFERENCES.md [2]).

The network's softmax output `s(x)` `[M]` at pixel `x` is a descriptor; a ground-truth region map
splits each image into regions `r_1 .. r_N` whose ids carry no class meaning. With the region means
:math:`\hat{s}(r) = \frac{1}{|r|}\int_r s(x)\,dx`, eq. (1) reads

.. math::

    CAS = \sum_{i=1}^{N} \int_{r_i} \alpha \frac{\|s(x) - \hat{s}(r_i)\|_2^2}{|r_i|}\,dx
          \;-\; \sum_{i=1}^{N} \sum_{j \ne i} (1 - \alpha)\, \|\hat{s}(r_i) - \hat{s}(r_j)\|_2^2

The first sum is the *uniformer* (the variance of the descriptor on each region, summed over
regions), the second the *discriminator* (squared distances between region means). Section 3.2
derives the gradient, eq. (2),

.. math::

    \nabla CAS = \sum_i \int_{r_i} 2\alpha
        \frac{(s(x) - \hat{s}(r_i))(\nabla s(x) - \nabla \hat{s}(r_i))}{|r_i|}\,dx
      - \sum_i \sum_{j \ne i} 2(1 - \alpha)(\hat{s}(r_i) - \hat{s}(r_j))
        (\nabla \hat{s}(r_i) - \nabla \hat{s}(r_j)),

with :math:`\nabla\hat{s}(r) = \frac{1}{|r|}\int_r \nabla s`. With respect to the descriptor of a
pixel `x` of region `r_i` (the `nabla s_hat` part of the uniformer integrates to zero, and each
pair appears twice in the ordered double sum) it is

.. math::

    \frac{\partial CAS}{\partial s(x)} = \frac{2}{|r_i|}\Big[\alpha (s(x) - \hat{s}(r_i))
        - 2(1 - \alpha)\big(N\hat{s}(r_i) - \textstyle\sum_j \hat{s}(r_j)\big)\Big],

which is what the backward pass below computes (one pass over the pixels); autograd carries it
on through the softmax. The tests check it against autograd on a loop implementation and with
`gradcheck`.

Reading taken here (../shared/GUIDE.md section 4):

- per image, `U = sum_i mean_{x in r_i} ||s(x) - s_hat(r_i)||^2` and
  `D = sum_{i != j} ||s_hat(r_i) - s_hat(r_j)||^2` over *ordered* pairs, as the double sum is
  written; `CAS = alpha * U - (1 - alpha) * D`, averaged over the images of the batch;
  `alpha = 0.5` by default, as in the authors' code.
- The authors' public code (binary only) differs: it adds eps = 3e-5 to the mask weights, computes
  the uniformer on the mask-weighted descriptor (so mostly the foreground variance), and counts the
  single pair (fg, bg) once. We implement the paper's multi-region form.
- Both terms are computed in O(pixels + regions), with region sums for the region means and no
  loop over regions or images (and the backward is eq. (2), one broadcast back to the pixels, so
  autograd keeps no per-pixel intermediate). `RegionBins` computes region sums by a dense one-hot
  product when an image has few bins (a binary map) and by a scatter-add otherwise. The
  uniformer sums :math:`\|s(x) - \hat{s}(r_i)\|^2` pixel by pixel (not the variance identity
  :math:`\frac{1}{|r|}\int_r\|s\|^2 - \|\hat{s}(r)\|^2`, whose two terms cancel: for near-uniform
  float32 outputs it lost even the sign), the discriminator by
  :math:`\sum_{i,j}\|m_i - m_j\|^2 = 2N\sum_i\|m_i - c\|^2` with :math:`c` the mean of the
  :math:`m_i`; both are sums of squares, never negative. Half-precision outputs are computed in
  float32, as `F.cross_entropy` does under autocast.
- A second derivative (`create_graph=True`) is exact: the backward is written in differentiable
  operations and then recomputes the region means from `s`.

Bounds (section 3.3 claims the loss lies in "(alpha N, -(1 - alpha) N]"). What holds for softmax
outputs with M channels and N regions in an image:

- each region's uniformer is at most `1 - 1/M` (a region's variance on the simplex is
  `mean ||s||^2 - ||s_hat||^2 <= 1 - 1/M`), so `U <= N (1 - 1/M) < N`;
- each squared distance between two points of the simplex is at most 2 (two corners), not 1, and
  `D = 2 (N^2 - ||sum_i s_hat(r_i)||^2) <= 2 (N^2 - sum_k n_k^2)` where `n_k` regions share corner
  `k` as evenly as possible; for `N <= M` that is `2 N (N - 1)`.

So `-(1 - alpha) 2 N (N - 1) <= CAS <= alpha N (1 - 1/M)` for `N <= M`: bounded, as claimed, but a
perfect segmentation scores `-(1 - alpha) 2 N (N - 1)`, below the paper's `-(1 - alpha) N` whenever
`N > 1`. `cas_bounds` returns these bounds; the tests check them.

Class-agnostic cross-entropy (section 4.2, for two classes): the paper writes
`min(-y_i log p_i, -(1 - y_i) log p_i)`; we read it as the smaller of the cross-entropies with the
given labels and with the flipped labels, taken per region (a region's labels may flip as a whole).
Nothing in it keeps two regions apart: with one label per region, every region may pick the same
class at zero loss. CAS has the discriminator for that.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplus_edu.checks import (
    check_finite,
    check_range,
    check_reduction,
    check_region_inputs,
    upcast_half,
)
from cplus_edu.losses.segments import RegionBins, mean_over


def cas_bounds(num_regions: int, num_channels: int, alpha: float = 0.5) -> tuple[float, float]:
    """The interval `(lower, upper)` that CAS of one image with softmax outputs lies in.

    `lower = -(1 - alpha) * 2 * (N^2 - sum_k n_k^2)` with the N regions spread as evenly as
    possible over the M corners (attained by a perfect, sparse segmentation), and
    `upper = alpha * N * (1 - 1/M)` (the uniformer's maximum, attained only if every region's mean
    is the simplex centre with its pixels on the corners, and then `D = 0`).
    """
    if num_regions < 1 or num_channels < 1:
        raise ValueError(
            f"num_regions and num_channels must be >= 1, got {num_regions} and {num_channels}"
        )
    per_corner, extra = divmod(num_regions, num_channels)
    squares = extra * (per_corner + 1) ** 2 + (num_channels - extra) * per_corner**2
    lower = -(1 - alpha) * 2 * (num_regions**2 - squares)
    upper = alpha * num_regions * (1 - 1 / num_channels)
    return float(lower), float(upper)


def _shifted_means(s: Tensor, bins: RegionBins, inverse_size: Tensor, num_regions: Tensor):
    """Region means `s_hat` `[B, M, K]` and the same moved to their centre
    `c = (1/N) sum_i s_hat(r_i)`, `s_hat(r_i) - c` `[B, M, K]` (both 0 in empty bins)."""
    s_hat = bins.sum(s) * inverse_size.unsqueeze(1)  # eq. (1): region means, 0 in empty bins
    centre = s_hat.sum(dim=2) / num_regions.clamp_min(1).unsqueeze(1)  # c, [B, M]
    shifted = (s_hat - centre.unsqueeze(2)) * (inverse_size > 0).unsqueeze(1)  # [B, M, K]
    return s_hat, shifted


class _CASPerImage(torch.autograd.Function):
    """Per-image CAS, uniformer and discriminator `[B]` of descriptors `s` `[B, M, P]`: eq. (1)
    forward, eq. (2) backward.

    Both terms are sums of squares, computed so that nothing cancels: for near-uniform softmax
    outputs (logits ~1e-3) the squares are ~1e-7 next to `||s||^2 ~ 1/M`, and the variance
    identity (`mean ||s||^2 - ||s_hat||^2`) loses them to float32 rounding, even their sign. So
    the uniformer sums `||s(x) - s_hat(r_i)||^2` pixel by pixel (`>= 0` by construction), and the
    discriminator uses `sum_{i,j} ||m_i - m_j||^2 = 2N sum_i ||m_i - c||^2` with `c` the mean of
    the region means (`>= 0` too).
    """

    @staticmethod
    def forward(ctx, s: Tensor, bins: RegionBins, alpha: float):
        present = bins.present.to(s.dtype)  # [B, K]
        inverse_size = present / bins.count.clamp_min(1)  # 1 / |r_i|, [B, K]
        num_regions = present.sum(dim=1)  # N, [B]
        s_hat, shifted = _shifted_means(s, bins, inverse_size, num_regions)

        # eq. (1), uniformer: sum_i (1/|r_i|) sum_{x in r_i} ||s(x) - s_hat(r_i)||^2
        spread = s.new_zeros(s.shape[0], 1, s.shape[2])  # ||s(x) - s_hat(r_x)||^2, [B, 1, P]
        for channel, mean in zip(s.unbind(dim=1), s_hat.unbind(dim=1)):  # no [B, M, P] temporary
            deviation = channel - bins.broadcast(mean.unsqueeze(1))[:, 0]  # [B, P]
            spread[:, 0].addcmul_(deviation, deviation)
        uniformer = (bins.sum(spread)[:, 0] * inverse_size).sum(dim=1)  # [B]

        # eq. (1), discriminator: sum_{i != j} ||s_hat_i - s_hat_j||^2 = 2 N sum_i ||s_hat_i - c||^2
        discriminator = 2 * num_regions * shifted.square().sum(dim=(1, 2))  # [B]

        cas = alpha * uniformer - (1 - alpha) * discriminator  # eq. (1), [B]
        ctx.save_for_backward(s, s_hat, shifted, num_regions, inverse_size)
        ctx.bins, ctx.alpha = bins, alpha
        ctx.mark_non_differentiable(uniformer, discriminator)
        return cas, uniformer, discriminator

    @staticmethod
    def backward(ctx, grad_cas: Tensor, _grad_uniformer: Tensor, _grad_discriminator: Tensor):
        s, s_hat, shifted, num_regions, inverse_size = ctx.saved_tensors
        bins, alpha = ctx.bins, ctx.alpha
        if torch.is_grad_enabled():  # create_graph=True: the region means again, from `s`, so that
            # autograd sees how they depend on it and this backward can be differentiated again
            s_hat, shifted = _shifted_means(s, bins, inverse_size, num_regions)
        # eq. (2), for x in r_i:
        #   dCAS/ds(x) = (2/|r_i|) [alpha (s(x) - s_hat_i) - 2(1-alpha)(N s_hat_i - sum_j s_hat_j)]
        #              = (2/|r_i|) [alpha s(x) - g_i]  =  s(x) a_i + b_i,
        # with N s_hat_i - sum_j s_hat_j = N (s_hat_i - c)
        n = num_regions.view(-1, 1, 1)
        g = alpha * s_hat + 2 * (1 - alpha) * n * shifted  # [B, M, K]
        weight = (2 * grad_cas).view(-1, 1, 1) * inverse_size.unsqueeze(1)  # 2/|r_i|, [B, 1, K]
        offset = bins.broadcast(-g * weight)  # b_i = -2 g_i / |r_i| at each pixel, [B, M, P]
        slope = bins.broadcast(alpha * weight)  # a_i = 2 alpha / |r_i|, [B, 1, P]
        grad_s = offset.addcmul_(s, slope)  # s(x) a_i + b_i, in place: one pass
        return grad_s, None, None


class CASLoss(nn.Module):
    """Class-agnostic segmentation loss, eq. (1), averaged over the images of the batch.

    Args:
        alpha: weight of the uniformer; the discriminator gets `1 - alpha`.
        ignore_index: region id of pixels that belong to no region.
        from_logits: if True, `outputs` are logits and are softmaxed over channels; if False they
            are used as they are (probabilities, or any descriptors: then the bounds do not hold).
        reduction: "mean" over images with at least one region, "sum", or "none" (`[B]`).

    Call `loss(outputs, regions)` with `outputs` `[B, M, H, W]` and an integer region map
    `regions` `[B, H, W]`. After a call, `loss.terms` holds the detached batch means of the
    `uniformer`, the `discriminator` and the number of `regions` per image.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        ignore_index: int = -100,
        from_logits: bool = True,
        reduction: str = "mean",
    ):
        super().__init__()
        self.alpha = check_range("alpha", alpha, 0.0, 1.0)
        self.ignore_index = int(ignore_index)
        self.from_logits = bool(from_logits)
        self.reduction = check_reduction(reduction)
        self.terms: dict[str, Tensor] = {}

    def forward(self, outputs: Tensor, regions: Tensor) -> Tensor:
        regions = check_region_inputs(outputs, regions)
        outputs = upcast_half(outputs)
        batch, channels = outputs.shape[:2]
        s = outputs.softmax(dim=1) if self.from_logits else outputs  # s(x): [B, M, H, W]
        s = s.reshape(batch, channels, -1)  # [B, M, P]
        bins = RegionBins(regions, self.ignore_index)
        cas, uniformer, discriminator = _CASPerImage.apply(s, bins, self.alpha)  # [B] each
        check_finite(cas, outputs=outputs)
        has_region = bins.num_regions > 0
        self.terms = {
            "uniformer": mean_over(uniformer, has_region).detach(),
            "discriminator": mean_over(discriminator, has_region).detach(),
            "regions": mean_over(bins.num_regions.to(s.dtype), has_region).detach(),
        }
        if self.reduction == "none":
            return cas
        if self.reduction == "sum":
            return cas.sum()
        return mean_over(cas, has_region)


class ClassAgnosticCELoss(nn.Module):
    """Class-agnostic cross-entropy for two classes: per region, the smaller of the summed CE with
    the given labels and with the flipped labels; summed over regions and divided by the number of
    non-ignored pixels (so it equals CE when every region keeps its labels).

    Call `loss(logits, target, regions=None)` with `logits` `[B, 2, H, W]`, `target` `[B, H, W]`
    in {0, 1} (or `ignore_index`) and an optional region map `[B, H, W]`; without one, each image
    is one region (the labelling of a whole image may be flipped). A pixel whose region is
    `ignore_index` is ignored like an unlabelled one: it leaves the sum and the count. Integer
    maps of any dtype are read as int64 (`checks.check_integer`).
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.reduction = check_reduction(reduction, ("mean", "sum"))

    def forward(self, logits: Tensor, target: Tensor, regions: Tensor | None = None) -> Tensor:
        target = check_region_inputs(logits, target, "logits", "target")  # int64 from here on
        if logits.shape[1] != 2:
            raise ValueError(
                f"logits must have 2 channels (binary segmentation), got {logits.shape[1]}"
            )
        logits = upcast_half(logits)
        valid = target != self.ignore_index
        if ((target[valid] != 0) & (target[valid] != 1)).any():
            raise ValueError(
                f"target values must be 0, 1 or ignore_index={self.ignore_index}, got "
                f"{torch.unique(target[valid]).tolist()}"
            )
        if regions is None:  # each image is one region
            regions = torch.zeros_like(target)
        else:  # int64 from here on; a pixel in no region is ignored, as an unlabelled one
            regions = check_region_inputs(logits, regions, "logits")
            valid &= regions != self.ignore_index
        regions = torch.where(valid, regions, self.ignore_index)
        batch = logits.shape[0]
        label = torch.where(valid, target, 0).reshape(batch, 1, -1)  # [B, 1, P]
        log_p = F.log_softmax(logits, dim=1).reshape(batch, 2, -1)  # [B, 2, P]
        ce_label = -log_p.gather(1, label)  # -log p_y: [B, 1, P]
        ce_flipped = -log_p.gather(1, 1 - label)  # -log p_{1-y}: [B, 1, P]
        bins = RegionBins(regions, self.ignore_index)
        per_region = bins.sum(torch.cat([ce_label, ce_flipped], dim=1))  # [B, 2, K]
        best = per_region.min(dim=1).values * bins.present  # [B, K]
        total = best.sum()
        check_finite(total, logits=logits)
        if self.reduction == "sum":
            return total
        return total / valid.sum().clamp_min(1)
