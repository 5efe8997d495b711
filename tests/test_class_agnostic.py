"""CAS loss and class-agnostic CE: against slow loops, invariances, bounds, gradients, bad input."""

import pytest
import torch
import torch.nn.functional as F

import cplus_edu.losses.segments as segments
from cplus_edu.losses import CASLoss, ClassAgnosticCELoss, DiscriminativeLoss
from cplus_edu.losses.class_agnostic import cas_bounds
from cplus_edu.losses.segments import RegionBins

IGNORE = -100


def loop_cas(outputs, regions, alpha=0.5, ignore_index=IGNORE, from_logits=True):
    """Eq. (1) written the slow, obvious way: loop over images, regions and ordered pairs."""
    s = outputs.softmax(dim=1) if from_logits else outputs
    per_image = []
    for b in range(outputs.shape[0]):
        ids = [i for i in regions[b].unique().tolist() if i != ignore_index]
        means, uniformer = [], outputs.new_zeros(())
        for i in ids:
            pixels = s[b][:, regions[b] == i]  # [M, |r_i|]
            mean = pixels.mean(dim=1)
            means.append(mean)
            uniformer = uniformer + ((pixels - mean[:, None]) ** 2).sum(dim=0).mean()
        discriminator = outputs.new_zeros(())
        for i in range(len(means)):
            for j in range(len(means)):
                if i != j:
                    discriminator = discriminator + ((means[i] - means[j]) ** 2).sum()
        if ids:
            per_image.append(alpha * uniformer - (1 - alpha) * discriminator)
    return torch.stack(per_image).mean() if per_image else outputs.new_zeros(())


def random_case(seed, batch=3, channels=4, height=6, width=7, num_ids=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    outputs = torch.randn(batch, channels, height, width, generator=g, dtype=dtype) * 2
    regions = torch.randint(0, num_ids, (batch, height, width), generator=g)
    return outputs, regions


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_cas_matches_loop(seed, alpha):
    outputs, regions = random_case(seed)
    regions[0, :2] = IGNORE  # ignored pixels
    regions[1] += 7  # ids differ between images
    regions[2] = regions[2] * 3 - 4  # negative, sparse ids
    got = CASLoss(alpha=alpha)(outputs, regions)
    torch.testing.assert_close(got, loop_cas(outputs, regions, alpha), rtol=1e-10, atol=1e-12)


def test_cas_matches_loop_with_huge_ids():
    outputs, regions = random_case(5)
    regions = regions * 10**12 + 3  # ids spanning more bins than pixels: compacted first
    got = CASLoss()(outputs, regions)
    torch.testing.assert_close(got, loop_cas(outputs, regions), rtol=1e-10, atol=1e-12)


def test_cas_matches_loop_on_probabilities():
    outputs, regions = random_case(6)
    probabilities = outputs.softmax(dim=1)
    got = CASLoss(from_logits=False)(probabilities, regions)
    torch.testing.assert_close(got, loop_cas(outputs, regions), rtol=1e-10, atol=1e-12)


def test_cas_gradient_matches_loop():
    outputs, regions = random_case(7)
    a = outputs.clone().requires_grad_()
    b = outputs.clone().requires_grad_()
    CASLoss()(a, regions).backward()
    loop_cas(b, regions).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-12)


def test_cas_invariant_to_relabelling_region_ids():
    outputs, regions = random_case(8)
    permutation = torch.tensor([3, 0, 4, 1, 2])
    relabelled = permutation[regions] * 11 + 1000
    loss = CASLoss()
    torch.testing.assert_close(loss(outputs, relabelled), loss(outputs, regions))


def test_cas_one_region_is_alpha_times_variance():
    outputs, _ = random_case(9)
    regions = torch.zeros(outputs.shape[0], *outputs.shape[2:], dtype=torch.long)
    loss = CASLoss(alpha=0.4)
    value = loss(outputs, regions)
    s = outputs.softmax(dim=1).flatten(2)  # [B, M, P]
    variance = (s - s.mean(dim=2, keepdim=True)).square().sum(dim=1).mean(dim=1)  # [B]
    torch.testing.assert_close(value, 0.4 * variance.mean())
    assert loss.terms["discriminator"].abs() < 1e-12
    assert loss.terms["regions"] == 1


