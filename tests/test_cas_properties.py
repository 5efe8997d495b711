"""The CAS paper's claims, measured: region means, sparsity, landscape, gradient share; plots."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from cplus_edu.experiments import (
    cas_two_region_landscape,
    descriptor_snapshot,
    distinct_corners,
    gradient_share,
    region_means,
    sparsity,
)
from cplus_edu.losses import CASLoss
from cplus_edu.viz import plot_cas_landscape, plot_simplex, simplex_to_cartesian

matplotlib.use("Agg")


def test_region_means_sparsity_and_corners():
    regions = torch.tensor([[[5, 5, 9, 9]], [[2, 2, 2, 7]]])
    probabilities = torch.tensor(
        [
            [[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 0.0, 0.0]]],
            [[[0.2, 0.4, 0.6, 1.0]], [[0.4, 0.3, 0.2, 0.0]], [[0.4, 0.3, 0.2, 0.0]]],
        ]
    )
    means, image, region = region_means(probabilities, regions)
    assert image.tolist() == [0, 0, 1, 1] and region.tolist() == [5, 9, 2, 7]
    torch.testing.assert_close(means[2], torch.tensor([0.4, 0.3, 0.3]))
    torch.testing.assert_close(sparsity(means), torch.tensor([1.0, 1.0, 0.4, 1.0]))
    assert distinct_corners(means, image).tolist() == [True, False]
    uniform = torch.full((1, 3), 1 / 3)
    torch.testing.assert_close(sparsity(uniform), torch.tensor([1 / 3]))


class OneHotModel(torch.nn.Module):
    """Logits that put region r of every image on corner r mod 3 (ignores the image)."""

    def __init__(self, regions):
        super().__init__()
        self.regions = regions
        self.unused = torch.nn.Parameter(torch.zeros(1))  # `predict` looks for the device here

    def forward(self, x):
        logits = 20 * F.one_hot(self.regions % 3, 3).permute(0, 3, 1, 2).float()
        return logits, logits


def test_descriptor_snapshot_keeps_pixels_with_their_region():
    regions = torch.randint(0, 3, (2, 6, 6), generator=torch.Generator().manual_seed(0))
    snapshot = descriptor_snapshot(OneHotModel(regions), torch.zeros(2, 3, 6, 6), regions, 3, 10)
    assert snapshot.epoch == 3 and snapshot.pixels.shape == (20, 3)
    assert (sparsity(snapshot.means) > 0.99).all()
    # each sampled pixel sits on the corner of its own region's mean
    torch.testing.assert_close(
        snapshot.pixels, snapshot.means[snapshot.pixel_region], atol=1e-6, rtol=0
    )
    assert snapshot.image.tolist() == sorted(snapshot.image.tolist())


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9, 1.0])
def test_landscape_is_the_closed_form_and_its_minima_are_sparse(alpha):
    shares, values = cas_two_region_landscape(alpha, steps=11)
    a, b = shares.view(-1, 1), shares.view(1, -1)
    closed = alpha * (2 * a * (1 - a) + 2 * b * (1 - b)) - (1 - alpha) * 4 * (a - b) ** 2
    torch.testing.assert_close(values, closed)
    minima = {tuple(ij) for ij in ((values - values.min()).abs() < 1e-9).nonzero().tolist()}
    if alpha < 1:  # the discriminator leaves only the separated corners
        assert minima == {(0, 10), (10, 0)}
    else:  # the uniformer alone: all four corners, including the trivial "same corner" ones
        assert minima == {(0, 0), (0, 10), (10, 0), (10, 10)}
    with pytest.raises(ValueError, match="steps"):
        cas_two_region_landscape(alpha, steps=1)


def test_gradient_share_of_a_tiny_region():
    regions = torch.zeros(4, 20, 20, dtype=torch.long)
    regions[:, 2:4, 2:4] = 1  # 4 of 400 pixels
    tiny = regions == 1
    logits = torch.randn(4, 2, 20, 20, generator=torch.Generator().manual_seed(0))
    ce_share = gradient_share(torch.nn.CrossEntropyLoss(), logits, regions, tiny)
    cas_share = gradient_share(CASLoss(), logits, regions, tiny)
    assert 0.002 < ce_share < 0.03  # about the tiny region's 1 % of the pixels
    assert cas_share > 0.3  # about half: both regions weigh the same


def test_simplex_plots():
    corners = simplex_to_cartesian(torch.eye(3))
    assert torch.allclose(corners[1] - corners[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose((corners[2] - corners[0]).norm(), torch.tensor(1.0))
    tetra = simplex_to_cartesian(torch.eye(4))
    assert torch.allclose(torch.pdist(tetra), torch.ones(6), atol=1e-6)
    points = torch.softmax(torch.randn(30, 3), dim=1)
    ax = plot_simplex(
        points, labels=torch.arange(30) % 3, means=torch.eye(3), mean_labels=[0, 1, 2]
    )
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    palette = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    ax = plot_simplex(points, labels=torch.arange(30) % 3, palette=palette)
    assert tuple(ax.collections[0].get_facecolors()[1][:3]) == (0.0, 1.0, 0.0)
    ax3 = plot_simplex(torch.softmax(torch.randn(30, 4), dim=1), title="tetra")
    assert ax3.name == "3d" and ax3.get_title() == "tetra"
    shares, values = cas_two_region_landscape(0.5, steps=5)
    ax = plot_cas_landscape(shares, values, 0.5)
    assert "alpha = 0.50" in ax.get_title() and ax.get_xlabel()
    with pytest.raises(ValueError, match="M = 3"):
        plot_simplex(torch.rand(5, 5))


def test_corner_scores_and_a_cas_run():
    from cplus_edu.data import make_texture_mosaics
    from cplus_edu.experiments import corner_scores, train_cas_run

    data = make_texture_mosaics(8, 12, num_regions=(2, 3), num_textures=3, seed=0)
    pair = (data.images, data.regions)
    run = train_cas_run(1, pair, pair, (data.images[:2], data.regions[:2]), num_channels=3,
                        epochs=2, width=4, batch_size=4)  # fmt: skip
    assert run.seed == 1 and [s.epoch for s in run.snapshots] == [0, 1, 2]
    assert run.after == corner_scores(run.model, *pair)  # scored after training
    assert 1 / 3 <= run.before[0] <= 1 and 0 <= run.before[1] <= 1
    # one-hot outputs, region r on corner r: sparsity 1, every image on distinct corners
    assert corner_scores(OneHotModel(data.regions), *pair) == (1.0, 1.0)


def test_showing_every_texture_and_off_corner():
    from cplus_edu.experiments import off_corner, showing_every_texture

    textures = torch.tensor([[0, 1, -1], [1, 0, -1], [2, 0, 1], [3, 2, 1], [0, 1, 2]])
    assert showing_every_texture(textures, at_least=1) == 4  # texture 3 first shows in image 4
    assert showing_every_texture(textures[:3], at_least=1) == 3
    assert showing_every_texture(textures[:1], at_least=4) == 1  # no more images than given
    assert showing_every_texture(textures[:2], at_least=2) == 2
    with pytest.raises(ValueError, match="no texture"):
        showing_every_texture(torch.full((2, 2), -1))
    means = torch.tensor([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])
    assert off_corner(means).tolist() == [False, True, True]
    with pytest.raises(ValueError, match="threshold"):
        off_corner(means, threshold=0)


def test_simplex_legend_names_the_labels_drawn():
    points = torch.softmax(torch.randn(12, 4), dim=1)
    ax = plot_simplex(points, means=torch.eye(4)[:2], mean_labels=[2, 0],
                      label_names=["a", "b", "c", "d"])  # fmt: skip
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "c"]
