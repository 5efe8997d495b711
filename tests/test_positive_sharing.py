"""Positive-sharing and fused loss: against a slow loop, the slides' analytic gradient, gradcheck,
stability where p_0 rounds to 1, degenerate batches and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from cplus_edu.losses import FusedLoss, PositiveSharingLoss

IGNORE = -100


def loop_fused(logits, target, ws, wp, background_index=0, ignore_index=IGNORE):
    """Eqs. (1)-(3) the slow, obvious way: one pixel at a time, from the softmax probabilities."""
    if logits.ndim == 4:
        logits = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
        target = target.reshape(-1)
    total, count = logits.new_zeros(()), 0
    for s, y in zip(logits, target.tolist()):
        if y == ignore_index:
            continue
        p = torch.exp(s) / torch.exp(s).sum()
        l0 = -torch.log(p[y])
        p0 = p[background_index]
        l1 = -torch.log(p0) if y == background_index else -torch.log(1 - p0)
        total = total + ws * l0 + wp * l1
        count += 1
    return total / max(count, 1)


def slides_gradient(logits, target, ws, wp, background_index=0, ignore_index=IGNORE):
    """The slides' eqs. (4)-(5) written out by hand, for ``[N, K]`` logits (float64).

    With the background at index ``bg`` (the slides write 0): for the background logit
    ``(Ws + Wp) h(y = bg) (p_bg - 1) + (Ws + Wp) h(y object) p_bg``; for an object logit ``l``
    ``(Ws + Wp h(y = bg)) p_l - Ws h(y = l) - Wp h(y object) p_bg p_l / (1 - p_bg)``; all over N.
    """
    bg = background_index
    p = logits.softmax(dim=1)
    grad = torch.zeros_like(logits)
    valid = [i for i, y in enumerate(target.tolist()) if y != ignore_index]
    n = len(valid)
    for i in valid:
        y = int(target[i])
        h_bg = 1.0 if y == bg else 0.0
        h_obj = 1.0 - h_bg
        for l in range(logits.shape[1]):
            if l == bg:
                g = (ws + wp) * h_bg * (p[i, bg] - 1) + (ws + wp) * h_obj * p[i, bg]  # eq. (4)
            else:
                g = (
                    (ws + wp * h_bg) * p[i, l]
                    - ws * (1.0 if y == l else 0.0)
                    - wp * h_obj * p[i, bg] * p[i, l] / (1 - p[i, bg])
                )  # eq. (5)
            grad[i, l] = g / n
    return grad


def random_case(seed, shape=(3, 5, 4, 6), dtype=torch.float64, ignore=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, generator=g, dtype=dtype) * 2
    target_shape = (shape[0], *shape[2:])
    target = torch.randint(0, shape[1], target_shape, generator=g)
    if ignore:
        target.view(-1)[::7] = IGNORE
    return logits, target


@pytest.mark.parametrize("shape", [(40, 4), (3, 5, 4, 6)])
@pytest.mark.parametrize("background_index", [0, 2, 3])
@pytest.mark.parametrize("ws, wp", [(0.5, 0.5), (1.0, 0.0), (0.2, 0.8), (0.0, 1.0), (1.5, 0.7)])
def test_matches_the_loop(shape, background_index, ws, wp):
    logits, target = random_case(1, shape)
    loss = FusedLoss(ws, wp, background_index)(logits, target)
    assert loss.item() == pytest.approx(
        loop_fused(logits, target, ws, wp, background_index).item(), rel=1e-10
    )


@pytest.mark.parametrize("background_index", [0, 1, 3])
@pytest.mark.parametrize("ws, wp", [(0.5, 0.5), (0.9, 0.1), (0.3, 0.7), (0.0, 1.0), (2.0, 0.5)])
def test_autograd_equals_the_slides_gradient(background_index, ws, wp):
    logits, target = random_case(2, (30, 5))
    logits.requires_grad_(True)
    FusedLoss(ws, wp, background_index)(logits, target).backward()
    expected = slides_gradient(logits.detach(), target, ws, wp, background_index)
    torch.testing.assert_close(logits.grad, expected, rtol=1e-10, atol=1e-12)


def test_backward_equals_autograd_through_the_plain_formula():
    """The hand-written backward against autograd on log_softmax (dense, non-zero background)."""
    logits, target = random_case(3, (2, 6, 5, 5))
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    FusedLoss(0.4, 0.6, background_index=4)(a, target).backward()
    log_p = F.log_softmax(b, dim=1)
    valid = target != IGNORE
    y = target.clamp_min(0)
    l0 = -log_p.gather(1, y[:, None])[:, 0]
    l1 = torch.where(y == 4, -log_p[:, 4], -torch.log1p(-log_p[:, 4].exp()))
    ((0.4 * l0 + 0.6 * l1) * valid).sum().div(valid.sum()).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("background_index", [0, 2])
def test_gradcheck(background_index):
    logits, target = random_case(4, (2, 4, 3, 3))
    logits.requires_grad_(True)
    loss = FusedLoss(0.3, 0.7, background_index)
    assert torch.autograd.gradcheck(lambda s: loss(s, target), (logits,))
    per_pixel = FusedLoss(0.3, 0.7, background_index, reduction="none")
    assert torch.autograd.gradcheck(lambda s: per_pixel(s, target), (logits,))


def test_ws_one_wp_zero_is_cross_entropy():
    logits, target = random_case(5, (2, 5, 6, 6), dtype=torch.float32)
    loss = FusedLoss(1.0, 0.0)(logits, target)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-5)


def test_positive_sharing_is_background_against_all_objects():
    """Object classes share one positive: relabelling an object pixel to another object class
    leaves L1 unchanged, and L1 equals binary CE on p_0."""
    logits, target = random_case(6, (50, 4), ignore=False)
    ps = PositiveSharingLoss()
    relabelled = torch.where(target > 0, 1 + (target % 3), target)  # objects among 1..3
    assert ps(logits, target).item() == pytest.approx(ps(logits, relabelled).item(), rel=1e-12)
    p0 = logits.softmax(1)[:, 0]
    bce = F.binary_cross_entropy(1 - p0, (target > 0).double())
    assert ps(logits, target).item() == pytest.approx(bce.item(), rel=1e-10)


def test_stable_where_p0_rounds_to_one():
    """A confident background guess on an object pixel: log(1 - softmax) is -inf, ours is not."""
    logits = torch.tensor([[60.0, -60.0, -61.0], [0.0, 1.0, 2.0]], requires_grad=True)
    target = torch.tensor([1, 2])
    assert torch.isinf(torch.log(1 - logits.softmax(1)[0, 0]))
    loss = PositiveSharingLoss(reduction="none")(logits, target)
    expected0 = 120.0 - math.log1p(math.exp(-1.0))  # -log(1 - p0) = LSE(s) - LSE_obj(s)
    assert loss[0].item() == pytest.approx(expected0, rel=1e-6)
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    # the gradient pushes the background logit down with full strength (p_0 ~ 1)
    assert logits.grad[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_reductions_and_terms():
    logits, target = random_case(7, (2, 3, 4, 4))
    none = FusedLoss(0.3, 0.7, reduction="none")(logits, target)
    assert none.shape == target.shape
    assert (none[target == IGNORE] == 0).all()
    total = FusedLoss(0.3, 0.7, reduction="sum")(logits, target)
    mean_loss = FusedLoss(0.3, 0.7)
    mean = mean_loss(logits, target)
    n = (target != IGNORE).sum()
    assert total.item() == pytest.approx(none.sum().item())
    assert mean.item() == pytest.approx(total.item() / n.item())
    terms = mean_loss.terms
    assert set(terms) == {"softmax", "positive_sharing"}
    assert not terms["softmax"].requires_grad
    assert mean.item() == pytest.approx(
        0.3 * terms["softmax"].item() + 0.7 * terms["positive_sharing"].item()
    )
    assert terms["softmax"].item() == pytest.approx(
        F.cross_entropy(logits, target, ignore_index=IGNORE).item()
    )


def test_all_ignored_gives_zero_and_zero_gradient():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.full((2, 4, 4), 255)
    loss = FusedLoss(ignore_index=255)(logits, target)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_degenerate_batches_are_finite():
    logits = torch.randn(6, 4, requires_grad=True)
    for target in (torch.zeros(6, dtype=torch.long), torch.full((6,), 2)):
        loss = FusedLoss()(logits, target)
        assert torch.isfinite(loss)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(grad).all()


def test_float32_matches_float64():
    logits, target = random_case(8, (2, 21, 8, 8))
    a = FusedLoss()(logits, target)
    b = FusedLoss()(logits.float(), target)
    assert b.item() == pytest.approx(a.item(), rel=1e-5)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: (torch.randn(4, 3), torch.rand(4)), TypeError, "target must be an integer"),
        (lambda: (torch.randint(0, 3, (4, 3)), torch.zeros(4).long()), TypeError, "logits"),
        (lambda: (torch.randn(4, 3), torch.zeros(5).long()), ValueError, "target must have shape"),
        (lambda: (torch.randn(4, 3, 2), torch.zeros(4, 2).long()), ValueError, "logits must have"),
        (lambda: (torch.randn(4, 3), torch.tensor([0, 1, 3, 0])), ValueError, r"\[0, 2\]"),
        (lambda: (torch.randn(4, 1), torch.zeros(4).long()), ValueError, "at least 2 classes"),
        (lambda: (torch.randn(0, 3), torch.zeros(0).long()), ValueError, "empty"),
        (
            lambda: (torch.tensor([[0.0, float("nan"), 1.0]]), torch.tensor([1])),
            ValueError,
            "logits contains NaN",
        ),
    ],
)
def test_bad_input(make, error, match):
    logits, target = make()
    with pytest.raises(error, match=match):
        FusedLoss()(logits, target)


def test_bad_settings():
    with pytest.raises(ValueError, match="ws"):
        FusedLoss(ws=-0.1)
    with pytest.raises(ValueError, match="wp"):
        FusedLoss(wp=float("nan"))
    with pytest.raises(ValueError, match="background_index"):
        FusedLoss(background_index=-1)
    with pytest.raises(ValueError, match="reduction"):
        FusedLoss(reduction="avg")
    with pytest.raises(ValueError, match="background_index"):
        FusedLoss(background_index=3)(torch.randn(4, 3), torch.zeros(4).long())
    with pytest.raises(ValueError, match="ignore_index"):
        FusedLoss(ignore_index=1)(torch.randn(4, 3), torch.zeros(4).long())
