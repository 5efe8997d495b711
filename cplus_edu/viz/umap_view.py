"""A UMAP view of a high-dimensional (16-D, 32-D ...) embedding, drawn in 2-D.

UMAP (McInnes, Healy & Melville, 2018) keeps neighbourhoods, not distances: clusters that are
tight and apart in the embedding stay so in the view, but the sizes of and gaps between clusters
in the picture are not distances on the sphere. Measure those with ``cplus_edu.embedding_stats``.

``umap`` is imported inside the functions: its first import and first fit compile with numba
(tens of seconds). To cut that, the exact nearest neighbours are computed here with one matrix
product in torch (the data sets of the notebooks have a few thousand points) and handed to UMAP as
``precomputed_knn``, which skips UMAP's own numba-compiled neighbour search (about a third of the
compile time measured here). The view is seeded (``random_state``), which makes UMAP
single-threaded; ``n_jobs=1`` is passed explicitly and UMAP's warnings about it (and about the
missing search index, needed only by ``transform``) are silenced.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from cplus_edu.viz.hypersphere import BACKGROUND_COLOR, NOVEL_COLOR, class_color


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if torch.is_tensor(x) else x, dtype=np.float32)


def exact_knn(features: np.ndarray, n_neighbors: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances ``[N, k]`` of the ``k`` nearest neighbours of every row (itself
    first, as UMAP counts it), for ``metric`` ``"cosine"`` (1 - cos) or ``"euclidean"``."""
    x = torch.from_numpy(features).double()
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        distances = (1.0 - x @ x.T).clamp_min(0.0)  # `[N, N]`
    elif metric == "euclidean":
        distances = torch.cdist(x, x)
    else:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    distances.fill_diagonal_(0.0)
    dist, idx = distances.topk(n_neighbors, dim=1, largest=False)  # `[N, k]`, self first
    return idx.numpy().astype(np.int32), dist.numpy().astype(np.float32)


def umap_embedding(
    features,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    random_state: int = 0,
) -> np.ndarray:
    """Project ``features [N, D]`` to ``[N, 2]`` with a seeded, single-threaded UMAP.

    ``metric="cosine"`` because the C+1 features live on the unit sphere, where the angle is the
    natural distance (``"euclidean"`` is the other choice).
    """
    features = _numpy(features)
    if features.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {features.shape}")
    if len(features) <= n_neighbors:
        raise ValueError(
            f"features needs more than n_neighbors={n_neighbors} samples, got {len(features)}"
        )
    knn = exact_knn(features, n_neighbors, metric)
    with warnings.catch_warnings():
        # umap warns that a seed disables parallelism (we ask for one thread on purpose) and that
        # a precomputed kNN has no search index (only `transform` would need it).
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        import umap

        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
                            random_state=random_state, n_jobs=1, precomputed_knn=knn)
        return reducer.fit_transform(features)


def plot_umap(
    features,
    labels,
    *,
    novel=None,
    background_index: int = 0,
    ax=None,
    title: str | None = None,
    random_state: int = 0,
    **umap_kwargs,
):
    """UMAP of ``features [N, D]`` (and ``novel [M, D]``, a held-out background style, projected
    with them) coloured by ``labels [N]``; returns the axes."""
    import matplotlib.pyplot as plt

    labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    if labels.shape != (len(features),):
        raise ValueError(f"labels must be [{len(features)}], got shape {labels.shape}")
    stacked = _numpy(features)
    if novel is not None:
        stacked = np.concatenate([stacked, _numpy(novel)])
    xy = umap_embedding(stacked, random_state=random_state, **umap_kwargs)
    xy, xy_novel = xy[: len(labels)], xy[len(labels):]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    bg = labels == background_index
    if bg.any():  # a set with no background (chapter 08's classes only) gets no legend entry
        ax.scatter(*xy[bg].T, s=4, color=BACKGROUND_COLOR, label="background")
    for cls in [int(k) for k in np.unique(labels) if k != background_index]:
        ax.scatter(*xy[labels == cls].T, s=4, color=class_color(cls), label=f"class {cls}")
    if novel is not None:
        ax.scatter(*xy_novel.T, s=8, marker="x", lw=0.7, color=NOVEL_COLOR,
                   label="novel background")
    ax.set_xlabel("UMAP 1 (no unit)")
    ax.set_ylabel("UMAP 2 (no unit)")
    ax.set_title(title or "UMAP view of the embedding", fontsize=10)
    ax.legend(fontsize=7, markerscale=2)
    return ax
