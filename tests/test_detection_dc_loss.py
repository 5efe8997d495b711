"""Dynamic coefficients (eqs. 1-2) and the DC loss (eq. 3): loops, torchvision, gradients."""

import math

import pytest
import torch
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from cplus_edu.detection import BoxCoder, DCLoss, dynamic_coefficients


def boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = torch.rand(n, 2, generator=g) * 20 + 2
    return torch.cat([xy, xy + wh], 1).double()


def loop_coefficients(pred, gt, loss, eps=1e-6):
    lam = []
    for p, t in zip(pred.tolist(), gt.tolist()):
        pc = ((p[0] + p[2]) / 2, (p[1] + p[3]) / 2)
        tc = ((t[0] + t[2]) / 2, (t[1] + t[3]) / 2)
        pw, ph, tw, th = p[2] - p[0], p[3] - p[1], t[2] - t[0], t[3] - t[1]
        d2 = ((pc[0] - tc[0]) ** 2 + (pc[1] - tc[1]) ** 2) / (tw * th)
        sig = 1 / (1 + math.exp(-d2))
        lam.append(1 / (sig + math.tanh(abs(pw / ph - tw / th)) + eps))  # eq. (1)
    total = sum(loss.tolist())
    weighted = sum(w * x for w, x in zip(lam, loss.tolist()))
    return torch.tensor([w * total / weighted for w in lam], dtype=torch.float64)  # eq. (2)


def test_coefficients_match_a_loop_and_keep_the_total():
    pred, gt = boxes(30, 0), boxes(30, 1)
    loss = torch.rand(30, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    coef = dynamic_coefficients(pred, gt, loss)
    assert torch.allclose(coef, loop_coefficients(pred, gt, loss), rtol=1e-10)
    assert torch.isclose((coef * loss).sum(), loss.sum())


def test_better_boxes_get_larger_coefficients_and_the_range_is_half_to_two():
    gt = torch.tensor([[10.0, 10, 30, 20]] * 3)
    pred = torch.tensor([[10.0, 10, 30, 20], [12, 10, 32, 20], [20, 20, 30, 60]])
    lam = dynamic_coefficients(pred, gt, torch.ones(3))  # equal losses: lam / mean(lam)
    assert lam[0] > lam[1] > lam[2]
    assert torch.isclose(lam.sum(), torch.tensor(3.0))  # unit losses: lam' = 3 lam / sum(lam)
    assert float(lam[0] / lam[2]) <= 4.0 + 1e-4  # lam in (1/2, 2] before eq. (2)


def test_scale_free():
    pred, gt = boxes(10, 3), boxes(10, 4)
    loss = torch.rand(10, dtype=torch.float64)
    assert torch.allclose(dynamic_coefficients(pred, gt, loss),
                          dynamic_coefficients(7 * pred, 7 * gt, loss))  # fmt: skip


def test_detached_all_zero_losses_and_empty():
    pred = boxes(4, 5).requires_grad_()
    loss = torch.rand(4, dtype=torch.float64, requires_grad=True)
    coef = dynamic_coefficients(pred, boxes(4, 6), loss)
    assert not coef.requires_grad
    assert torch.equal(dynamic_coefficients(pred, boxes(4, 6), torch.zeros(4).double()),
                       torch.ones(4).double())  # fmt: skip
    assert dynamic_coefficients(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0)).numel() == 0


def test_coefficient_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        dynamic_coefficients(boxes(3, 0), boxes(2, 0), torch.ones(3).double())
    with pytest.raises(ValueError, match="degenerate"):
        dynamic_coefficients(boxes(3, 0)[:, [2, 1, 0, 3]], boxes(3, 0), torch.ones(3).double())
    with pytest.raises(ValueError, match="NaN"):
        dynamic_coefficients(boxes(3, 0) * float("nan"), boxes(3, 0), torch.ones(3).double())


