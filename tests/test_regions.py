"""Region scenes (mosaics, saliency scenes, region-wise label flips), grouping and the ARI."""

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from cplus_edu.data import flip_region_labels, make_saliency_scenes, make_texture_mosaics
from cplus_edu.grouping import group_pixels
from cplus_edu.metrics import adjusted_rand_index
from cplus_edu.viz import plot_region_maps


def test_mosaics_have_the_asked_number_of_distinct_textured_cells():
    mosaics = make_texture_mosaics(n=40, size=24, num_regions=(2, 5), seed=1)
    assert mosaics.images.shape == (40, 3, 24, 24) and mosaics.regions.shape == (40, 24, 24)
    assert 0 <= mosaics.images.min() and mosaics.images.max() <= 1
    counts = mosaics.num_regions
    assert counts.min() >= 1 and counts.max() <= 5 and len(counts.unique()) >= 3
    for i in range(40):
        ids = mosaics.regions[i].unique()
        assert torch.equal(ids, torch.arange(int(counts[i])))  # cells numbered 0..k-1, none empty
        textures = mosaics.textures[i][: int(counts[i])]
        assert len(textures.unique()) == len(textures)  # one texture per cell, all different
    again = make_texture_mosaics(n=40, size=24, num_regions=(2, 5), seed=1)
    assert torch.equal(again.images, mosaics.images)
    assert not torch.equal(make_texture_mosaics(n=40, size=24, seed=2).images, mosaics.images)


def test_saliency_scenes_object_size_follows_the_radius():
    big = make_saliency_scenes(n=50, size=32, object_radius=(5, 10), seed=0)
    tiny = make_saliency_scenes(n=50, size=32, object_radius=(1.5, 2.5), seed=0)
    assert big.images.shape == (50, 3, 32, 32) and set(big.mask.unique().tolist()) == {0, 1}
    big_share, tiny_share = big.mask.float().mean(), tiny.mask.float().mean()
    assert 0.05 < big_share < 0.35 and 0.003 < tiny_share < 0.03
    assert (tiny.mask.sum(dim=(1, 2)) > 0).all()  # every scene has its object


def test_region_flips_are_whole_regions_at_rate_p():
    scenes = make_saliency_scenes(n=400, size=16, seed=3)
    mask = scenes.mask
    assert torch.equal(flip_region_labels(mask, mask, 0.0), mask)
    assert torch.equal(flip_region_labels(mask, mask, 1.0), 1 - mask)
    noisy = flip_region_labels(mask, mask, 0.25, seed=1)
    flipped = noisy != mask
    for region in (0, 1):  # within a region, all pixels flip together or none does
        inside = mask == region
        per_image = (flipped & inside).sum(dim=(1, 2))
        assert ((per_image == 0) | (per_image == inside.sum(dim=(1, 2)))).all()
        rate = (per_image > 0).float().mean()
        assert 0.18 < rate < 0.32
    both = (flipped & (mask == 0)).any(dim=(1, 2)) & (flipped & (mask == 1)).any(dim=(1, 2))
    assert 0.02 < both.float().mean() < 0.11  # independent coins: about 0.25 ** 2 = 0.0625


def test_bad_input():
    with pytest.raises(ValueError, match="num_regions"):
        make_texture_mosaics(num_regions=(2, 12))
    with pytest.raises(ValueError, match="object_radius"):
        make_saliency_scenes(object_radius=(3, 1))
    with pytest.raises(ValueError, match="n must be a positive int"):
        make_saliency_scenes(n=0)
    mask = torch.zeros(2, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="p must lie"):
        flip_region_labels(mask, mask, 1.5)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        flip_region_labels(mask + 2, mask, 0.5)
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        flip_region_labels(mask, mask[0], 0.5)


@pytest.mark.parametrize("seed", range(4))
def test_adjusted_rand_index_matches_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 4, (5, 7, 9), generator=g) * 10 - 3
    prediction = torch.where(
        torch.rand(5, 7, 9, generator=g) < 0.7, target, torch.randint(0, 6, (5, 7, 9), generator=g)
    )
    target[0, 0] = -100  # ignored pixels
    ours = adjusted_rand_index(prediction, target)
    for i in range(5):
        keep = target[i] != -100
        expected = adjusted_rand_score(target[i][keep].numpy(), prediction[i][keep].numpy())
        assert ours[i].item() == pytest.approx(expected, abs=1e-12)


def test_adjusted_rand_index_special_cases_match_sklearn():
    cases = [
        (torch.zeros(3, 3), torch.zeros(3, 3)),  # one region each
        (torch.arange(9).view(3, 3), torch.arange(9).view(3, 3) + 5),  # one region per pixel
        (torch.zeros(3, 3), torch.arange(9).view(3, 3)),
        (torch.tensor([[4]]), torch.tensor([[1]])),  # one pixel
        (torch.tensor([[0, 0, 1, 1]]), torch.tensor([[7, 7, 3, 3]])),  # renamed ids
    ]
    for prediction, target in cases:
        prediction, target = prediction.long(), target.long()
        expected = adjusted_rand_score(target.flatten().numpy(), prediction.flatten().numpy())
        assert adjusted_rand_index(prediction, target).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="same shape"):
        adjusted_rand_index(
            torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long)
        )
    with pytest.raises(TypeError, match="integer"):
        adjusted_rand_index(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))


def test_grouping_recovers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    truth = make_texture_mosaics(n=3, size=12, seed=0).regions
    centres = torch.randn(8, 4, generator=g) * 3
    descriptors = centres[truth].permute(0, 3, 1, 2) + 0.05 * torch.randn(3, 4, 12, 12, generator=g)
    grouped = group_pixels(descriptors, bandwidth=1.0)
    assert (adjusted_rand_index(grouped, truth) > 0.999).all()
    one = group_pixels(descriptors, bandwidth=100.0)  # everything within one bandwidth
    assert (one == 0).all()
    capped = group_pixels(descriptors, bandwidth=1.0, max_regions=1)
    assert (capped == 0).all()
    with pytest.raises(ValueError, match="bandwidth"):
        group_pixels(descriptors, bandwidth=0.0)


def test_plot_region_maps():
    import matplotlib

    matplotlib.use("Agg")
    mosaics = make_texture_mosaics(n=4, size=16, seed=0)
    fig = plot_region_maps(mosaics.images, [mosaics.regions], ["cells"], count=3, title="t")
    assert len(fig.axes) == 6 and fig._suptitle.get_text() == "t"
    assert fig.axes[3].get_title() == "cells"
    with pytest.raises(ValueError, match="row_names"):
        plot_region_maps(mosaics.images, [mosaics.regions], [])
