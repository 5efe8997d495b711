"""Region metrics, property-style: every integer dtype, ids that collide with a wrapped
sentinel (-100 is 156 in uint8), many ids; the ARI against scikit-learn on int64 copies, the
renaming against a brute-force best agreement."""

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from cplus_edu.metrics import adjusted_rand_index, match_region_ids

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


def random_maps(dtype, seed, shape=(3, 6, 7)):
    """Prediction and target with ids from the whole range of ``dtype`` (156 and 255 included
    for uint8, negative ids for the signed ones) and a few ids per image."""
    g = torch.Generator().manual_seed(seed)
    info = torch.iinfo(dtype)
    special = torch.tensor([156, 155, 0, info.max, info.min], dtype=torch.long)
    special = special[(special >= info.min) & (special <= info.max)]
    pool = torch.cat([special, torch.randint(info.min, info.max, (3,), generator=g)])
    target = pool[torch.randint(0, len(pool), shape, generator=g)]
    noise = pool[torch.randint(0, len(pool), shape, generator=g)]
    prediction = torch.where(torch.rand(shape, generator=g) < 0.6, target, noise)
    return prediction.to(dtype), target.to(dtype)


def sklearn_ari(prediction, target, ignore_index):
    prediction, target = prediction.long(), target.long()
    keep = target != ignore_index
    return adjusted_rand_score(target[keep].numpy(), prediction[keep].numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(3))
def test_ari_of_any_integer_dtype_matches_sklearn_on_int64(dtype, seed):
    prediction, target = random_maps(dtype, seed)
    for ignore_index in (-100, 156, 0):
        ours = adjusted_rand_index(prediction, target, ignore_index=ignore_index)
        for i in range(len(target)):
            keep = target[i].long() != ignore_index
            if not keep.any():
                continue
            expected = sklearn_ari(prediction[i], target[i], ignore_index)
            assert ours[i].item() == pytest.approx(expected, abs=1e-12), (dtype, ignore_index)
        # the same maps in int64 give the same numbers
        torch.testing.assert_close(
            ours, adjusted_rand_index(prediction.long(), target.long(), ignore_index)
        )


def test_uint8_id_156_is_a_region_not_the_ignored_sentinel():
    target = torch.tensor([[0, 0, 156, 156]], dtype=torch.uint8)
    prediction = torch.tensor([[0, 0, 0, 0]], dtype=torch.uint8)
    # both ids count: prediction merges two true regions, ARI 0 (sklearn agrees)
    assert adjusted_rand_index(prediction, target).item() == pytest.approx(
        adjusted_rand_score([0, 0, 156, 156], [0, 0, 0, 0])
    )
    assert adjusted_rand_index(prediction, target).item() == 0.0
    matched = match_region_ids(torch.tensor([[7, 7, 156, 156]], dtype=torch.uint8), target)
    assert matched.tolist() == [[0, 0, 156, 156]] and matched.dtype == torch.uint8


def test_ari_cost_follows_the_distinct_ids_not_their_product():
    """65,536 distinct ids in both maps: a dense 65,536 x 65,536 table would be 34 GB."""
    g = torch.Generator().manual_seed(0)
    target = (torch.randperm(512 * 512, generator=g) % 65_536).view(512, 512)  # 4 pixels per id
    prediction = torch.where(torch.rand(512, 512, generator=g) < 0.7, target, target // 2)
    expected = adjusted_rand_score(target.flatten().numpy(), prediction.flatten().numpy())
    assert 0.3 < expected < 0.9  # a partial match: a number that can be wrong
    assert adjusted_rand_index(prediction, target).item() == pytest.approx(expected, abs=1e-12)
    huge = target.long() * 1_000_003 - 2**40  # ids far apart: cost does not follow their span
    assert adjusted_rand_index(prediction.long() * 7 + 2**50, huge).item() == pytest.approx(
        expected, abs=1e-12
    )


def best_agreement(pred, true, ignore_index):
    """Brute force over every one-to-one renaming of the (few) predicted ids."""
    import itertools

    keep = true != ignore_index
    pred_ids, true_ids = pred.unique().tolist(), true[keep].unique().tolist()
    overlap = {(p, t): int(((pred == p) & (true == t) & keep).sum())
               for p in pred_ids for t in true_ids}  # fmt: skip
    options = true_ids + [None] * len(pred_ids)
    return max(sum(overlap[p, t] for p, t in zip(pred_ids, choice) if t is not None)
               for choice in itertools.permutations(options, len(pred_ids)))  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_match_region_ids_of_any_integer_dtype(dtype):
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        prediction, target = random_maps(dtype, seed, shape=(2, 4, 5))
        pred_ids = prediction.unique()[:4]  # at most 4 ids: brute force stays cheap
        prediction = pred_ids[torch.randint(0, len(pred_ids), prediction.shape, generator=g)]
        ignore_index = 156 if dtype in (torch.uint8, torch.int16) else -100
        try:
            matched = match_region_ids(prediction, target, ignore_index=ignore_index)
        except ValueError as error:  # refusal only when a new id does not fit the dtype
            assert "beyond the" in str(error)
            wide = match_region_ids(prediction.long(), target.long(), ignore_index)
            info = torch.iinfo(dtype)
            assert wide.min() < info.min or wide.max() > info.max
            continue
        assert matched.dtype == dtype
        wide = match_region_ids(prediction.long(), target.long(), ignore_index)
        assert torch.equal(matched.long(), wide)  # the same answer as in int64
        for m, p, t in zip(matched.long(), prediction.long(), target.long()):
            keep = t != ignore_index
            assert int(((m == t) & keep).sum()) == best_agreement(p, t, ignore_index)


def test_match_region_ids_refuses_a_new_id_that_does_not_fit():
    target = torch.tensor([[0, 255, 255]], dtype=torch.uint8)
    prediction = torch.tensor([[1, 2, 3]], dtype=torch.uint8)  # one left over: new id 256
    with pytest.raises(ValueError, match="uint8 of prediction"):
        match_region_ids(prediction, target)
    assert match_region_ids(prediction.long(), target.long()).tolist() == [[0, 255, 256]]


def test_region_maps_bad_input():
    maps = torch.zeros(2, 3, dtype=torch.long)
    for fn in (adjusted_rand_index, match_region_ids):
        with pytest.raises(TypeError, match="prediction"):
            fn(maps.tolist(), maps)
        with pytest.raises(TypeError, match="integer"):
            fn(maps.to(torch.complex64), maps)
    with pytest.raises(ValueError, match="empty"):
        adjusted_rand_index(torch.zeros(0, 3, 3, dtype=torch.long), torch.zeros(0, 3, 3).long())
