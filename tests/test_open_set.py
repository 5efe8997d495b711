"""Chapter 02's open-set experiment: data split, evaluation, runs, summaries."""

import os
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from cplus_edu.experiments import (
    OPEN_SET_METRICS,
    PAPER_VOC_MIOU,
    OpenSetData,
    center_distances,
    evaluate_open_set,
    make_mnist_open_set,
    plot_open_set,
    relabel,
    run_open_set,
)
from cplus_edu.losses import CPlusOneLoss

matplotlib.use("Agg")
DATA = Path(os.environ.get("CPLUS_EDU_DATA", "~/.cache/cplus_edu")).expanduser()
needs_mnist = pytest.mark.skipif(
    not (DATA / "MNIST" / "raw").is_dir() or not (DATA / "FashionMNIST" / "raw").is_dir(),
    reason=f"MNIST / Fashion-MNIST are not in the data root {DATA} (CI sets CPLUS_EDU_DATA)",
)


class Oracle(nn.Module):
    """Reads the class planted in pixel (0, 0) and answers it (or ``answer_unseen`` for -1)."""

    def __init__(self, num_classes=3, answer_unseen=0):
        super().__init__()
        self.num_classes, self.answer_unseen = num_classes, answer_unseen
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        planted = x[:, 0, 0, 0].long()
        answer = torch.where(planted < 0, torch.full_like(planted, self.answer_unseen), planted)
        logits = 10.0 * nn.functional.one_hot(answer, self.num_classes).float() + self.dummy
        features = nn.functional.one_hot(planted.clamp_min(0), self.num_classes).float() + 0.1
        features[planted < 0] = torch.tensor([0.1, -1.0, -1.0])  # far from both centres
        return features, logits


def planted(labels):
    x = torch.zeros(len(labels), 1, 28, 28)
    x[:, 0, 0, 0] = torch.as_tensor(labels, dtype=torch.float)
    return x


def toy_data():
    y_train = torch.tensor([0, 1, 2] * 6)
    y_test = torch.tensor([0, 1, 2, 1, 2, 0, 1, 2])
    unseen = {"held-out digits": planted([-1] * 5), "Fashion-MNIST": planted([-1] * 4)}
    return OpenSetData(planted(y_train), y_train, planted(y_test), y_test, unseen, (7, 8))


def test_relabel_maps_classes_of_interest_to_1_to_c_and_the_rest_to_background():
    digits = torch.tensor([0, 3, 5, 9, 3, 1])
    assert relabel(digits, (3, 9)).tolist() == [0, 1, 0, 2, 1, 0]


def test_evaluate_open_set_on_a_perfect_and_on_a_fooled_model():
    data = toy_data()
    perfect = evaluate_open_set(Oracle(answer_unseen=0), data)
    assert set(perfect) == set(OPEN_SET_METRICS) | {"coi_spread"}
    spread = perfect.pop("coi_spread")
    assert all(v == 1.0 for v in perfect.values()), perfect
    assert spread == pytest.approx(0.0, abs=1e-12)  # every CoI feature sits on its centre
    fooled = evaluate_open_set(Oracle(answer_unseen=1), data)  # unseen background -> class 1
    assert fooled["recall_digits"] == 0.0 and fooled["recall_fashion"] == 0.0
    assert fooled["coi_acc"] == 1.0 and fooled["recall_seen"] == 1.0
    assert fooled["auroc_fashion"] == 0.5  # p(background) ties with the CoIs': no ranking
    assert fooled["auroc_dist_fashion"] == 1.0  # but their features are far from every centre


def test_run_open_set_trains_every_loss_and_seed_deterministically():
    torch.manual_seed(0)
    y = torch.tensor([0, 1, 2] * 10)
    x = planted(y) + 0.1 * torch.randn(30, 1, 28, 28)
    data = OpenSetData(x, y, x[:12], y[:12], {"Fashion-MNIST": torch.rand(6, 1, 28, 28)}, (4, 5))
    losses = {"CE": lambda m: nn.CrossEntropyLoss(),
              "C+1 shared": lambda m: CPlusOneLoss(3, 4, centers="shared", classifier=m.head)}
    kwargs = dict(seeds=(0, 1), epochs=2, batch_size=10, progress=False,
                  make_model=lambda: __import__("cplus_edu").MLP(784, 3, 4, hidden=(8,)))
    rows = run_open_set(data, losses, **kwargs)
    assert [(r["seed"], r["loss"]) for r in rows] == [(0, "CE"), (0, "C+1 shared"),
                                                      (1, "CE"), (1, "C+1 shared")]
    for r in rows:
        assert 0.0 <= r["coi_acc"] <= 1.0 and 0.0 <= r["auroc_fashion"] <= 1.0
        assert ("term_compact" in r) == (r["loss"] == "C+1 shared")
        assert "recall_digits" not in r  # no held-out digits in this data
    models = {}
    assert rows == run_open_set(data, losses, keep_models=models, **kwargs)
    assert set(models) == {(0, "CE"), (0, "C+1 shared"), (1, "CE"), (1, "C+1 shared")}
    with pytest.raises(ValueError, match="non-empty"):
        run_open_set(data, {}, seeds=(0,))


def test_center_distances_per_group():
    distances = center_distances(Oracle(), toy_data())
    assert list(distances) == ["classes of interest", "seen background", "held-out digits",
                               "Fashion-MNIST"]  # fmt: skip
    assert distances["classes of interest"].max() < 1e-6
    assert distances["Fashion-MNIST"].min() > 1.0 and len(distances["Fashion-MNIST"]) == 4


def test_plot_open_set_labels_everything():
    summary = {"CE": {"coi_acc": (0.9, 0.01)}, "C+1": {"coi_acc": (0.95, 0.02)}}
    ax = plot_open_set(summary, ["coi_acc"])
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 2


def test_paper_tables_have_the_reported_best_setting():
    best = {table: max(rows, key=rows.get) for table, rows in PAPER_VOC_MIOU.items()}
    assert best == {"Table 1 (terms)": "L_C+1 (all three)", "Table 2 (centres)": "moving average",
                    "Table 3 (alpha, beta=1e-4)": "0.1", "Table 4 (beta, alpha=0.1)": "0.0001"}


@needs_mnist
def test_make_mnist_open_set_splits_the_digits():
    data = make_mnist_open_set(n_per_class=20, n_test_per_class=10, n_fashion=30)
    assert data.x_train.shape == (140, 1, 28, 28) and data.num_classes == 5
    assert torch.bincount(data.y_train).tolist() == [60, 20, 20, 20, 20]
    assert torch.bincount(data.y_test).tolist() == [30, 10, 10, 10, 10]
    assert data.unseen["held-out digits"].shape == (30, 1, 28, 28)
    assert data.unseen["Fashion-MNIST"].shape == (30, 1, 28, 28)
    with pytest.raises(ValueError, match="must not overlap"):
        make_mnist_open_set(coi_digits=(0, 1), background_digits=(1, 2))
