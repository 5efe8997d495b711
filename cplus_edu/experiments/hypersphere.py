"""Train a small normalised-embedding classifier on the synthetic C+1 data and measure it.

One function, ``train_embedding``, backs chapter 01 and its slider panel: an ``MLP`` with an
L2-normalised ``embedding_dim``-D embedding and a cosine classifier (NormFace), trained either with
plain cross-entropy (``loss="ce"``) or with the C+1 loss (``loss="cplus_one"``, the C+1
paper's eq. (1)). The returned ``EmbeddingRun`` holds the model, its history (with the three loss
terms), the embedded training data and the embedded held-out *novel* background style, and
``report()`` measures it (``embedding_report``, built on ``cplus_edu.metrics``):

- **compactness** (``L_compact``): the *intra-class spread*, the mean distance of class-of-interest
  samples to their class centre;
- **background margin** (``L_background``): the distance from each background sample to its
  nearest class centre, and the share of background outside the margin ``m_b`` of every centre;
- **rejection of unseen background** (section 3.5): the share of the novel style labelled
  background (arg-max), and the share outside every class "super ball" of eq. (3), whose radius
  ``R`` is the 95th percentile of the class samples' distances to their own centre.

``free_share`` measures the room eq. (2) leaves: the share of the circle or sphere at least
``m_b`` from every centre. On a circle four centres with ``m_b = 1`` (bands of +-60 degrees)
leave none unless two neighbours are more than 120 degrees apart; on a sphere four caps leave room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cplus_edu.metrics import (
    background_recall,
    ball_radius,
    class_means,
    coi_accuracy,
    intra_class_spread,
    nearest_center_distance,
)
from cplus_edu.models import MLP
from cplus_edu.train import History, fit, predict
from cplus_edu.utils import seed_everything

LOSSES = ("ce", "cplus_one")


@dataclass
class EmbeddingRun:
    """A trained model and what it does to the data.

    ``features [N, D]``, ``logits [N, C+1]``, ``labels [N]`` for the training set;
    ``novel_features [M, D]``, ``novel_logits [M, C+1]`` for the novel background style;
    ``centers [C, D]``: the loss's centres (C+1) or the class means (CE, which has none);
    ``margin``: the background margin ``m_b`` the run was trained (or is measured) with.
    """

    model: nn.Module
    loss_fn: nn.Module
    history: History
    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    novel_features: torch.Tensor
    novel_logits: torch.Tensor
    centers: torch.Tensor
    margin: float
    background_index: int = 0

    def report(self) -> dict[str, float]:
        """``embedding_report`` measured against the class means, so that every run (CE or C+1,
        any centre type) is measured with the same ruler."""
        means = class_means(self.features, self.labels, self.logits.shape[1], self.background_index)
        return embedding_report(
            self.features,
            self.logits,
            self.labels,
            means,
            self.novel_features,
            self.novel_logits,
            self.margin,
            self.background_index,
        )


def train_embedding(
    data,
    loss: str = "cplus_one",
    *,
    embedding_dim: int = 2,
    alpha: float = 0.1,
    beta: float = 1e-4,
    margin: float = 1.0,
    centers: str = "moving_average",
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-2,
    hidden: tuple[int, ...] = (64, 64),
    n_novel: int = 500,
    seed: int = 0,
    progress: bool | None = False,
) -> EmbeddingRun:
    """Train on ``data`` (a ``cplus_edu.data.SyntheticCPlusOne``) and embed train + novel samples.

    ``loss``: ``"ce"`` or ``"cplus_one"``; ``alpha``, ``beta``, ``margin``, ``centers`` are passed
    to ``CPlusOneLoss`` (ignored for ``"ce"``, except ``margin`` which is used to measure).
    Deterministic in ``seed``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    for name in ("x", "y", "num_classes", "novel_background"):
        if not hasattr(data, name):
            raise TypeError(
                f"data must be a SyntheticCPlusOne (make_cplus_one_data), got {type(data).__name__}"
            )
    seed_everything(seed)
    model = MLP(data.dim, data.num_classes, embedding_dim, hidden=hidden, normalize=True)
    if loss == "ce":
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        from cplus_edu.losses import CPlusOneLoss

        loss_fn = CPlusOneLoss(
            data.num_classes,
            embedding_dim,
            alpha=alpha,
            beta=beta,
            margin=margin,
            centers=centers,
            classifier=model.head if centers == "shared" else None,
        )
    history = fit(
        model,
        loss_fn,
        (data.x, data.y),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device="cpu",
        progress=progress,
    )
    features, logits = predict(model, data.x)
    novel_features, novel_logits = predict(model, data.novel_background(n_novel, seed=seed + 1))
    if loss == "ce":
        run_centers = class_means(features, data.y, data.num_classes)
    else:
        loss_fn.eval()
        run_centers = loss_fn.centers.detach().cpu()
    return EmbeddingRun(
        model,
        loss_fn,
        history,
        features,
        logits,
        data.y,
        novel_features,
        novel_logits,
        run_centers,
        margin,
    )


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
    """The measurements of the module docstring for one trained model, as a dict of floats.

    ``features [N, D]``/``logits [N, C+1]``/``labels [N]`` are the training data (seen
    background styles), ``centers [C, D]`` the class-of-interest centres (no background row);
    ``novel_*`` are a held-out background style the model never saw.
    """
    background = labels.cpu() == background_index
    if not background.any():
        raise ValueError("labels has no background sample; the background distance is undefined")
    bg_distance = nearest_center_distance(features[background], centers)
    radius = ball_radius(features, labels, centers, background_index=background_index)
    novel_distance = nearest_center_distance(novel_features, centers)
    return {
        "interest_accuracy": coi_accuracy(logits, labels, background_index),
        "intra_class_spread": intra_class_spread(features, labels, centers, background_index),
        "background_to_nearest_center": bg_distance.mean().item(),
        "background_outside_margin": (bg_distance >= margin).float().mean().item(),
        "seen_background_rejection": background_recall(logits, labels, background_index),
        "novel_to_nearest_center": novel_distance.mean().item(),
        "novel_outside_margin": (novel_distance >= margin).float().mean().item(),
        "novel_background_rejection": background_recall(novel_logits, None, background_index),
        "ball_radius": radius,
        "novel_outside_balls": (novel_distance > radius).float().mean().item(),
    }


def free_share(centers, margin: float, n: int = 100_000, seed: int = 0) -> float:
    """Share of the unit circle (``D = 2``) or sphere (``D >= 3``) at distance >= ``margin`` from
    every one of ``centers [C, D]``: where eq. (2) leaves a background sample alone. Estimated on
    ``n`` uniform points (NumPy generator ``seed``, the same on every machine)."""
    c = np.asarray(centers, dtype=np.float64)
    if c.ndim != 2 or len(c) == 0 or c.shape[1] < 2:
        raise ValueError(f"centers must be [C, D] with C >= 1 and D >= 2, got shape {c.shape}")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    points = np.random.default_rng(seed).standard_normal((n, c.shape[1]))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    distance = np.linalg.norm(points[:, None, :] - c[None], axis=-1).min(1)  # [n]
    return float((distance >= margin).mean())
