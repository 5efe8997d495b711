"""The three centre representations of the C+1 loss and how each one moves."""

import pytest
import torch
import torch.nn.functional as F

from cplus_edu.losses import CPlusOneLoss, LearnableCenters, MovingAverageCenters, SharedCenters
from cplus_edu.models import CosineClassifier


def slow_moving_average(old, features, target, momentum, background_index=0):
    """c_k <- normalize(m c_k + (1 - m) mean of the batch's normalised class-k features), one
    class at a time; classes absent from the batch keep their centre."""
    new = old.clone()
    for k in range(old.shape[0]):
        label = k if k < background_index else k + 1
        members = [F.normalize(f, dim=0) for f, y in zip(features, target.tolist()) if y == label]
        if members:
            mean = torch.stack(members).mean(0)
            new[k] = F.normalize(momentum * old[k] + (1 - momentum) * mean, dim=0)
    return new


@pytest.mark.parametrize("background_index", [0, 3])
def test_moving_average_update_matches_slow_loop_and_uses_old_centres(background_index):
    torch.manual_seed(0)
    loss_fn = CPlusOneLoss(5, 4, background_index=background_index, momentum=0.8)
    features = torch.randn(30, 4)
    target = torch.tensor([0, 1, 3, 4] * 7 + [0, 0])  # class 2 is absent
    old = loss_fn.centers.clone()
    expected_compact = CPlusOneLoss(5, 4, background_index=background_index, alpha=1.0)
    expected_compact.load_state_dict(loss_fn.state_dict())
    expected_compact.eval()
    expected_compact(features, torch.randn(30, 5), target)

    loss_fn.train()
    loss_fn(features, torch.randn(30, 5), target)
    new = loss_fn.centers
    assert torch.allclose(new, slow_moving_average(old, features, target, 0.8, background_index),
                          atol=1e-6)  # fmt: skip
    absent = 2 if background_index != 2 else 1
    absent_row = absent if absent < background_index else absent - 1
    assert torch.equal(new[absent_row], old[absent_row])
    # the loss of this call was computed with the centres from before the call
    assert torch.equal(loss_fn.terms["compact"], expected_compact.terms["compact"])
    assert torch.allclose(new.norm(dim=1), torch.ones(4))


def test_moving_average_does_not_move_in_eval_mode():
    loss_fn = CPlusOneLoss(3, 2).eval()
    before = loss_fn.centers
    loss_fn(torch.randn(10, 2), torch.randn(10, 3), torch.arange(10) % 3)
    assert torch.equal(loss_fn.centers, before)


def test_moving_average_without_normalisation_is_a_plain_average():
    rep = MovingAverageCenters(2, 3, momentum=0.5, normalize=False)
    old = rep.centers
    rep.update(torch.tensor([[2.0, 4.0, 6.0], [0.0, 0.0, 0.0]]), torch.tensor([2.0, 0.0]))
    assert torch.allclose(rep.centers[0], 0.5 * old[0] + 0.5 * torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(rep.centers[1], old[1])


def test_moving_average_converges_to_the_class_direction():
    torch.manual_seed(1)
    loss_fn = CPlusOneLoss(3, 3).train()
    directions = F.normalize(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), dim=1)
    for _ in range(60):
        target = torch.tensor([1, 2] * 8)
        features = 3.0 * directions[target - 1] + 0.05 * torch.randn(16, 3)
        loss_fn(features, torch.randn(16, 3), target)
    assert torch.allclose(loss_fn.centers, directions, atol=0.02)


def test_moving_average_centres_are_saved_in_the_state_dict():
    loss_fn = CPlusOneLoss(3, 2).train()
    loss_fn(torch.randn(8, 2), torch.randn(8, 3), torch.arange(8) % 3)
    restored = CPlusOneLoss(3, 2)
    restored.load_state_dict(loss_fn.state_dict())
    assert torch.equal(restored.centers, loss_fn.centers)


def test_learnable_centres_are_unit_rows_of_a_parameter_and_follow_sgd():
    torch.manual_seed(2)
    loss_fn = CPlusOneLoss(3, 2, centers="learnable", alpha=1.0)
    rep = loss_fn.center_representation
    assert isinstance(rep, LearnableCenters) and isinstance(rep.weight, torch.nn.Parameter)
    assert torch.allclose(loss_fn.centers.norm(dim=1), torch.ones(2))
    opt = torch.optim.SGD(loss_fn.parameters(), lr=0.5)
    target = torch.tensor([1, 2] * 10)
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])[target - 1]
    for _ in range(100):
        opt.zero_grad()
        loss_fn(features, torch.zeros(20, 3), target).backward()
        opt.step()
    assert torch.allclose(loss_fn.centers, torch.eye(2), atol=0.02)


def test_learnable_centres_do_not_move_without_an_optimizer_step():
    loss_fn = CPlusOneLoss(3, 2, centers="learnable").train()
    before = loss_fn.centers.detach().clone()
    loss_fn(torch.randn(8, 2), torch.randn(8, 3), torch.arange(8) % 3)
    assert torch.equal(loss_fn.centers.detach(), before)


@pytest.mark.parametrize("background_index", [0, 1, 3])
def test_shared_centres_are_the_classifier_rows_without_background(background_index):
    head = torch.nn.Linear(5, 4)
    loss_fn = CPlusOneLoss(4, 5, background_index=background_index, centers="shared",
                           classifier=head)  # fmt: skip
    rows = [k for k in range(4) if k != background_index]
    assert torch.allclose(loss_fn.centers, F.normalize(head.weight[rows], dim=1))
    with torch.no_grad():
        head.weight.mul_(3.0).add_(1.0)  # the centres follow the classifier, no copy
    assert torch.allclose(loss_fn.centers, F.normalize(head.weight[rows], dim=1))


def test_shared_centres_accept_a_cosine_classifier_and_a_1x1_conv_head():
    cosine = CosineClassifier(8, 3)
    assert torch.allclose(SharedCenters(cosine).centers, F.normalize(cosine.weight[1:], dim=1))
    conv = torch.nn.Conv2d(8, 3, 1)
    assert torch.allclose(SharedCenters(conv, normalize=False).centers, conv.weight[1:, :, 0, 0])
    with pytest.raises(ValueError, match="1, 1"):
        SharedCenters(torch.nn.Conv2d(8, 3, 3))
    with pytest.raises(ValueError, match="background_index"):
        SharedCenters(conv, background_index=3)


def test_shared_classifier_is_not_a_submodule_of_the_loss():
    head = torch.nn.Linear(4, 3)
    loss_fn = CPlusOneLoss(3, 4, centers="shared", classifier=head)
    assert list(loss_fn.parameters()) == [] and loss_fn.state_dict() == {}
    assert loss_fn.center_representation.classifier is head
