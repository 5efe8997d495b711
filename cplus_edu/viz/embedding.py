"""Scatter plots of a 2-D embedding and line plots of a training history."""

from __future__ import annotations

from typing import Sequence

import torch


def plot_embedding_2d(
    features,
    labels,
    ax=None,
    title: str | None = None,
    names: Sequence[str] | None = None,
    background_index: int | None = 0,
):
    """Scatter ``features [N, 2]`` coloured by ``labels [N]``; background (if any) in light grey.

    ``names[k]`` labels class ``k`` in the legend. Returns the matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    features = torch.as_tensor(features).detach().cpu()
    labels = torch.as_tensor(labels).detach().cpu()
    if features.ndim != 2 or features.shape[1] != 2:
        raise ValueError(f"features must be [N, 2], got shape {tuple(features.shape)}")
    if len(labels) != len(features):
        raise ValueError(f"labels has {len(labels)} entries but features has {len(features)} rows")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    cmap = plt.get_cmap("tab10")
    for k in torch.unique(labels).tolist():
        pts = features[labels == k]
        name = names[k] if names is not None else f"class {k}"
        if k == background_index:
            ax.scatter(
                pts[:, 0], pts[:, 1], s=4, c="lightgrey", label=name if names else "background"
            )
        else:
            ax.scatter(pts[:, 0], pts[:, 1], s=6, color=cmap(k % 10), label=name)
    ax.set_xlabel("embedding dim 1")
    ax.set_ylabel("embedding dim 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or "2-D embedding")
    ax.legend(markerscale=3, fontsize="small", loc="best")
    return ax


def plot_history(history, ax=None, title: str = "training loss"):
    """Epoch-mean loss and, if recorded, each loss term (log scale). Returns the ``Axes``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    epochs = range(1, history.epochs + 1)
    ax.plot(epochs, history.loss, label="total", lw=2)
    for name, values in history.terms.items():
        ax.plot(epochs, values, label=name, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (epoch mean)")
    if all(v > 0 for v in history.loss) and all(v > 0 for vs in history.terms.values() for v in vs):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax
