"""Salient object detection: pick the salient output channel, binarise, score with F-beta and MAE.

As in the CAS paper (Sharma et al., REFERENCES.md [2], section 4.2):

- a class-agnostic model has no "salient" channel by construction; after training, the channel
  whose output correlates best (Pearson, over all pixels) with the ground-truth masks of
  validation data is chosen as the saliency map `S` in [0, 1];
- the binary map is `B(x, y) = 1 if S(x, y) > T else 0` with the adaptive threshold
  `T = 2 * mean(S)` per image (Cheng et al. 2011);
- `F_beta = (1 + beta^2) * precision * recall / (beta^2 * precision + recall)` with `beta^2 = 0.3`,
  from `B` and the mask `G`, per image (0 when precision and recall are both 0), averaged over
  images;
- `MAE = mean |S - G|` per image, on the continuous map `S` as the paper defines it (the authors'
  evaluation script applies it to the binary map `B`), averaged over images.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cplus_edu.checks import check_all_finite

BETA_SQUARED = 0.3


def _check_saliency(saliency: Tensor, name: str = "saliency") -> None:
    """A float map ``[N, H, W]`` with at least one image and pixel, finite, in [0, 1]."""
    if not isinstance(saliency, Tensor) or not saliency.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor [N, H, W] in [0, 1]")
    if saliency.dim() != 3:
        raise ValueError(f"{name} must have shape [N, H, W], got {tuple(saliency.shape)}")
    if saliency.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(saliency.shape)}")
    check_all_finite(name, saliency)
    if saliency.min() < 0 or saliency.max() > 1:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{float(saliency.min()):g}, "
            f"{float(saliency.max()):g}]"
        )


def _check_maps(saliency: Tensor, mask: Tensor, name: str = "saliency") -> None:
    _check_saliency(saliency, name)
    if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(saliency.shape):
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must have the shape of {name} {tuple(saliency.shape)}, got {shape}")
    if ((mask != 0) & (mask != 1)).any():
        raise ValueError("mask must hold only 0 and 1")


def channel_correlations(probabilities: Tensor, mask: Tensor) -> Tensor:
    """Pearson correlation `[M]` of each output channel of `probabilities` `[N, M, H, W]` with
    the masks `[N, H, W]`, over all pixels of all images (0 for a constant channel)."""
    if probabilities.dim() != 4:
        raise ValueError(
            f"probabilities must have shape [N, M, H, W], got {tuple(probabilities.shape)}"
        )
    _check_saliency(probabilities.flatten(0, 1), "probabilities")  # every channel in [0, 1]
    _check_maps(probabilities[:, 0], mask, "probabilities")
    x = probabilities.transpose(0, 1).reshape(probabilities.shape[1], -1).double()  # [M, NP]
    y = mask.reshape(1, -1).double()  # [1, NP]
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean()
    denominator = (x.square().sum(dim=1) * y.square().sum()).sqrt()
    return torch.where(denominator > 0, (x * y).sum(dim=1) / denominator.clamp_min(1e-300), 0.0)


def choose_salient_channel(probabilities: Tensor, mask: Tensor) -> int:
    """Index of the channel of `probabilities` `[N, M, H, W]` most correlated with `mask`."""
    return int(channel_correlations(probabilities, mask).argmax())


def binarize_saliency(saliency: Tensor) -> Tensor:
    """`B = S > T` with `T = 2 * mean(S)` per image; `saliency` `[N, H, W]` -> bool `[N, H, W]`."""
    _check_saliency(saliency)
    threshold = 2 * saliency.double().mean(dim=(1, 2), keepdim=True)
    return saliency > threshold


def f_beta(saliency: Tensor, mask: Tensor, beta_squared: float = BETA_SQUARED) -> Tensor:
    """Per-image F-beta `[N]` of the adaptively binarised `saliency` `[N, H, W]` against `mask`."""
    _check_maps(saliency, mask)
    binary = binarize_saliency(saliency).double()
    truth = mask.double()
    true_positive = (binary * truth).sum(dim=(1, 2))
    precision = true_positive / binary.sum(dim=(1, 2)).clamp_min(1)
    recall = true_positive / truth.sum(dim=(1, 2)).clamp_min(1)
    denominator = beta_squared * precision + recall
    score = (1 + beta_squared) * precision * recall / denominator.clamp_min(1e-300)
    return torch.where(denominator > 0, score, 0.0)


def mean_absolute_error(saliency: Tensor, mask: Tensor) -> Tensor:
    """Per-image MAE `[N]` between the continuous `saliency` `[N, H, W]` and `mask`."""
    _check_maps(saliency, mask)
    return (saliency.double() - mask.double()).abs().mean(dim=(1, 2))


def evaluate_saliency(saliency: Tensor, mask: Tensor) -> dict[str, float]:
    """`{"f_beta": mean F-beta, "mae": mean MAE}` over the images of `saliency` `[N, H, W]`."""
    return {
        "f_beta": float(f_beta(saliency, mask).mean()),
        "mae": float(mean_absolute_error(saliency, mask).mean()),
    }
