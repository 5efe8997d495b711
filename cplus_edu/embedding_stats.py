"""Numbers that say what each term of the C+1 loss did to an embedding (seed 000, section 3.2).

The paper asks three properties of a C+1 classifier; each has a measurement here:

- **compactness** (``L_compact``): the *intra-class spread*, the mean Euclidean distance
  ``||f_i - c_{y_i}||`` of class-of-interest samples to their class centre;
- **background margin** (``L_background``): the distance from each background sample to its
  *nearest* class centre, ``min_k ||f_i - c_k||``, and the share of background that lies outside
  the margin ``m_b`` of every centre;
- **rejection of unseen background** (the paper's claim in section 3.5): the share of samples of a
  held-out *novel* background style that the classifier labels as background (argmax of the
  logits, as the paper infers with the softmax output), and the share that falls outside every
  class "super ball" of eq. (3), whose radius ``R`` is taken as the 95th percentile of the
  class-of-interest samples' distances to their centre.

Shapes: features ``[N, D]``, logits ``[N, C+1]``, labels ``[N]`` (``background_index`` marks the
background, the other values ``0..C`` are classes of interest), centres ``[C, D]`` for the classes
of interest in ascending class-index order, background left out (the layout of
``CPlusOneLoss.centers``). Distances are measured on L2-normalised features and centres unless
``normalize=False``, because that is where the loss measures them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_features(name: str, features: torch.Tensor) -> None:
    if not torch.is_tensor(features) or features.ndim != 2:
        shape = tuple(features.shape) if torch.is_tensor(features) else type(features).__name__
        raise ValueError(f"{name} must be a 2-D tensor [N, D], got {shape}")
    if not features.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {features.dtype}")


def _check_labels(labels: torch.Tensor, n: int) -> None:
    if not torch.is_tensor(labels) or labels.ndim != 1 or len(labels) != n:
        shape = tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor [N] with N={n}, got {shape}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")


def _prepare(features, centers, normalize):
    _check_features("features", features)
    _check_features("centers", centers)
    if centers.shape[1] != features.shape[1]:
        raise ValueError(
            f"centers must be [C, {features.shape[1]}] to match features, "
            f"got {tuple(centers.shape)}"
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
    _check_features("features", features)
    _check_labels(labels, len(features))
    if not 0 <= background_index < num_classes:
        raise ValueError(f"background_index must be in [0, {num_classes}), got {background_index}")
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
    """``min_k ||f_i - c_k||`` for every sample: ``[N, D]``, ``[C, D]`` -> ``[N]``."""
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
    own = (features[interest] - centers[center_index(labels[interest], background_index)])
    return torch.quantile(own.norm(dim=1), quantile).item()


def background_rejection_rate(logits: torch.Tensor, background_index: int = 0) -> float:
    """Share of samples whose arg-max class is the background: ``logits [N, C+1]`` -> float."""
    _check_features("logits", logits)
    if not 0 <= background_index < logits.shape[1]:
        raise ValueError(
            f"background_index must be in [0, {logits.shape[1]}), got {background_index}"
        )
    return (logits.argmax(dim=1) == background_index).float().mean().item()


def interest_accuracy(
    logits: torch.Tensor, labels: torch.Tensor, background_index: int = 0
) -> float:
    """Accuracy over the class-of-interest samples (over all C+1 outputs)."""
    _check_features("logits", logits)
    _check_labels(labels, len(logits))
    interest = labels.cpu() != background_index
    return (logits.argmax(dim=1).cpu()[interest] == labels.cpu()[interest]).float().mean().item()


def embedding_report(
    features: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor,
    centers: torch.Tensor,
    novel_features: torch.Tensor,
    novel_logits: torch.Tensor,
    margin: float,
    background_index: int = 0,
) -> dict[str, float]:
    """All the measurements of this module for one trained model, as a dict of floats.

    ``features``/``logits``/``labels`` are the training data (seen background styles);
    ``novel_*`` are a held-out background style the model never saw.
    """
    _check_labels(labels, len(features))
    background = labels.cpu() == background_index
    if not background.any():
        raise ValueError("labels has no background sample; the background distance is undefined")
    bg_distance = nearest_center_distance(features[background], centers)
    seen_rejection = background_rejection_rate(logits[background], background_index)
    radius = ball_radius(features, labels, centers, background_index=background_index)
    novel_distance = nearest_center_distance(novel_features, centers)
    return {
        "interest_accuracy": interest_accuracy(logits, labels, background_index),
        "intra_class_spread": intra_class_spread(features, labels, centers, background_index),
        "background_to_nearest_center": bg_distance.mean().item(),
        "background_outside_margin": (bg_distance >= margin).float().mean().item(),
        "seen_background_rejection": seen_rejection,
        "novel_to_nearest_center": novel_distance.mean().item(),
        "novel_outside_margin": (novel_distance >= margin).float().mean().item(),
        "novel_background_rejection": background_rejection_rate(novel_logits, background_index),
        "ball_radius": radius,
        "novel_outside_balls": (novel_distance > radius).float().mean().item(),
    }


def summarize(reports: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and (population) standard deviation of every entry over several runs' reports."""
    if not reports:
        raise ValueError("reports is empty")
    keys = reports[0].keys()
    values = torch.tensor([[r[k] for k in keys] for r in reports], dtype=torch.float64)
    mean, std = values.mean(0), values.std(0, correction=0)
    return {k: (mean[i].item(), std[i].item()) for i, k in enumerate(keys)}


def format_summary(
    summaries: dict[str, dict[str, tuple[float, float]]], columns: dict[str, str]
) -> str:
    """A text table: one row per setting (the keys of ``summaries``), one column per entry of
    ``columns`` (heading -> report key), each cell ``mean ± std``."""
    width = max(len(name) for name in summaries) + 2
    cell = max(15, *(len(h) + 2 for h in columns))
    rows = [" " * width + "".join(f"{h:>{cell}}" for h in columns)]
    for name, summary in summaries.items():
        cells = "".join(f"{f'{summary[k][0]:.3f} ± {summary[k][1]:.3f}':>{cell}}"
                        for k in columns.values())
        rows.append(f"{name:<{width}}{cells}")
    return "\n".join(rows)