def test_cas_ignored_pixels_do_not_count():
    outputs, regions = random_case(10)
    regions[:, :, :3] = IGNORE
    changed = outputs.clone()
    changed[:, :, :, :3] = torch.randn_like(changed[:, :, :, :3]) * 5
    changed.requires_grad_()
    loss = CASLoss()
    value = loss(changed, regions)
    torch.testing.assert_close(value, loss(outputs, regions))
    value.backward()
    assert changed.grad[:, :, :, :3].abs().max() == 0
    assert changed.grad[:, :, :, 3:].abs().max() > 0


def test_cas_all_pixels_ignored_is_zero_with_zero_gradient():
    outputs, regions = random_case(11)
    outputs.requires_grad_()
    value = CASLoss()(outputs, torch.full_like(regions, IGNORE))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(outputs.grad, torch.zeros_like(outputs))


def test_cas_mean_skips_images_without_regions():
    outputs, regions = random_case(12)
    regions[1] = IGNORE
    per_image = CASLoss(reduction="none")(outputs, regions)
    assert per_image[1] == 0
    torch.testing.assert_close(CASLoss()(outputs, regions), per_image[[0, 2]].mean())
    torch.testing.assert_close(CASLoss(reduction="sum")(outputs, regions), per_image.sum())


def test_cas_terms_combine_into_the_loss():
    outputs, regions = random_case(13)
    loss = CASLoss(alpha=0.3)
    value = loss(outputs, regions)
    terms = loss.terms
    torch.testing.assert_close(value, 0.3 * terms["uniformer"] - 0.7 * terms["discriminator"])
    assert not terms["uniformer"].requires_grad


def test_cas_gradcheck():
    outputs, regions = random_case(14, batch=2, channels=3, height=4, width=5, num_ids=3)
    regions[0, 0] = IGNORE
    outputs.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: CASLoss(alpha=0.3)(x, regions), (outputs,))


@pytest.mark.parametrize("num_regions,num_channels", [(1, 2), (2, 2), (3, 3), (5, 3), (4, 21)])
def test_cas_stays_within_bounds_and_perfect_segmentation_attains_the_lower(
    num_regions, num_channels
):
    alpha = 0.5
    lower, upper = cas_bounds(num_regions, num_channels, alpha)
    g = torch.Generator().manual_seed(num_regions * 100 + num_channels)
    regions = torch.arange(num_regions).repeat_interleave(6).view(1, 1, -1)  # [1, 1, 6N]
    regions = regions.expand(64, 1, -1).contiguous()
    loss = CASLoss(alpha=alpha, reduction="none")
    # random softmax outputs, from near-uniform to near-one-hot
    logits = torch.randn(64, num_channels, 1, regions.shape[-1], generator=g, dtype=torch.float64)
    logits = logits * torch.logspace(-1, 2, 64, dtype=torch.float64).view(-1, 1, 1, 1)
    values = loss(logits, regions)
    assert values.min() >= lower - 1e-9 and values.max() <= upper + 1e-9
    # a perfect, sparse segmentation: region i constant on corner i mod M
    corners = F.one_hot(torch.arange(num_regions) % num_channels, num_channels).double()
    perfect = corners[regions[:1, 0]].permute(0, 2, 1).unsqueeze(2)  # [1, M, 1, 6N]
    best = CASLoss(alpha=alpha, from_logits=False)(perfect, regions[:1])
    assert abs(best.item() - lower) < 1e-9
    # the upper bound: every region's mean at the simplex centre, its pixels on the corners
    spread = F.one_hot(torch.arange(regions.shape[-1]) % num_channels, num_channels).double()
    spread = spread.T.reshape(1, num_channels, 1, -1)
    if regions.shape[-1] // num_regions % num_channels == 0:
        worst = CASLoss(alpha=alpha, from_logits=False)(spread, regions[:1])
        assert abs(worst.item() - upper) < 1e-9


