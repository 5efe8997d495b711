"""Margin heads: against a slow per-sample loop, against pytorch-metric-learning, and bad input."""

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml

from cplus_edu import MLP, fit
from cplus_edu.losses import (
    ArcFaceLoss,
    CosFaceLoss,
    MarginModel,
    NormFaceLoss,
    SphereFaceLoss,
)

K, D, N = 7, 5, 24


def _data(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, D, generator=g, dtype=dtype), torch.randint(0, K, (N,), generator=g)


def _psi_loop(name, theta, m):
    """The papers' target logit for one angle, written out."""
    if name == "normface":
        return math.cos(theta)
    if name == "cosface":
        return math.cos(theta) - m
    if name == "arcface":
        return math.cos(theta + m) if theta <= math.pi - m else math.cos(theta) - m * math.sin(m)
    k = int(theta // (math.pi / m))
    return (-1) ** k * math.cos(m * theta) - 2 * k


HEADS = {
    "normface": (NormFaceLoss, {"scale": 10.0}),
    "cosface": (CosFaceLoss, {"margin": 0.35, "scale": 8.0}),
    "arcface": (ArcFaceLoss, {"margin": 0.5, "scale": 8.0}),
    "sphereface": (SphereFaceLoss, {"margin": 4, "scale": 1.0}),
}


@pytest.mark.parametrize("name", HEADS)
def test_matches_slow_loop(name):
    cls, kwargs = HEADS[name]
    head = cls(K, D, **kwargs).double()
    x, y = _data(torch.float64)
    total = 0.0
    for i in range(N):
        xi = x[i].tolist()
        norm_x = math.sqrt(sum(v * v for v in xi))
        logits = []
        for j in range(K):
            w = head.weight[j].tolist()
            norm_w = math.sqrt(sum(v * v for v in w))
            cos = sum(a * b for a, b in zip(xi, w)) / (norm_x * norm_w)
            z = _psi_loop(name, math.acos(cos), head.margin) if j == y[i] else cos
            logits.append(z * head.scale * (norm_x if name == "sphereface" else 1.0))
        top = max(logits)
        total += -(logits[y[i]] - top - math.log(sum(math.exp(z - top) for z in logits)))
    assert head(x, y).item() == pytest.approx(total / N, rel=1e-10)


def _pml_twin(name, head):
    if name == "normface":
        loss = pml.NormalizedSoftmaxLoss(K, D, temperature=1.0 / head.scale)
    elif name == "cosface":
        loss = pml.CosFaceLoss(K, D, margin=head.margin, scale=head.scale)
    elif name == "arcface":  # PML: degrees
        loss = pml.ArcFaceLoss(K, D, margin=math.degrees(head.margin), scale=head.scale)
    else:
        loss = pml.SphereFaceLoss(K, D, margin=head.margin, scale=head.scale)
    loss = loss.double()
    loss.W.data.copy_(head.weight.detach().t())  # PML's W is [D, K]
    return loss


@pytest.mark.parametrize("name", HEADS)
def test_matches_pytorch_metric_learning(name):
    cls, kwargs = HEADS[name]
    head = cls(K, D, **kwargs).double()
    twin = _pml_twin(name, head)
    x, y = _data(torch.float64, seed=1)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = head(x1, y), twin(x2, y)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-9)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(head.weight.grad, twin.W.grad.t(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", HEADS)
def test_gradcheck(name):
    cls, kwargs = HEADS[name]
    head = cls(K, D, **kwargs).double()
    x, y = _data(torch.float64, seed=2)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda e: head(e, y), (x,))


def test_margin_makes_the_loss_larger_and_logits_margin_free():
    x, y = _data()
    base = NormFaceLoss(K, D, scale=8.0)
    for cls in (CosFaceLoss, ArcFaceLoss):
        head = cls(K, D, scale=8.0)
        head.weight.data.copy_(base.weight.data)
        assert head(x, y) > base(x, y)
        torch.testing.assert_close(head.logits(x), base.logits(x))


def test_sphereface_psi_is_monotone_and_lambda_blends():
    head = SphereFaceLoss(2, 2, margin=4)
    theta = torch.linspace(0, math.pi, 721)
    psi = head.target_logit(torch.cos(theta))
    assert (psi[1:] < psi[:-1] + 1e-6).all()
    assert psi[-1].item() == pytest.approx(-7.0, abs=1e-4)  # (-1)^3 cos(4 pi) - 6 at theta = pi
    blended = SphereFaceLoss(2, 2, margin=4, lambda_=3.0).target_logit(torch.cos(theta))
    torch.testing.assert_close(blended, (3 * torch.cos(theta) + psi) / 4)


def test_margin_model_trains_with_fit():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 6, generator=g) * 3
    y = torch.arange(3).repeat(60)
    x = centers[y] + torch.randn(len(y), 6, generator=g)
    torch.manual_seed(0)
    model = MarginModel(MLP(6, 3, embedding_dim=3, hidden=(16,)), ArcFaceLoss(3, 3, scale=8.0))
    before = model.head.weight.detach().clone()
    history = fit(model, model.loss, (x, y), epochs=15, batch_size=16, lr=1e-2, progress=False)
    assert not torch.equal(before, model.head.weight)  # the head's weight is trained
    assert history.loss[-1] < history.loss[0]
    _, logits = model(x)
    assert (logits.argmax(1) == y).float().mean() > 0.9
    assert sum(p is model.head.weight for p in model.parameters()) == 1


