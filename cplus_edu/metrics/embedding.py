"""Numbers that say what each term of the C+1 loss did to an embedding (C+1 paper, sec. 3.2).

The paper asks three properties of a C+1 classifier; each has a measurement here:

- **compactness** (``L_compact``): the *intra-class spread*, the mean Euclidean distance
  ``||f_i - c_{y_i}||`` of class-of-interest samples to their class centre;
- **background margin** (``L_background``): the distance from each background sample to its
  *nearest* class centre, ``min_k ||f_i - c_k||``, and the share of background that lies outside
  the margin ``m_b`` of every centre;
- **rejection of unseen background** (the paper's claim in section 3.5): the share that falls
  outside every class "super ball" of eq. (3), whose radius ``R`` (``ball_radius``) is the 95th
  percentile of the class-of-interest samples' distances to their centre. The share the classifier
  labels as background is ``cplus_edu.metrics.background_recall``.

Shapes: features ``[N, D]``, logits ``[N, C+1]``, labels ``[N]`` (``background_index`` marks the
background, the other values ``0..C`` are classes of interest), centres ``[C, D]`` for the classes
of interest in ascending class-index order, background left out (the layout of
``CPlusOneLoss.centers``). Distances are measured on L2-normalised features and centres unless
``normalize=False``, because that is where the loss measures them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cplus_edu.checks import check_class_index, check_float, check_integer, describe


def _check_labels(labels, n: int) -> None:
    check_integer("labels", labels, 1)
    if len(labels) != n:
        raise ValueError(f"labels must be [N] with N={n} to match the features, got "
                         f"{describe(labels)}")  # fmt: skip


def _prepare(features, centers, normalize):
    check_float("features", features, 2)
    check_float("centers", centers, 2)
    if centers.shape[1] != features.shape[1]:
        raise ValueError(
            f"centers must be [C, {features.shape[1]}] to match features, got {describe(centers)}"
        )
    features, centers = features.detach().float().cpu(), centers.detach().float().cpu()
    if normalize:
        features, centers = F.normalize(features, dim=1), F.normalize(centers, dim=1)
    return features, centers


def center_index(labels: torch.Tensor, background_index: int = 0) -> torch.Tensor:
    """Row of the centre for each class-of-interest label: classes above the background shift down.

    ``labels [N]`` (no background entries) -> ``[N]`` indices into ``centers [C, D]``.
    """
    return labels - (labels > background_index).long()


def class_means(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    background_index: int = 0,
    normalize: bool = True,
) -> torch.Tensor:
    """Mean feature of each class of interest, ``[C, D]`` (background left out), in the layout
    of ``CPlusOneLoss.centers``; normalised when ``normalize``. ``num_classes`` counts all C+1.

    This gives a cross-entropy model, which has no centres of its own, centres to measure against.
    """
    check_float("features", features, 2)
    _check_labels(labels, len(features))
    check_class_index("background_index", background_index, num_classes)
    features = features.detach().float().cpu()
    labels = labels.cpu()
    if normalize:
        features = F.normalize(features, dim=1)
    means = []
    for k in range(num_classes):
        if k == background_index:
            continue
        members = features[labels == k]
        if len(members) == 0:
            raise ValueError(f"labels has no sample of class {k}, cannot take its mean")
        means.append(members.mean(0))
    means = torch.stack(means)
    return F.normalize(means, dim=1) if normalize else means


def intra_class_spread(
    features: torch.Tensor,
    labels: torch.Tensor,
    centers: torch.Tensor,
    background_index: int = 0,
    normalize: bool = True,
) -> float:
    """Mean ``||f_i - c_{y_i}||`` over class-of-interest samples (compactness: smaller is
    tighter)."""
    _check_labels(labels, len(features))
    features, centers = _prepare(features, centers, normalize)
    labels = labels.cpu()
    interest = labels != background_index
    if not interest.any():
        raise ValueError("labels has no class-of-interest sample, the spread is undefined")
    idx = center_index(labels[interest], background_index)
    if idx.max() >= len(centers):
        raise ValueError(
            f"labels go up to class {int(labels.max())} but centers has {len(centers)} rows"
        )
    return (features[interest] - centers[idx]).norm(dim=1).mean().item()


def nearest_center_distance(
    features: torch.Tensor, centers: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """``min_k ||f_i - c_k||`` for every sample: ``[N, D]``, ``[C, D]`` -> ``[N]``.

    Large means "outside every class ball": the geometric background score of the C+1 paper's
    section 3.5. Features and centres are L2-normalised first when ``normalize``."""
    features, centers = _prepare(features, centers, normalize)
    return torch.cdist(features, centers).min(dim=1).values


def outside_margin_rate(
    features: torch.Tensor, centers: torch.Tensor, margin: float, normalize: bool = True
) -> float:
    """Share of samples at least ``margin`` from every centre (the hinge of eq. (2) is 0 there)."""
    return (nearest_center_distance(features, centers, normalize) >= margin).float().mean().item()


def ball_radius(
    features: torch.Tensor,
    labels: torch.Tensor,
    centers: torch.Tensor,
    quantile: float = 0.95,
    background_index: int = 0,
    normalize: bool = True,
) -> float:
    """Radius ``R`` of the class "super balls" of the paper's eq. (3): the ``quantile`` of the
    distances ``||f_i - c_{y_i}||`` of class-of-interest samples to their own centre."""
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    _check_labels(labels, len(features))
    features, centers = _prepare(features, centers, normalize)
    labels = labels.cpu()
    interest = labels != background_index
    if not interest.any():
        raise ValueError("labels has no class-of-interest sample, the radius is undefined")
    own = features[interest] - centers[center_index(labels[interest], background_index)]
    return torch.quantile(own.norm(dim=1), quantile).item()