def test_the_papers_lower_bound_fails_for_two_regions():
    """Section 3.3 says CAS >= -(1 - alpha) N; a perfect two-region segmentation scores twice that
    for N = 2 (each ordered pair contributes ||e_0 - e_1||^2 = 2)."""
    alpha, n = 0.5, 2
    regions = torch.tensor([[[0, 0, 1, 1]]])
    perfect = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]]]])
    value = CASLoss(alpha=alpha, from_logits=False)(perfect, regions).item()
    assert value == pytest.approx(-(1 - alpha) * 2 * n * (n - 1))
    assert value < -(1 - alpha) * n


def test_cas_bounds_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_regions"):
        cas_bounds(0, 3)


LONG = torch.long


@pytest.mark.parametrize(
    "outputs,regions,error,match",
    [
        (torch.randn(2, 3, 4), torch.zeros(2, 3, 4, dtype=LONG), ValueError, "B, M, H, W"),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4), TypeError, "regions must be an integer"),
        (torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=LONG), ValueError, "shape"),
        (
            torch.randint(0, 2, (2, 3, 4, 4)),
            torch.zeros(2, 4, 4, dtype=LONG),
            TypeError,
            "floating",
        ),
        (torch.randn(0, 3, 4, 4), torch.zeros(0, 4, 4, dtype=LONG), ValueError, "empty"),
        (torch.randn(2, 3, 4, 4), [[0]], TypeError, "regions must be a torch.Tensor"),
    ],
)
def test_cas_rejects_bad_input(outputs, regions, error, match):
    with pytest.raises(error, match=match):
        CASLoss()(outputs, regions)


def test_cas_rejects_nan_and_bad_settings():
    outputs, regions = random_case(15)
    outputs[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="outputs contains NaN or Inf"):
        CASLoss()(outputs, regions)
    with pytest.raises(ValueError, match="alpha"):
        CASLoss(alpha=1.5)
    with pytest.raises(ValueError, match="reduction"):
        CASLoss(reduction="max")


# ------------------------------------------- region bins: dense one-hot path vs scatter path

PATHS = {"dense": 2**62, "scatter": -1}  # DENSE_MAX_BINS forcing each path


def region_case(name, seed=20):
    """Region maps that exercise the bins: `(regions, ignore_index)`, `[3, 6, 7]`."""
    g = torch.Generator().manual_seed(seed)
    regions = torch.randint(0, 4, (3, 6, 7), generator=g)
    if name == "ignored pixels":
        regions[0, :2] = IGNORE
        regions[2, :, :3] = IGNORE
    elif name == "absent ids":  # ids 0, 5, 9 only: bins 1-4 and 6-8 stay empty
        regions = torch.tensor([0, 5, 9])[regions % 3]
        regions[1] = 5  # image 1 holds a single one of them
    elif name == "huge ids":  # more bins than pixels: compacted first
        regions = regions * 10**12 - 7
        regions[0, 0] = IGNORE
    elif name == "single region":
        regions = torch.full_like(regions, 3)
    elif name == "all ignored in one image":
        regions[1] = IGNORE
    elif name == "ignore_index between ids":
        return regions * 2, 2  # ids 0, 4, 6 and ignored pixels (id 2) between them
    return regions, IGNORE


REGION_CASES = [
    "ignored pixels",
    "absent ids",
    "huge ids",
    "single region",
    "all ignored in one image",
    "ignore_index between ids",
]


def loop_region_sums(values, regions, ignore_index):
    """`{(image, id): sum of values [M] over the region}` by boolean masks."""
    sums = {}
    for b in range(regions.shape[0]):
        for i in regions[b].unique().tolist():
            if i != ignore_index:
                sums[b, i] = values[b][:, regions[b].flatten() == i].sum(dim=1)
    return sums


