"""Metrics for C+1 problems: accuracy on the classes of interest, background recall, and how well
a *background score* separates background from the classes of interest (AUROC).

Thin wrappers over ``torchmetrics`` (which has accuracy, recall and AUROC) that fix the C+1
conventions: the background is class ``background_index``; predicting background for a class of
interest is a mistake; a held-out background set may come without labels (it is all background).
The functions take ``[N, C+1]`` logits or ``[N]`` scores and return floats or ``[N]`` tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc, binary_recall, multiclass_accuracy


def _check_logits(logits, background_index: int) -> None:
    if not torch.is_tensor(logits) or logits.ndim != 2 or not torch.is_floating_point(logits):
        got = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"logits must be a float tensor [N, C+1], got {got}")
    if not 0 <= background_index < logits.shape[1]:
        raise ValueError(
            f"background_index must be in [0, {logits.shape[1] - 1}], got {background_index}"
        )


def _check_target(target, logits) -> None:
    if not torch.is_tensor(target) or torch.is_floating_point(target) or target.ndim != 1:
        got = f"{target.dtype} {tuple(target.shape)}" if torch.is_tensor(target) else target
        raise TypeError(f"target must be an integer tensor [N], got {got}")
    if len(target) != len(logits):
        raise ValueError(f"target has {len(target)} samples but logits has {len(logits)}")


def coi_accuracy(logits: torch.Tensor, target: torch.Tensor, background_index: int = 0) -> float:
    """Accuracy over the samples whose true class is a class of interest (background left out);
    a class-of-interest sample predicted as background counts as wrong."""
    _check_logits(logits, background_index)
    _check_target(target, logits)
    if not (target != background_index).any():
        raise ValueError("target has no class-of-interest sample: accuracy on them is undefined")
    return multiclass_accuracy(logits.argmax(1), target, num_classes=logits.shape[1],
                               average="micro", ignore_index=background_index).item()  # fmt: skip


def background_recall(
    logits: torch.Tensor, target: torch.Tensor | None = None, background_index: int = 0
) -> float:
    """Share of the background samples that are predicted as background.

    ``target=None`` means every sample is background (a held-out background set such as
    Fashion-MNIST images shown to an MNIST model).
    """
    _check_logits(logits, background_index)
    if target is None:
        target = torch.full((len(logits),), background_index, dtype=torch.long)
    _check_target(target, logits)
    is_background = target == background_index
    if not is_background.any():
        raise ValueError("target has no background sample: background recall is undefined")
    predicted = logits.argmax(1) == background_index
    return binary_recall(predicted.long(), is_background.long()).item()


def background_probability(logits: torch.Tensor, background_index: int = 0) -> torch.Tensor:
    """``[N]`` softmax probability of the background class: the paper's inference-time score."""
    _check_logits(logits, background_index)
    return F.softmax(logits, dim=1)[:, background_index]


def nearest_center_distance(
    features: torch.Tensor, centers: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """``[N]`` Euclidean distance from each feature ``[N, D]`` to the nearest centre ``[C, D]``
    (features L2-normalised first if ``normalize``): large means "outside every class ball",
    the geometric background score of the C+1 paper's Sec. 3.5."""
    if not torch.is_tensor(features) or features.ndim != 2:
        got = getattr(features, "shape", type(features).__name__)
        raise ValueError(f"features must be a tensor [N, D], got {got}")
    if not torch.is_tensor(centers) or centers.ndim != 2 or centers.shape[1] != features.shape[1]:
        raise ValueError(f"centers must be [C, {features.shape[1]}], "
                         f"got {getattr(centers, 'shape', None)}")  # fmt: skip
    if normalize:
        features = F.normalize(features, dim=1)
    return torch.cdist(features, centers.to(features.dtype)).min(dim=1).values


def background_auroc(background_scores: torch.Tensor, coi_scores: torch.Tensor) -> float:
    """AUROC of a background score (higher = more background): the probability that a random
    background sample scores higher than a random class-of-interest sample (ties count half)."""
    for name, s in [("background_scores", background_scores), ("coi_scores", coi_scores)]:
        if not torch.is_tensor(s) or s.ndim != 1 or len(s) == 0:
            raise ValueError(f"{name} must be a non-empty tensor [N], "
                             f"got {getattr(s, 'shape', type(s).__name__)}")  # fmt: skip
    scores = torch.cat([background_scores, coi_scores]).double()
    # torchmetrics squashes scores outside [0, 1] with a sigmoid, which can saturate into ties;
    # an increasing affine map into [0, 1] leaves the AUROC unchanged and avoids that
    scores = (scores - scores.min()) / (scores.max() - scores.min()).clamp_min(1e-300)
    labels = torch.cat([torch.ones(len(background_scores)), torch.zeros(len(coi_scores))]).long()
    return binary_auroc(scores, labels).item()
