"""Region metrics: how well a predicted partition of an image matches the ground-truth regions.

The adjusted Rand index (Hubert and Arabie 1985) compares two partitions of the same pixels,
whatever their ids: with the contingency table `n_ij` (pixels in predicted region i and true
region j), its row sums `a_i`, column sums `b_j` and `n` pixels,

    index    = sum_ij C(n_ij, 2)
    expected = sum_i C(a_i, 2) * sum_j C(b_j, 2) / C(n, 2)
    maximum  = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2
    ARI      = (index - expected) / (maximum - expected)

1 for identical partitions (up to renaming), about 0 for a random one. As in scikit-learn's
`adjusted_rand_score`, two partitions that agree and leave nothing to chance (both one region,
or both one region per pixel) score 1. The CAS paper's Table 4 reports the (unadjusted) Rand
index and covering; the adjusted index does not reward a model for predicting one region.

`match_region_ids` renames a prediction's ids to the true ids they overlap most (one-to-one, the
Hungarian algorithm on the same contingency table), so that a drawn segmentation takes the colours
of the true regions and the eye can compare them; it changes no score above.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_region_maps(prediction: Tensor, target: Tensor) -> None:
    """Two integer region maps of one shape."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape, got {tuple(prediction.shape)} and "
            f"{tuple(target.shape)}"
        )
    if prediction.is_floating_point() or target.is_floating_point():
        raise TypeError(
            f"prediction and target must be integer region maps, got {prediction.dtype} and "
            f"{target.dtype}"
        )


def _pairs(counts: Tensor) -> Tensor:
    """C(n, 2) elementwise, in float64."""
    counts = counts.double()
    return counts * (counts - 1) / 2


def _compact(labels: Tensor) -> Tensor:
    return torch.unique(labels, return_inverse=True)[1]


def adjusted_rand_index(prediction: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Per-image ARI `[N]` of `prediction` and `target` `[N, H, W]` (integer ids, any values).

    Pixels where `target == ignore_index` are left out. A single image `[H, W]` gives `[1]`.
    """
    _check_region_maps(prediction, target)
    if target.dim() == 2:
        prediction, target = prediction.unsqueeze(0), target.unsqueeze(0)
    if target.dim() != 3:
        raise ValueError(f"target must have shape [N, H, W] or [H, W], got {tuple(target.shape)}")
    scores = []
    for pred, true in zip(prediction, target):  # one contingency table per image
        keep = true != ignore_index
        pred, true = _compact(pred[keep]), _compact(true[keep])
        n = pred.numel()
        if n == 0:
            raise ValueError("an image of target has no pixel that is not ignore_index")
        rows, cols = int(pred.max()) + 1, int(true.max()) + 1
        table = torch.bincount(pred * cols + true, minlength=rows * cols).view(rows, cols)
        index = _pairs(table).sum()
        sum_a, sum_b = _pairs(table.sum(dim=1)).sum(), _pairs(table.sum(dim=0)).sum()
        all_pairs = _pairs(torch.tensor(n))
        expected = sum_a * sum_b / all_pairs.clamp_min(1)
        maximum = (sum_a + sum_b) / 2
        if maximum == expected:  # both partitions trivial (or one pixel): a perfect match
            scores.append(torch.tensor(1.0, dtype=torch.float64))
        else:
            scores.append((index - expected) / (maximum - expected))
    return torch.stack(scores)


def match_region_ids(prediction: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """`prediction` `[N, H, W]` (or `[H, W]`) with its ids renamed to best match `target`'s.

    Region ids mean nothing, so two maps of the same partition can carry different ids (and, drawn,
    different colours). Per image, the predicted ids are assigned one-to-one to the true ids so
    that the number of pixels where the renamed prediction equals the target is largest: the
    Hungarian algorithm (`scipy.optimize.linear_sum_assignment`) on the contingency table
    (pixels of predicted id i and true id j). Pixels where `target == ignore_index` do not count
    towards the matching, but are renamed too. Predicted ids left over (more predicted regions
    than true ones, or sharing no counted pixel with any free true id) get new ids above every
    true id of the image, in increasing order of their old id. The partition is unchanged: only
    the names move.
    """
    from scipy.optimize import linear_sum_assignment

    _check_region_maps(prediction, target)
    if target.dim() == 2:
        return match_region_ids(prediction[None], target[None], ignore_index)[0]
    if target.dim() != 3:
        raise ValueError(f"target must have shape [N, H, W] or [H, W], got {tuple(target.shape)}")
    matched = torch.empty_like(prediction)
    for image, (pred, true) in enumerate(zip(prediction, target)):  # one table per image
        pred_ids, pred_index = torch.unique(pred, return_inverse=True)  # [P], [H, W]
        keep = true != ignore_index
        true_ids, true_index = torch.unique(true[keep], return_inverse=True)  # [T], [K]
        table = torch.zeros(len(pred_ids), len(true_ids), dtype=torch.long)  # [P, T]
        table.index_put_((pred_index[keep], true_index), torch.tensor(1), accumulate=True)
        rows, cols = linear_sum_assignment(table.numpy(), maximize=True)
        new_ids = torch.empty_like(pred_ids)
        assigned = torch.zeros(len(pred_ids), dtype=torch.bool)
        for row, col in zip(rows, cols):
            if table[row, col] > 0:  # a pair that shares no pixel is no match
                new_ids[row], assigned[row] = true_ids[col], True
        taken = set(true_ids.tolist()) | {ignore_index}
        fresh = int(true_ids.max()) + 1 if len(true_ids) else 0
        for row in torch.nonzero(~assigned).flatten().tolist():  # left over, in id order
            while fresh in taken:
                fresh += 1
            new_ids[row] = fresh
            fresh += 1
        matched[image] = new_ids[pred_index]
    return matched