@pytest.mark.parametrize("case", REGION_CASES)
def test_region_bins_dense_and_scatter_agree_with_a_loop(case):
    regions, ignore = region_case(case)
    g = torch.Generator().manual_seed(1)
    values = torch.randn(3, 2, regions[0].numel(), generator=g, dtype=torch.float64)
    dense = RegionBins(regions, ignore, dense=True)
    scatter = RegionBins(regions, ignore, dense=False)
    assert dense.dense and not scatter.dense
    for name in ("count", "present", "num_regions", "ids", "index"):
        assert torch.equal(getattr(dense, name), getattr(scatter, name)), name
    expected = loop_region_sums(values, regions, ignore)
    assert int(dense.present.sum()) == len(expected)
    for bins in (dense, scatter):
        sums, means = bins.sum(values), bins.mean(values)  # [B, M, K]
        for (b, i), total in expected.items():
            k = int((bins.ids == i).nonzero())
            torch.testing.assert_close(sums[b, :, k], total)
            torch.testing.assert_close(means[b, :, k], total / bins.count[b, k])
        assert (sums.masked_select(~bins.present.unsqueeze(1)) == 0).all()
    per_region = torch.randn(3, 2, dense.num_bins, generator=g, dtype=torch.float64)
    spread = dense.broadcast(per_region)
    torch.testing.assert_close(spread, scatter.broadcast(per_region), rtol=0, atol=0)
    flat = regions.reshape(3, -1)
    for b in range(3):
        for p in range(flat.shape[1]):
            if flat[b, p] == ignore:
                assert spread[b, :, p].abs().max() == 0
            else:
                k = int((dense.ids == flat[b, p]).nonzero())
                assert torch.equal(spread[b, :, p], per_region[b, :, k])


@pytest.mark.parametrize("case", REGION_CASES)
def test_region_bins_gradients_agree_between_paths(case):
    regions, ignore = region_case(case, seed=21)
    g = torch.Generator().manual_seed(2)
    values = torch.randn(3, 2, regions[0].numel(), generator=g, dtype=torch.float64)
    bins = {name: RegionBins(regions, ignore, dense=name == "dense") for name in PATHS}
    per_region = torch.randn(3, 2, bins["dense"].num_bins, generator=g, dtype=torch.float64)
    weights = torch.randn(3, 2, bins["dense"].num_bins, generator=g, dtype=torch.float64)
    grads = {}
    for name, b in bins.items():
        x, r = values.clone().requires_grad_(), per_region.clone().requires_grad_()
        ((b.sum(x) * weights).sum() + (b.broadcast(r) * values).sum()).backward()
        grads[name] = (x.grad, r.grad)
    for dense_grad, scatter_grad in zip(grads["dense"], grads["scatter"]):
        torch.testing.assert_close(dense_grad, scatter_grad)


def test_region_bins_default_path_follows_the_threshold():
    binary = torch.randint(0, 2, (2, 8, 8))
    assert RegionBins(binary).dense  # K = 2: the one-hot product
    many = torch.arange(64).view(1, 8, 8) % (segments.DENSE_MAX_BINS + 1)
    assert not RegionBins(many).dense  # K = DENSE_MAX_BINS + 1: the scatter
    assert RegionBins(many, dense=True).dense


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", REGION_CASES)
def test_cas_each_path_matches_loop_in_value_and_gradient(monkeypatch, path, case):
    monkeypatch.setattr(segments, "DENSE_MAX_BINS", PATHS[path])
    regions, ignore = region_case(case, seed=22)
    g = torch.Generator().manual_seed(3)
    outputs = torch.randn(3, 3, *regions.shape[1:], generator=g, dtype=torch.float64) * 2
    a, b = outputs.clone().requires_grad_(), outputs.clone().requires_grad_()
    got = CASLoss(alpha=0.3, ignore_index=ignore)(a, regions)
    expected = loop_cas(b, regions, alpha=0.3, ignore_index=ignore)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    got.backward()
    expected.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-12)
    ignored = (regions == ignore).unsqueeze(1).expand_as(a)
    assert (a.grad[ignored] == 0).all()


@pytest.mark.parametrize("path", PATHS)
def test_cas_gradcheck_on_each_path(monkeypatch, path):
    monkeypatch.setattr(segments, "DENSE_MAX_BINS", PATHS[path])
    outputs, regions = random_case(23, batch=2, channels=3, height=3, width=4, num_ids=3)
    regions[0, 0] = IGNORE
    regions[1] = regions[1] * 4  # absent ids between the present ones
    outputs.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: CASLoss(alpha=0.3)(x, regions), (outputs,))


