"""Train a small normalised-embedding classifier on the synthetic C+1 data and measure it.

One function, ``train_embedding``, backs chapter 01 and its slider panel: an ``MLP`` with an
L2-normalised ``embedding_dim``-D embedding and a cosine classifier (NormFace), trained either with
plain cross-entropy (``loss="ce"``) or with the C+1 loss (``loss="cplus_one"``, seed 000,
eq. (1)). The returned ``EmbeddingRun`` holds the model, its history (with the three loss terms),
the embedded training data and the embedded held-out *novel* background style, and
``report()`` gives the numbers of ``cplus_edu.embedding_stats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cplus_edu import embedding_stats
from cplus_edu.models import MLP
from cplus_edu.train import History, fit, predict

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
        """``embedding_stats.embedding_report`` measured against the class means, so that every
        run (CE or C+1, any centre type) is measured with the same ruler."""
        means = embedding_stats.class_means(
            self.features, self.labels, self.logits.shape[1], self.background_index
        )
        return embedding_stats.embedding_report(
            self.features, self.logits, self.labels, means, self.novel_features,
            self.novel_logits, self.margin, self.background_index,
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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer MLP on ~2k points: one thread is ~10x faster than two
    try:
        return _train(data, loss, embedding_dim, alpha, beta, margin, centers, epochs,
                      batch_size, lr, hidden, n_novel, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _train(data, loss, embedding_dim, alpha, beta, margin, centers, epochs, batch_size, lr,
           hidden, n_novel, seed, progress) -> EmbeddingRun:
    from cplus_edu.utils import seed_everything

    seed_everything(seed)
    model = MLP(data.dim, data.num_classes, embedding_dim, hidden=hidden, normalize=True)
    if loss == "ce":
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        from cplus_edu.losses import CPlusOneLoss

        loss_fn = CPlusOneLoss(
            data.num_classes, embedding_dim, alpha=alpha, beta=beta, margin=margin,
            centers=centers, classifier=model.head if centers == "shared" else None,
        )
    history = fit(model, loss_fn, (data.x, data.y), epochs=epochs, batch_size=batch_size, lr=lr,
                  seed=seed, device="cpu", progress=progress)
    features, logits = predict(model, data.x)
    novel_features, novel_logits = predict(model, data.novel_background(n_novel, seed=seed + 1))
    if loss == "ce":
        run_centers = embedding_stats.class_means(features, data.y, data.num_classes)
    else:
        loss_fn.eval()
        run_centers = loss_fn.centers.detach().cpu()
    return EmbeddingRun(model, loss_fn, history, features, logits, data.y, novel_features,
                        novel_logits, run_centers, margin)
