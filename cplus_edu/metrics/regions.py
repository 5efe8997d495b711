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


def _region_maps(prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Two integer region maps of one shape, as int64 (so that ``ignore_index`` is compared
    with the ids themselves: ``-100`` against a uint8 map would wrap to 156, a real id)."""
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be an integer region map (torch.Tensor), got "
                            f"{type(value).__name__}")  # fmt: skip
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape, got {tuple(prediction.shape)} and "
            f"{tuple(target.shape)}"
        )
    if any(t.is_floating_point() or t.is_complex() for t in (prediction, target)):
        raise TypeError(
            f"prediction and target must be integer region maps, got {prediction.dtype} and "
            f"{target.dtype}"
        )
    return prediction.long(), target.long()


_MAX_TABLE = 10**8  # cells of the dense table the Hungarian matching works on (0.8 GB of int64)


def _pairs(counts: Tensor) -> Tensor:
    """C(n, 2) elementwise, in float64."""
    counts = counts.double()
    return counts * (counts - 1) / 2


def _compact(labels: Tensor) -> Tensor:
    return torch.unique(labels, return_inverse=True)[1]


def adjusted_rand_index(prediction: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Per-image ARI `[N]` (float64) of `prediction` and `target` `[N, H, W]` (integer ids of any
    integer dtype and any values). A single image `[H, W]` gives `[1]`.

    Pixels where `target == ignore_index` are left out. The contingency table is kept sparse
    (only the id pairs that occur), so the cost is O(pixels log pixels) whatever the ids.
    """
    prediction, target = _region_maps(prediction, target)
    if target.dim() == 2:
        prediction, target = prediction.unsqueeze(0), target.unsqueeze(0)
    if target.dim() != 3:
        raise ValueError(f"target must have shape [N, H, W] or [H, W], got {tuple(target.shape)}")
    if target.shape[0] == 0:
        raise ValueError(f"the batch is empty: target has shape {list(target.shape)}")
    scores = []
    for pred, true in zip(prediction, target):  # one contingency table per image
        keep = true != ignore_index
        pred, true = _compact(pred[keep]), _compact(true[keep])  # ids 0..P-1 and 0..T-1
        n = pred.numel()
        if n == 0:
            raise ValueError("an image of target has no pixel that is not ignore_index")
        cols = int(true.max()) + 1
        # the non-zero cells n_ij of the table (codes < n^2: no overflow in int64)
        cells = torch.unique(pred * cols + true, return_counts=True)[1]
        index = _pairs(cells).sum()
        sum_a, sum_b = _pairs(torch.bincount(pred)).sum(), _pairs(torch.bincount(true)).sum()
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

    Maps of any integer dtype are compared in int64; the result has `prediction`'s dtype, and a
    `ValueError` says so if a new id does not fit it. The table is dense: at most `1e8` cells
    (predicted times true ids) per image.
    """
    from scipy.optimize import linear_sum_assignment

    prediction, target, dtype = *_region_maps(prediction, target), prediction.dtype
    single = target.dim() == 2
    if single:
        prediction, target = prediction[None], target[None]
    if target.dim() != 3:
        raise ValueError(f"target must have shape [N, H, W] or [H, W], got {tuple(target.shape)}")
    matched = torch.empty_like(prediction)
    for image, (pred, true) in enumerate(zip(prediction, target)):  # one table per image
        pred_ids, pred_index = torch.unique(pred, return_inverse=True)  # [P], [H, W]
        keep = true != ignore_index
        true_ids, true_index = torch.unique(true[keep], return_inverse=True)  # [T], [K]
        if len(pred_ids) * len(true_ids) > _MAX_TABLE:
            raise ValueError(
                f"image {image} has {len(pred_ids)} predicted and {len(true_ids)} true ids: the "
                f"matching table would have more than {_MAX_TABLE:.0e} cells (limit)"
            )
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
    matched = _narrow(matched, dtype)
    return matched[0] if single else matched


def _narrow(ids: Tensor, dtype: torch.dtype) -> Tensor:
    """``ids`` (int64) in the caller's ``dtype``, refused if a new id does not fit it."""
    info = torch.iinfo(dtype) if dtype != torch.bool else None
    low, high = (0, 1) if info is None else (info.min, info.max)
    if ids.numel() and (int(ids.min()) < low or int(ids.max()) > high):
        raise ValueError(
            f"the renamed ids span [{int(ids.min())}, {int(ids.max())}], beyond the {dtype} of "
            f"prediction: pass int64 region maps"
        )
    return ids.to(dtype)
