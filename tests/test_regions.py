"""Region scenes (mosaics, saliency scenes, region-wise label flips), grouping and the ARI."""

import itertools

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from cplus_edu.data import flip_region_labels, make_saliency_scenes, make_texture_mosaics
from cplus_edu.grouping import group_pixels
from cplus_edu.metrics import adjusted_rand_index, match_region_ids
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
    renamed = (mosaics.regions + 3) % 8
    fig = plot_region_maps(mosaics.images, [mosaics.regions, renamed], ["t", "p"], match_to=0)
    for i in range(4):  # the renamed prediction is drawn in the colours of the true regions
        drawn = fig.axes[2 * 4 + i].get_images()[0].get_array()
        assert (drawn == mosaics.regions[i].numpy() % 10).all()
    fig = plot_region_maps(mosaics.images, [mosaics.regions, renamed], ["t", "p"])
    assert not (fig.axes[2 * 4].get_images()[0].get_array() == mosaics.regions[0].numpy()).all()
    with pytest.raises(ValueError, match="match_to must index"):
        plot_region_maps(mosaics.images, [mosaics.regions], ["t"], match_to=1)


def _best_agreement_by_brute_force(pred: torch.Tensor, true: torch.Tensor, ignore: int) -> int:
    """Largest number of counted pixels where a one-to-one renaming of `pred` equals `true`,
    over every injective map of predicted ids to true ids (or to nothing)."""
    keep = true != ignore
    pred_ids = pred.unique().tolist()
    true_ids = true[keep].unique().tolist()
    overlap = {  # pixels of predicted id p and true id t, counted one by one
        (p, t): int(((pred == p) & (true == t) & keep).sum()) for p in pred_ids for t in true_ids
    }
    options = true_ids + [None] * len(pred_ids)  # None: left unmatched
    best = 0
    for choice in itertools.permutations(options, len(pred_ids)):
        score = sum(overlap[p, t] for p, t in zip(pred_ids, choice) if t is not None)
        best = max(best, score)
    return best


def _is_renaming(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if `b` is `a` with its ids renamed one-to-one (the same partition)."""
    pairs = torch.unique(torch.stack([a.flatten(), b.flatten()]), dim=1)
    return pairs[0].unique().numel() == pairs.shape[1] == pairs[1].unique().numel()


@pytest.mark.parametrize("seed", range(12))
def test_match_region_ids_is_the_best_renaming(seed):
    g = torch.Generator().manual_seed(seed)
    n_pred, n_true = torch.randint(1, 6, (2,), generator=g).tolist()  # up to 5 x 5 ids
    true = torch.randint(0, n_true, (2, 5, 6), generator=g) + 3 * seed  # ids need not start at 0
    pred = torch.randint(0, n_pred, (2, 5, 6), generator=g) * 7 - 4  # sparse, negative ids
    if seed % 3 == 0:  # some ignored pixels
        true[torch.rand(true.shape, generator=g) < 0.3] = -100
    matched = match_region_ids(pred, true)
    assert matched.shape == pred.shape and matched.dtype == pred.dtype
    for m, p, t in zip(matched, pred, true):
        keep = t != -100
        assert int(((m == t) & keep).sum()) == _best_agreement_by_brute_force(p, t, -100)
        assert _is_renaming(p, m)
        true_ids = set(t[keep].unique().tolist())
        leftover = set(m.unique().tolist()) - true_ids
        assert all(i > max(true_ids) for i in leftover)  # new ids never reuse a true one


def test_match_region_ids_undoes_a_permutation_and_leaves_extra_segments_apart():
    truth = make_texture_mosaics(n=3, size=16, num_regions=(3, 5), seed=0).regions
    shuffled = (truth * 5 + 2) % 11  # a one-to-one renaming of every id
    torch.testing.assert_close(match_region_ids(shuffled, truth), truth)
    single = match_region_ids(shuffled[0], truth[0])  # one image [H, W]
    torch.testing.assert_close(single, truth[0])
    split = truth.clone()
    split[:, :, :8] += 10  # regions across the middle are cut in two: more segments than regions
    matched = match_region_ids(split, truth)
    for m, s, t in zip(matched, split, truth):
        assert _is_renaming(s, m)
        assert int((m == t).sum()) >= t.numel() // 2  # each region keeps its larger part
        extra = s.unique().numel() - t.unique().numel()
        assert extra > 0
        assert (m.unique() > t.max()).sum() == extra  # the other parts got new ids


def test_match_region_ids_does_not_count_ignored_pixels():
    true = torch.tensor([[0, 0, 1, 1, -100, -100, -100, -100]])
    pred = torch.tensor([[5, 5, 6, 6, 6, 6, 6, 6]])
    # counted, 5 covers region 0 and 6 region 1; were the ignored pixels counted as a region of
    # their own, 6 would rather go there
    torch.testing.assert_close(match_region_ids(pred, true), torch.tensor([[0, 0, 1, 1] + [1] * 4]))
    pred = torch.tensor([[3, 3, 3, 3, 9, 9]])
    target = torch.tensor([[0, 0, 1, 1, -100, -100]])
    # 3 overlaps region 0 and region 1 equally; 9 is seen only on ignored pixels: a new id
    matched = match_region_ids(pred, target)
    assert matched[0, 0].item() in (0, 1) and matched[0, 4].item() == 2
    everything_ignored = match_region_ids(pred, torch.full_like(pred, 255), ignore_index=255)
    assert everything_ignored.tolist() == [[0, 0, 0, 0, 1, 1]]  # all new, in old-id order


def test_match_region_ids_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        match_region_ids(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        match_region_ids(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        match_region_ids(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