def setup(num=60, k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    anchors = boxes(num, seed + 1).to(dtype)
    gt = (anchors + torch.randn(num, 4, generator=g, dtype=torch.float64).to(dtype)).detach()
    gt = torch.cat([gt[:, :2], torch.maximum(gt[:, 2:], gt[:, :2] + 1)], 1)
    logits = torch.randn(num, k, generator=g, dtype=dtype, requires_grad=True)
    deltas = (0.1 * torch.randn(num, 4, generator=g, dtype=dtype)).requires_grad_()
    labels = torch.randint(-1, 2, (num,), generator=g)
    classes = torch.randint(0, k, (num,), generator=g)
    return logits, deltas, anchors, labels, classes, gt


@pytest.mark.parametrize("box_loss", ["giou", "smooth_l1"])
def test_static_dc_loss_is_retinanet_focal_plus_box(box_loss):
    logits, deltas, anchors, labels, classes, gt = setup()
    loss = DCLoss(dynamic=False, box_loss=box_loss)(logits, deltas, anchors, labels, classes, gt)
    pos, valid = labels == 1, labels >= 0
    onehot = torch.zeros_like(logits)
    onehot[pos, classes[pos]] = 1
    focal = sigmoid_focal_loss(logits[valid], onehot[valid], reduction="sum")
    coder = BoxCoder()
    if box_loss == "giou":
        box = generalized_box_iou_loss(
            coder.decode(deltas[pos], anchors[pos]), gt[pos], reduction="sum"
        )
    else:
        box = torch.nn.functional.smooth_l1_loss(deltas[pos], coder.encode(gt[pos], anchors[pos]),
                                                 beta=1 / 9, reduction="sum")  # fmt: skip
    assert torch.isclose(loss, (focal + box) / pos.sum())


def test_dynamic_loss_keeps_the_positive_total_but_moves_the_gradient():
    logits, deltas, anchors, labels, classes, gt = setup()
    static, dynamic = DCLoss(dynamic=False), DCLoss(dynamic=True)
    a = static(logits, deltas, anchors, labels, classes, gt)
    b = dynamic(logits, deltas, anchors, labels, classes, gt)
    assert torch.isclose(a, b)  # eq. (2): the weighted positive loss keeps its total
    assert dynamic.terms["coef_std"] > 0
    (ga,) = torch.autograd.grad(a, logits)
    (gb,) = torch.autograd.grad(b, logits)
    assert not torch.allclose(ga, gb)
    neg = labels == 0
    assert torch.allclose(ga[neg], gb[neg])  # negatives are untouched


def test_static_dc_loss_gradcheck():
    logits, deltas, anchors, labels, classes, gt = setup(num=12)
    loss = DCLoss(dynamic=False)
    assert torch.autograd.gradcheck(
        lambda z, d: loss(z, d, anchors, labels, classes, gt), (logits, deltas)
    )


def test_dynamic_gradient_treats_the_coefficients_as_constants():
    """The coefficients are detached: the gradient is that of sum(coef * focal) with coef fixed
    (a finite-difference gradcheck would differ, since coef moves with the inputs)."""
    logits, deltas, anchors, labels, classes, gt = setup(num=40)
    loss = DCLoss(dynamic=True)(logits, deltas, anchors, labels, classes, gt)
    (got,) = torch.autograd.grad(loss, logits)
    pos, neg = labels == 1, labels == 0
    onehot = torch.zeros_like(logits)
    onehot[pos, classes[pos]] = 1
    focal = sigmoid_focal_loss(logits, onehot, reduction="none").sum(1)
    pred = BoxCoder().decode(deltas[pos], anchors[pos])
    coef = dynamic_coefficients(pred, gt[pos], focal[pos])
    manual = ((coef * focal[pos]).sum() + focal[neg].sum()) / pos.sum()
    (expected,) = torch.autograd.grad(manual, logits)
    assert torch.allclose(got, expected)


def test_no_positive_anchor_gives_a_finite_loss():
    logits, deltas, anchors, labels, classes, gt = setup()
    loss = DCLoss()(logits, deltas, anchors, torch.zeros_like(labels), classes, gt)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert (deltas.grad == 0).all()


def test_dc_loss_bad_inputs():
    logits, deltas, anchors, labels, classes, gt = setup()
    with pytest.raises(ValueError, match="anchors"):
        DCLoss()(logits, deltas, anchors[:5], labels, classes, gt)
    with pytest.raises(ValueError, match="NaN"):
        DCLoss()(logits * float("nan"), deltas, anchors, labels, classes, gt)
    with pytest.raises(ValueError, match="target_classes"):
        DCLoss()(logits, deltas, anchors, labels, classes + 5, gt)
    with pytest.raises(ValueError, match="empty"):
        DCLoss()(logits[:0], deltas[:0], anchors[:0], labels[:0], classes[:0], gt[:0])
    with pytest.raises(ValueError, match="box_loss"):
        DCLoss(box_loss="l2")
