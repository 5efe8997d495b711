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

from cplus_edu.checks import (
    check_all_finite,
    check_class_index,
    check_float,
    check_integer,
    check_nonempty,
)


def _check_logits(logits, background_index: int) -> None:
    check_float("logits", logits, 2)
    check_nonempty("logits", logits)
    check_class_index("background_index", background_index, logits.shape[1])
    check_all_finite("logits", logits)


def _check_target(target, logits) -> torch.Tensor:
    """An integer ``target [N]`` of classes ``0..K-1`` (any integer dtype); returns it as int64."""
    check_integer("target", target, 1)
    if len(target) != len(logits):
        raise ValueError(f"target has {len(target)} samples but logits has {len(logits)}")
    target, k = target.long(), logits.shape[1]
    if target.min() < 0 or target.max() >= k:
        raise ValueError(
            f"target values must be classes in [0, {k - 1}] (logits has {k} columns), got "
            f"values in [{int(target.min())}, {int(target.max())}]"
        )
    return target


def coi_accuracy(logits: torch.Tensor, target: torch.Tensor, background_index: int = 0) -> float:
    """Accuracy over the samples whose true class is a class of interest (background left out);
    a class-of-interest sample predicted as background counts as wrong."""
    _check_logits(logits, background_index)
    target = _check_target(target, logits)
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
    target = _check_target(target, logits)
    is_background = target == background_index
    if not is_background.any():
        raise ValueError("target has no background sample: background recall is undefined")
    predicted = logits.argmax(1) == background_index
    return binary_recall(predicted.long(), is_background.long()).item()


def background_score(logits: torch.Tensor, background_index: int = 0) -> torch.Tensor:
    """``[N]`` softmax probability of the background class, the paper's inference-time score.

    Not to be confused with ``cplus_edu.theory.background_probability``, eq. (3): the chance that
    a random background sample falls outside every class ball."""
    _check_logits(logits, background_index)
    return F.softmax(logits, dim=1)[:, background_index]


def background_auroc(background_scores: torch.Tensor, coi_scores: torch.Tensor) -> float:
    """AUROC of a background score (higher = more background): the probability that a random
    background sample scores higher than a random class-of-interest sample (ties count half).

    Scores may be any real numbers, ``+-inf`` included (only their order matters); NaN is
    refused, and so is an empty set."""
    for name, s in [("background_scores", background_scores), ("coi_scores", coi_scores)]:
        check_nonempty(name, check_float(name, s, 1))
        if s.isnan().any():
            raise ValueError(f"{name} contains NaN ({int(s.isnan().sum())} of {len(s)} values)")
    scores = torch.cat([background_scores.detach().double(), coi_scores.detach().double()])
    # only the order matters: replace each score by its rank among the distinct scores, scaled
    # into [0, 1] (torchmetrics squashes scores outside [0, 1] with a sigmoid, which can saturate
    # into ties, and a min-max rescaling overflows for scores near +-1e308 or infinite)
    distinct, rank = torch.unique(scores, return_inverse=True)
    scores = rank.double() / max(len(distinct) - 1, 1)
    labels = torch.cat([torch.ones(len(background_scores)), torch.zeros(len(coi_scores))]).long()
    return binary_auroc(scores, labels).item()