@pytest.mark.parametrize("case", ["ignored pixels", "absent ids", "huge ids"])
def test_region_losses_agree_between_paths(monkeypatch, case):
    regions, ignore = region_case(case, seed=24)
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 2, *regions.shape[1:], generator=g, dtype=torch.float64)
    target = torch.randint(0, 2, regions.shape, generator=g)
    values = {}
    for path, threshold in PATHS.items():
        monkeypatch.setattr(segments, "DENSE_MAX_BINS", threshold)
        values[path] = (
            ClassAgnosticCELoss(ignore_index=ignore)(logits, target, regions),
            DiscriminativeLoss(ignore_index=ignore)(logits, regions),
            CASLoss(ignore_index=ignore, reduction="none")(logits, regions),
        )
    for dense, scatter in zip(values["dense"], values["scatter"]):
        torch.testing.assert_close(dense, scatter, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- class-agnostic cross-entropy


def loop_cace(logits, target, regions, ignore_index=IGNORE):
    """Per image, per region: min(CE with the labels, CE with flipped labels), summed, / pixels
    (a pixel counts if it has a label and a region)."""
    log_p = logits.log_softmax(dim=1)
    total, pixels = logits.new_zeros(()), 0
    for b in range(logits.shape[0]):
        valid = (target[b] != ignore_index) & (regions[b] != ignore_index)
        for i in regions[b][valid].unique().tolist():
            mask = valid & (regions[b] == i)
            y = target[b][mask]
            lp = log_p[b][:, mask]  # [2, n]
            kept = -lp[y, torch.arange(len(y))].sum()
            flipped = -lp[1 - y, torch.arange(len(y))].sum()
            total = total + torch.minimum(kept, flipped)
        pixels += int(valid.sum())
    return total / max(pixels, 1)


@pytest.mark.parametrize("seed", range(3))
def test_cace_matches_loop(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 2, 5, 6, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, 2, (3, 5, 6), generator=g)
    regions = torch.randint(0, 4, (3, 5, 6), generator=g)
    target[0, 0] = IGNORE
    regions[1, 1] = IGNORE  # labelled pixels in no region: ignored too
    got = ClassAgnosticCELoss()(logits, target, regions)
    torch.testing.assert_close(got, loop_cace(logits, target, regions))
    whole_images = torch.zeros_like(regions)
    got = ClassAgnosticCELoss()(logits, target)
    torch.testing.assert_close(got, loop_cace(logits, target, whole_images))


def test_cace_equals_ce_when_labels_fit_and_ignores_region_flips():
    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 2, (2, 5, 6), generator=g)
    logits = F.one_hot(target, 2).permute(0, 3, 1, 2).double() * 4 + 0.1 * torch.randn(
        2, 2, 5, 6, generator=g, dtype=torch.float64
    )
    regions = torch.randint(0, 3, (2, 5, 6), generator=g)
    loss = ClassAgnosticCELoss()
    torch.testing.assert_close(loss(logits, target, regions), F.cross_entropy(logits, target))
    flip = (regions == 1) & (target >= 0)  # flip the labels of region 1 as a whole
    flipped = torch.where(flip, 1 - target, target)
    torch.testing.assert_close(loss(logits, flipped, regions), loss(logits, target, regions))
    assert F.cross_entropy(logits, flipped) > 2 * F.cross_entropy(logits, target)


def test_cace_gradcheck_and_ignore():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 2, (2, 3, 4), generator=g)
    target[1, 0] = IGNORE
    regions = torch.randint(0, 2, (2, 3, 4), generator=g)
    loss = ClassAgnosticCELoss()
    assert torch.autograd.gradcheck(lambda x: loss(x, target, regions), (logits,))
    loss(logits, target, regions).backward()
    assert logits.grad[1, :, 0].abs().max() == 0


def test_cace_rejects_bad_input():
    logits = torch.randn(2, 2, 3, 4)
    target = torch.zeros(2, 3, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="2 channels"):
        ClassAgnosticCELoss()(torch.randn(2, 3, 3, 4), target)
    with pytest.raises(ValueError, match="target values must be 0, 1"):
        ClassAgnosticCELoss()(logits, target + 2)
    with pytest.raises(TypeError, match="target must be an integer"):
        ClassAgnosticCELoss()(logits, target.float())
    with pytest.raises(ValueError, match="regions must have shape"):
        ClassAgnosticCELoss()(logits, target, torch.zeros(2, 3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        ClassAgnosticCELoss(reduction="none")