def test_bad_input():
    head = ArcFaceLoss(K, D)
    x, y = _data()
    with pytest.raises(TypeError, match="embeddings"):
        head(x.long(), y)
    with pytest.raises(ValueError, match="embeddings must be"):
        head(x[:, :3], y)
    with pytest.raises(TypeError, match="labels"):
        head(x, y.float())
    with pytest.raises(ValueError, match="labels must be"):
        head(x, y[:3])
    with pytest.raises(ValueError, match="labels values"):
        head(x, y + K)
    with pytest.raises(ValueError, match="empty"):
        head(x[:0], y[:0])
    with pytest.raises(ValueError, match="NaN"):
        head(torch.full_like(x, float("nan")), y)
    with pytest.raises(ValueError, match="margin"):
        ArcFaceLoss(K, D, margin=-0.1)
    with pytest.raises(ValueError, match="scale"):
        CosFaceLoss(K, D, scale=0.0)
    with pytest.raises(ValueError, match="integer"):
        SphereFaceLoss(K, D, margin=2.5)
    with pytest.raises(ValueError, match="no margin"):
        NormFaceLoss(K, D, margin=0.2)
    with pytest.raises(ValueError, match="num_classes"):
        CosFaceLoss(1, D)


def test_chapter_helpers_angles_labels_and_circle_regions():
    from cplus_edu.experiments.margin_family import angular_stats, circle_regions, relabel

    deg = torch.deg2rad(torch.tensor([-10.0, 10.0, 80.0, 100.0]))
    f = torch.stack([deg.cos(), deg.sin()], 1) * 3.0  # norms do not matter
    stats = angular_stats(f, torch.tensor([0, 0, 1, 1]))
    assert stats["spread_deg"] == pytest.approx(10.0, abs=1e-4)
    assert stats["inter_min_deg"] == pytest.approx(90.0, abs=1e-4)
    digits = torch.arange(10)
    assert relabel("ArcFace", digits).tolist() == [0, 1, 2, 3, 4, 5, -1, -1, -1, -1]
    assert relabel("C+1", digits).tolist() == [1, 2, 3, 4, 5, 6, 0, 0, 0, 0]
    # ArcFace with four weights 90 degrees apart: a class still wins with margin m where
    # theta + m < the angle to the neighbour, i.e. a gap of m on each boundary
    head = ArcFaceLoss(4, 2, margin=0.5, scale=4.0)
    phi = torch.arange(4) * math.pi / 2
    head.weight.data = torch.stack([phi.cos(), phi.sin()], 1)
    model = MarginModel(MLP(3, 4, embedding_dim=2), head)
    plain, wins = circle_regions(model, "ArcFace", n_angles=3600)
    assert plain[0] == 0 and plain[900] == 1
    assert (wins < 0).mean() == pytest.approx(4 * 0.5 / (2 * math.pi), abs=2e-3)
