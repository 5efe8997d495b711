"""Discriminative loss (De Brabandere et al. 2017): against a slow loop, known zeros, gradients."""

import pytest
import torch

from cplus_edu.losses import DiscriminativeLoss

IGNORE = -100


def loop_discriminative(x, regions, delta_v=0.5, delta_d=1.5, alpha=1.0, beta=1.0, gamma=0.001):
    """Eqs. (1)-(4) the slow, obvious way: loops over images, regions and pairs of regions."""
    per_image = []
    for b in range(x.shape[0]):
        ids = [i for i in regions[b].unique().tolist() if i != IGNORE]
        if not ids:
            continue
        means = [x[b][:, regions[b] == i].mean(dim=1) for i in ids]
        variance = x.new_zeros(())
        for i, mean in zip(ids, means):
            pixels = x[b][:, regions[b] == i]  # [D, N_c]
            distances = (pixels - mean[:, None]).norm(dim=0)
            variance = variance + (distances - delta_v).clamp_min(0).square().mean()
        variance = variance / len(ids)
        distance = x.new_zeros(())
        for a in range(len(means)):
            for c in range(len(means)):
                if a != c:
                    gap = (means[a] - means[c]).norm()
                    distance = distance + (2 * delta_d - gap).clamp_min(0).square()
        if len(ids) > 1:
            distance = distance / (len(ids) * (len(ids) - 1))
        regularizer = torch.stack([m.norm() for m in means]).mean()
        per_image.append(alpha * variance + beta * distance + gamma * regularizer)
    return torch.stack(per_image).mean()


def random_case(seed, batch=3, dim=3, height=5, width=6, num_ids=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, dim, height, width, generator=g, dtype=torch.float64)
    regions = torch.randint(0, num_ids, (batch, height, width), generator=g)
    return x, regions


@pytest.mark.parametrize("seed", range(3))
def test_matches_loop(seed):
    x, regions = random_case(seed)
    regions[0, 0] = IGNORE
    regions[1] += 40
    regions[2] = torch.zeros_like(regions[2])  # one region: no pairs
    kwargs = dict(delta_v=0.3, delta_d=0.8, alpha=1.0, beta=0.7, gamma=0.01)
    got = DiscriminativeLoss(**kwargs)(x, regions)
    torch.testing.assert_close(got, loop_discriminative(x, regions, **kwargs))


def test_gradient_matches_loop_and_gradcheck():
    x, regions = random_case(3, batch=2, height=3, width=4, num_ids=3)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    DiscriminativeLoss(delta_v=0.2, delta_d=1.0)(a, regions).backward()
    loop_discriminative(b, regions, delta_v=0.2, delta_d=1.0).backward()
    torch.testing.assert_close(a.grad, b.grad)
    x.requires_grad_()
    loss = DiscriminativeLoss(delta_v=0.2, delta_d=1.0)
    assert torch.autograd.gradcheck(lambda e: loss(e, regions), (x,))


def test_tight_far_apart_clusters_cost_only_the_regulariser():
    regions = torch.tensor([[[0, 0, 1, 1], [2, 2, 1, 1]]])
    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])  # > 2 * delta_d apart
    x = centres[regions].permute(0, 3, 1, 2) + 0.1  # within delta_v of the means
    loss = DiscriminativeLoss(delta_v=0.5, delta_d=1.5, gamma=0.0)
    assert loss(x, regions).item() == 0.0
    loss = DiscriminativeLoss()
    expected = 0.001 * (centres + 0.1).norm(dim=1).mean()
    torch.testing.assert_close(loss(x, regions), expected)
    assert loss.terms["variance"] == 0 and loss.terms["distance"] == 0


def test_invariant_to_relabelling_and_ignores_ignored_pixels():
    x, regions = random_case(4)
    loss = DiscriminativeLoss()
    relabelled = torch.tensor([7, -3, 12, 0])[regions]
    torch.testing.assert_close(loss(x, relabelled), loss(x, regions))
    regions[:, 0] = IGNORE
    changed = x.clone()
    changed[:, :, 0] = 100.0
    torch.testing.assert_close(loss(changed, regions), loss(x, regions))


def test_rejects_bad_input():
    x, regions = random_case(5)
    with pytest.raises(ValueError, match="embeddings must have shape"):
        DiscriminativeLoss()(x[0], regions)
    with pytest.raises(TypeError, match="regions must be an integer"):
        DiscriminativeLoss()(x, regions.double())
    with pytest.raises(ValueError, match="delta_v"):
        DiscriminativeLoss(delta_v=-1)
    with pytest.raises(ValueError, match="gamma"):
        DiscriminativeLoss(gamma=float("nan"))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="embeddings contains NaN or Inf"):
        DiscriminativeLoss()(bad, regions)
