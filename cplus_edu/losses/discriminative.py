r"""Discriminative loss: the metric-learning baseline the CAS paper compares with.

Paper: B. De Brabandere, D. Neven, L. Van Gool, "Semantic Instance Segmentation with a
Discriminative Loss Function", CVPR 2017 workshops (arXiv:1708.02551); compared against in
the CAS paper (Sharma et al., REFERENCES.md [2], Tables 2 and 3).

Pixel embeddings `x_i` `[D]` of a region (instance) `c` are pulled to within `delta_v` of their
mean `mu_c`; the means of different regions are pushed at least `2 delta_d` apart; a small term
keeps the means near the origin. For the C regions of one image, with `[.]_+ = max(0, .)`:

.. math::

    L_{var} = \frac{1}{C}\sum_{c=1}^{C} \frac{1}{N_c}\sum_{i=1}^{N_c}
              [\|\mu_c - x_i\| - \delta_v]_+^2                                   \quad (1)

    L_{dist} = \frac{1}{C(C-1)} \sum_{c_A=1}^{C} \sum_{c_B \ne c_A}
               [2\delta_d - \|\mu_{c_A} - \mu_{c_B}\|]_+^2                        \quad (2)

    L_{reg} = \frac{1}{C}\sum_{c=1}^{C} \|\mu_c\|                                 \quad (3)

    L = \alpha L_{var} + \beta L_{dist} + \gamma L_{reg}                          \quad (4)

with the paper's defaults `delta_v = 0.5`, `delta_d = 1.5`, `alpha = beta = 1`, `gamma = 0.001`.
Distances are Euclidean, not squared. The loss is computed per image and averaged over the images
of the batch; an image with one region has no pairs, so `L_dist = 0` there. Unlike CAS, the
embeddings are not softmaxed: pass the network's raw output channels (half precision is computed
in float32). The norms take a zero gradient at a zero vector (`smooth_norm`), so second
derivatives (`create_graph=True`) are finite and exact where the loss is smooth. Region ids cost
O(distinct ids), whatever their values (`RegionBins`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cplus_edu.checks import (
    check_finite,
    check_range,
    check_reduction,
    check_region_inputs,
    upcast_half,
)
from cplus_edu.losses.segments import RegionBins, mean_over


def smooth_norm(x: Tensor, dim: int) -> Tensor:
    """`||x||` along `dim`, exactly, with a zero gradient (and zero second derivative) at `x = 0`,
    where `vector_norm`'s second derivative is NaN (0/0); here a zero vector is a region's pixel
    at its own mean, a region pair with itself, or the mean of an empty bin."""
    squares = x.square().sum(dim)
    positive = squares > 0
    return torch.where(positive, torch.where(positive, squares, 1.0).sqrt(), 0.0)


class DiscriminativeLoss(nn.Module):
    """De Brabandere et al. (2017) discriminative loss, eq. (4), averaged over images.

    Call `loss(embeddings, regions)` with `embeddings` `[B, D, H, W]` and an integer region map
    `regions` `[B, H, W]` (ids carry no class meaning; `ignore_index` marks unlabelled pixels).
    After a call, `loss.terms` holds the batch means of `variance`, `distance` and `regularizer`.
    """

    def __init__(
        self,
        delta_v: float = 0.5,
        delta_d: float = 1.5,
        alpha: float = 1.0,
        beta: float = 1.0,
        gamma: float = 0.001,
        ignore_index: int = -100,
        reduction: str = "mean",
    ):
        super().__init__()
        self.delta_v = check_range("delta_v", delta_v, 0.0)
        self.delta_d = check_range("delta_d", delta_d, 0.0)
        self.alpha = check_range("alpha", alpha, 0.0)
        self.beta = check_range("beta", beta, 0.0)
        self.gamma = check_range("gamma", gamma, 0.0)
        self.ignore_index = int(ignore_index)
        self.reduction = check_reduction(reduction)
        self.terms: dict[str, Tensor] = {}

    def forward(self, embeddings: Tensor, regions: Tensor) -> Tensor:
        regions = check_region_inputs(embeddings, regions, "embeddings")
        embeddings = upcast_half(embeddings)
        batch, dim = embeddings.shape[:2]
        x = embeddings.reshape(batch, dim, -1)  # [B, D, P]
        bins = RegionBins(regions, self.ignore_index)
        present = bins.present.to(x.dtype)  # [B, K]
        num_regions = present.sum(dim=1)  # C per image, [B]
        mu = bins.mean(x)  # mu_c: [B, D, K]

        # eq. (1): [||mu_c - x_i|| - delta_v]_+^2, mean over the region, mean over regions
        pull = (smooth_norm(x - bins.broadcast(mu), dim=1) - self.delta_v).relu()
        per_region = bins.sum(pull.square().unsqueeze(1))[:, 0] / bins.count.clamp_min(1)  # [B, K]
        variance = (per_region * present).sum(dim=1) / num_regions.clamp_min(1)  # [B]

        # eq. (2): [2 delta_d - ||mu_A - mu_B||]_+^2 over ordered pairs of distinct regions
        means = mu.transpose(1, 2)  # [B, K, D]
        gaps = smooth_norm(means.unsqueeze(2) - means.unsqueeze(1), dim=3)  # [B, K, K]
        pairs = present.unsqueeze(2) * present.unsqueeze(1)  # [B, K, K]
        pairs = pairs * (1 - torch.eye(pairs.shape[1], dtype=x.dtype, device=x.device))
        push = (2 * self.delta_d - gaps).relu().square() * pairs
        distance = push.sum(dim=(1, 2)) / (num_regions * (num_regions - 1)).clamp_min(1)  # [B]

        # eq. (3): mean norm of the region means
        regularizer = (smooth_norm(mu, dim=1) * present).sum(dim=1)
        regularizer = regularizer / num_regions.clamp_min(1)  # [B]

        loss = self.alpha * variance + self.beta * distance + self.gamma * regularizer  # eq. (4)
        check_finite(loss, embeddings=embeddings)
        has_region = num_regions > 0
        self.terms = {
            "variance": mean_over(variance, has_region).detach(),
            "distance": mean_over(distance, has_region).detach(),
            "regularizer": mean_over(regularizer, has_region).detach(),
        }
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return mean_over(loss, has_region)
