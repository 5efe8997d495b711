"""Turning a dataset's labels into the C+1 numbering: background 0, classes of interest 1..C."""

from __future__ import annotations

from typing import Sequence

import torch


def to_cplus_one_labels(labels: torch.Tensor, classes_of_interest: Sequence[int]) -> torch.Tensor:
    """Map ``classes_of_interest[k]`` to ``k + 1`` and every other label to 0 (background).

    ``to_cplus_one_labels(torch.tensor([3, 7, 1]), [7, 3])`` is ``tensor([2, 1, 0])``.
    """
    coi = [int(c) for c in classes_of_interest]
    if len(coi) == 0 or len(set(coi)) != len(coi):
        raise ValueError(f"classes_of_interest must be distinct and non-empty, got {coi}")
    labels = torch.as_tensor(labels)
    if labels.is_floating_point():
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    out = torch.zeros_like(labels, dtype=torch.long)
    for k, c in enumerate(coi):
        out[labels == c] = k + 1
    return out
