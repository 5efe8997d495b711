"""CC-loss: against a slow pair loop, degenerate batches, CAM weights, the SE model, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from cplus_edu import ChannelAttentionCNN, fit
from cplus_edu.losses import CCLoss, attention_distances, cam_channel_attention


def _batch(n=10, c=6, k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, generator=g, dtype=dtype), torch.randn(n, k, generator=g, dtype=dtype),
            torch.randint(0, k, (n,), generator=g))  # fmt: skip


def _slow_cc(a, y, mode, margin):
    n, c = a.shape
    intra, inter, hinge, n_intra, n_inter = 0.0, 0.0, 0.0, 0, 0
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            d = sum((a[i, t].item() - a[j, t].item()) ** 2 for t in range(c)) / c
            if y[i] == y[j]:
                intra, n_intra = intra + d, n_intra + 1
            else:
                inter, hinge, n_inter = inter + d, hinge + max(0.0, margin - d), n_inter + 1
    intra = intra / n_intra if n_intra else 0.0
    inter_mean = inter / n_inter if n_inter else 0.0
    hinge = hinge / n_inter if n_inter else 0.0
    return (intra - inter_mean if mode == "difference" else intra + hinge), intra, inter_mean


@pytest.mark.parametrize("mode", ["hinge", "difference"])
def test_matches_slow_loop(mode):
    a, logits, y = _batch()
    loss_fn = CCLoss(weight=0.7, mode=mode, margin=0.15)
    cc, intra, inter = _slow_cc(a, y, mode, 0.15)
    loss = loss_fn(a, logits, y)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, y).item() + 0.7 * cc, rel=1e-10)
    assert loss_fn.terms["intra"].item() == pytest.approx(intra, rel=1e-10)
    assert loss_fn.terms["inter"].item() == pytest.approx(inter, rel=1e-10)


def test_distance_matrix_and_gradcheck():
    a, logits, y = _batch(n=7)
    d = attention_distances(a)
    torch.testing.assert_close(d, torch.cdist(a, a).square() / a.shape[1])
    a.requires_grad_()
    logits.requires_grad_()
    loss_fn = CCLoss(mode="hinge", margin=0.2)
    assert torch.autograd.gradcheck(lambda f, z: loss_fn(f, z, y), (a, logits))


def test_one_class_batch_is_finite_and_only_pulls_together():
    a, logits, _ = _batch(n=6)
    y = torch.zeros(6, dtype=torch.long)
    a.requires_grad_()
    loss_fn = CCLoss(weight=1.0, mode="difference")
    loss = loss_fn(a, logits, y)
    assert torch.isfinite(loss) and loss_fn.terms["inter"].item() == 0.0
    loss.backward()
    # the gradient of the mean intra distance moves every vector towards the batch mean
    expected = 4 * (a - a.mean(0)) / (a.shape[1] * 5)  # d/da_i of mean_{i != j} ||a_i - a_j||^2 / C
    torch.testing.assert_close(a.grad, expected.detach())
    distinct = torch.arange(3)
    loss_fn(a[:3], logits[:3], distinct)
    assert loss_fn.terms["intra"].item() == 0.0


def test_cam_attention():
    f, logits, y = _batch(n=8, c=5)
    head = torch.nn.Linear(5, 3).double()
    att = cam_channel_attention(f, head.weight, y)
    expected = torch.stack([F.normalize(f[i] * head.weight[y[i]], dim=0) for i in range(8)])
    torch.testing.assert_close(att, expected * math.sqrt(5))
    loss_fn = CCLoss(attention="cam", classifier=head)
    loss_fn(f, logits, y).backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_cc_loss_makes_attention_class_specific():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 12, 12, generator=g)
    y = torch.arange(3).repeat(32)
    x[y == 1, :, :6] += 1.0
    x[y == 2, :, 6:] += 1.0

    def gap(loss_fn):
        torch.manual_seed(0)
        model = ChannelAttentionCNN(1, 3, width=4, features="attention")
        fit(model, loss_fn, (x, y), epochs=10, batch_size=16, lr=1e-2, seed=0, progress=False)
        with torch.no_grad():
            _, att, _, _ = model.parts(x)
        d = attention_distances(att)
        same = y[:, None] == y[None, :]
        return (d[~same].mean() - d[same & ~torch.eye(96, dtype=torch.bool)].mean()).item()

    assert gap(CCLoss(weight=1.0, margin=0.2)) > gap(CCLoss(weight=0.0)) + 0.1


def test_bad_input():
    a, logits, y = _batch()
    loss_fn = CCLoss()
    with pytest.raises(TypeError, match="features"):
        loss_fn(a.long(), logits, y)
    with pytest.raises(ValueError, match="features must be"):
        loss_fn(a[:3], logits, y)
    with pytest.raises(ValueError, match="target"):
        loss_fn(a, logits, y + 5)
    with pytest.raises(ValueError, match="NaN"):
        loss_fn(torch.full_like(a, float("nan")), logits, y)
    with pytest.raises(ValueError, match="mode"):
        CCLoss(mode="ratio")
    with pytest.raises(ValueError, match="classifier"):
        CCLoss(attention="cam")
    with pytest.raises(ValueError, match="weight"):
        CCLoss(weight=-1.0)
    with pytest.raises(ValueError, match="features must be"):
        ChannelAttentionCNN(features="maps")


def test_chapter_focal_loss_and_separation():
    from cplus_edu.experiments.channel_corr import FocalLoss, class_heatmap, class_separation

    _, logits, y = _batch(n=12, k=4)
    assert FocalLoss(0.0)(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())
    p = logits.softmax(1)
    slow = sum(-((1 - p[i, y[i]]) ** 2) * math.log(p[i, y[i]]) for i in range(12)) / 12
    assert FocalLoss(2.0)(logits, y).item() == pytest.approx(float(slow), rel=1e-10)
    att = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.5]])
    labels = torch.tensor([0, 0, 1, 1])
    sep = class_separation(att, labels)
    assert sep["intra"] == pytest.approx(0.125 / 2 * 2 / 2)  # pairs (0,1): 0, (2,3): 0.125
    assert sep["inter"] == pytest.approx((1.0 + 1.25 / 2 * 2 / 1 * 0.5 + 1.0 + 0.625) / 4, rel=1e-6)
    torch.testing.assert_close(class_heatmap(att, labels), torch.tensor([[1.0, 0.0], [0.0, 0.75]]))
