"""The UMAP view: exact neighbours against scikit-learn, and one small seeded UMAP run.

The UMAP run compiles UMAP's numba kernels (about 15 s of CPU the first time in a process).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from cplus_edu.viz import plot_umap  # noqa: E402
from cplus_edu.viz.umap_view import exact_knn, umap_embedding  # noqa: E402


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_knn_matches_scikit_learn(metric):
    x = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)
    idx, dist = exact_knn(x, 6, metric)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=6, metric=metric).fit(x).kneighbors(x)
    np.testing.assert_array_equal(idx[:, 0], np.arange(120))  # every point is its own first
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-5)
    with pytest.raises(ValueError, match="metric must be"):
        exact_knn(x, 6, "manhattan")


def test_umap_keeps_separate_clusters_apart_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=1)
    labels = torch.arange(150) % 3
    features = directions[labels] + 0.05 * torch.randn(150, 16, generator=g)
    xy = umap_embedding(features, n_neighbors=10)
    assert xy.shape == (150, 2)
    # every point's nearest neighbour in the view is from its own cluster
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (labels.numpy()[d.argmin(1)] == labels.numpy()).all()
    np.testing.assert_allclose(umap_embedding(features, n_neighbors=10), xy)  # same seed

    ax = plot_umap(features, labels, novel=features[:20] + 0.3, ax=plt.subplots()[1],
                   n_neighbors=10)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.collections) == 1 + 2 + 1  # background, classes 1 and 2, novel
    only_classes = plot_umap(features, labels + 1, ax=plt.subplots()[1], n_neighbors=10)
    legend = [t.get_text() for t in only_classes.get_legend().get_texts()]
    assert legend == ["class 1", "class 2", "class 3"]  # no empty "background" entry
    plt.close("all")
    with pytest.raises(ValueError, match="more than n_neighbors=10 samples"):
        umap_embedding(features[:8], n_neighbors=10)
    with pytest.raises(ValueError, match=r"labels must be \[150\]"):
        plot_umap(features, labels[:-1])
