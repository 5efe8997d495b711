"""The training loop: it learns, it is reproducible, it records loss terms, it resumes."""

import pytest
import torch
from torch import nn

from cplus_edu import MLP, fit, predict, seed_everything
from cplus_edu.data import make_cplus_one_data


def _data():
    d = make_cplus_one_data(num_classes=3, n_per_class=60, n_background=90, seed=0)
    return d.x, d.y


def _train(seed=0, epochs=15, **kw):
    seed_everything(seed)
    model = MLP(2, num_classes=4, embedding_dim=8)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        _data(),
        epochs=epochs,
        batch_size=32,
        lr=1e-2,
        seed=seed,
        **kw,
    )
    return model, history


def test_fit_learns_a_separable_synthetic_set():
    x, y = _data()
    model, history = _train(epochs=40)
    _, logits = predict(model, x)
    accuracy = (logits.argmax(1) == y).float().mean().item()
    chance = y.bincount().max().item() / len(y)
    assert accuracy > 0.95 > chance
    assert history.loss[-1] < 0.3 * history.loss[0]


def test_seeding_gives_identical_results_twice():
    m1, h1 = _train(seed=3, epochs=3)
    m2, h2 = _train(seed=3, epochs=3)
    m3, _ = _train(seed=4, epochs=3)
    assert h1.loss == h2.loss
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters()))


class _TermsLoss(nn.Module):
    """A loss that asks for features and reports two parts, like the C+1 loss."""

    needs_features = True

    def __init__(self):
        super().__init__()
        self.center = nn.Parameter(torch.zeros(8))
        self.terms = {}

    def forward(self, features, logits, target):
        ce = nn.functional.cross_entropy(logits, target)
        pull = (features - self.center).pow(2).sum(1).mean()
        self.terms = {"ce": ce.detach(), "pull": pull.detach()}
        return ce + 0.1 * pull


def test_loss_terms_are_recorded_and_loss_parameters_trained():
    seed_everything(0)
    model = MLP(2, num_classes=4, embedding_dim=8)
    loss = _TermsLoss()
    history = fit(model, loss, _data(), epochs=3, batch_size=32, seed=0)
    assert set(history.terms) == {"ce", "pull"} and len(history.terms["ce"]) == 3
    assert loss.center.abs().sum() > 0  # the loss's own parameter moved
    for total, ce, pull in zip(history.loss, history.terms["ce"], history.terms["pull"]):
        assert total == pytest.approx(ce + 0.1 * pull, rel=1e-4)


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "run.pt"
    full_model, full = _train(seed=1, epochs=4)
    _train(seed=1, epochs=2, checkpoint=ckpt)  # "interrupted" after 2 epochs
    seed_everything(1)
    resumed_model = MLP(2, num_classes=4, embedding_dim=8)  # a fresh model, as after a restart
    resumed = fit(
        resumed_model,
        nn.CrossEntropyLoss(),
        _data(),
        epochs=4,
        batch_size=32,
        lr=1e-2,
        seed=1,
        checkpoint=ckpt,
    )
    assert resumed.epochs == 4
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6)
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


class _Killed(Exception):
    pass


def test_cosine_schedule_and_recorded_metrics_survive_a_kill(tmp_path):
    """A run killed after two epochs resumes with its learning-rate schedule and the metrics its
    callback recorded, and ends where an uninterrupted run ends."""

    def record(epoch, model, history):
        history.metrics.setdefault("epoch", []).append(epoch)

    def record_then_die(epoch, model, history):
        if epoch == 2:
            raise _Killed
        record(epoch, model, history)

    ckpt = tmp_path / "run.pt"
    full_model, full = _train(seed=2, epochs=5, schedule="cosine", on_epoch_end=record)
    with pytest.raises(_Killed):
        _train(seed=2, epochs=5, schedule="cosine", on_epoch_end=record_then_die, checkpoint=ckpt)
    resumed_model, resumed = _train(seed=2, epochs=5, schedule="cosine", on_epoch_end=record,
                                    checkpoint=ckpt)  # fmt: skip
    assert resumed.metrics["epoch"] == full.metrics["epoch"] == [0, 1, 2, 3, 4]
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6)
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    _, constant = _train(seed=2, epochs=5)
    assert constant.loss[-1] != pytest.approx(full.loss[-1], rel=1e-6)  # the schedule acts


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"schedule": "step"}, "schedule"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"schedule": "step"}, "schedule"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        fit(MLP(2, 4), nn.CrossEntropyLoss(), _data(), **kwargs)


def test_bad_data_is_named():
    x, y = _data()
    with pytest.raises(ValueError, match="x has"):
        fit(MLP(2, 4), nn.CrossEntropyLoss(), (x, y[:-1]))
    with pytest.raises(TypeError, match="data"):
        fit(MLP(2, 4), nn.CrossEntropyLoss(), [1, 2, 3])
