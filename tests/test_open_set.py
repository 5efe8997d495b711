"""Chapter 02's open-set experiment: data split, evaluation, runs, summaries."""

import math
import os
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from cplus_edu.experiments import (
    CONFIDENCE_METRICS,
    DEFAULT_SPLIT,
    INSIDE_METRICS,
    OPEN_SET_METRICS,
    PAPER_VOC_MIOU,
    DigitSplit,
    OpenSetData,
    center_distances,
    class_predictions,
    coi_confidence,
    confident_share,
    draw_digit_split,
    evaluate_open_set,
    make_mnist_open_set,
    metric_table,
    paired_differences,
    paired_table,
    plot_confidence_histogram,
    plot_confident_gallery,
    plot_open_set,
    plot_paired_differences,
    relabel,
    run_open_set,
    run_split_study,
)
from cplus_edu.losses import CPlusOneLoss

matplotlib.use("Agg")
DATA = Path(os.environ.get("CPLUS_EDU_DATA", "~/.cache/cplus_edu")).expanduser()
needs_mnist = pytest.mark.skipif(
    not (DATA / "MNIST" / "raw").is_dir() or not (DATA / "FashionMNIST" / "raw").is_dir(),
    reason=f"MNIST / Fashion-MNIST are not in the data root {DATA} (CI sets CPLUS_EDU_DATA)",
)
needs_cifar = pytest.mark.skipif(
    not (DATA / "cifar10-jpeg" / "test").is_dir(),
    reason=f"the CIFAR-10 JPEG copy is not in the data root {DATA} (CI sets CPLUS_EDU_DATA)",
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
    unseen = {"held-out digits": planted([-1] * 5), "Fashion-MNIST": planted([-1] * 4),
              "CIFAR-10 (grey)": planted([-1] * 3)}  # fmt: skip
    return OpenSetData(planted(y_train), y_train, planted(y_test), y_test, unseen, (7, 8))


def test_relabel_maps_classes_of_interest_to_1_to_c_and_the_rest_to_background():
    digits = torch.tensor([0, 3, 5, 9, 3, 1])
    assert relabel(digits, (3, 9)).tolist() == [0, 1, 0, 2, 1, 0]


def test_evaluate_open_set_on_a_perfect_and_on_a_fooled_model():
    data = toy_data()
    perfect = evaluate_open_set(Oracle(answer_unseen=0), data)
    expected = {*OPEN_SET_METRICS, *CONFIDENCE_METRICS, *INSIDE_METRICS, "coi_spread"}
    assert set(perfect) == expected
    assert perfect.pop("coi_spread") == pytest.approx(0.0, abs=1e-12)  # CoIs on their centres
    assert all(perfect.pop(f"inside_{k}") == 0.0 for k in ["digits", "fashion", "cifar"])
    sure = 1 / (1 + 2 * torch.exp(torch.tensor(-10.0))).item()  # softmax of logits (10, 0, 0)
    assert perfect.pop("conf_coi") == pytest.approx(sure) and perfect.pop("confident_coi") == 1.0
    low = torch.exp(torch.tensor(-10.0)).item() * sure  # unseen answered background: p(CoI) tiny
    for k in ["digits", "fashion", "cifar"]:
        assert perfect.pop(f"conf_{k}") == pytest.approx(low)
        assert perfect.pop(f"confident_{k}") == 0.0
    assert all(v == 1.0 for v in perfect.values()), perfect
    fooled = evaluate_open_set(Oracle(answer_unseen=1), data)  # unseen background -> class 1
    assert fooled["recall_digits"] == 0.0 and fooled["recall_fashion"] == 0.0
    assert fooled["recall_cifar"] == 0.0 and fooled["confident_cifar"] == 1.0
    assert fooled["conf_cifar"] == pytest.approx(sure)  # as sure as of a real class of interest
    assert fooled["coi_acc"] == 1.0 and fooled["recall_seen"] == 1.0
    assert fooled["auroc_fashion"] == 0.5  # p(background) ties with the CoIs': no ranking
    assert fooled["auroc_dist_fashion"] == 1.0  # but their features are far from every centre
    assert fooled["inside_cifar"] == 0.0


def test_run_open_set_trains_every_loss_and_seed_deterministically():
    torch.manual_seed(0)
    y = torch.tensor([0, 1, 2] * 10)
    x = planted(y) + 0.1 * torch.randn(30, 1, 28, 28)
    data = OpenSetData(x, y, x[:12], y[:12], {"Fashion-MNIST": torch.rand(6, 1, 28, 28)}, (4, 5))
    losses = {
        "CE": lambda m: nn.CrossEntropyLoss(),
        "C+1 shared": lambda m: CPlusOneLoss(3, 4, centers="shared", classifier=m.head),
    }
    kwargs = dict(
        seeds=(0, 1),
        epochs=2,
        batch_size=10,
        progress=False,
        make_model=lambda: __import__("cplus_edu").MLP(784, 3, 4, hidden=(8,)),
    )
    rows = run_open_set(data, losses, **kwargs)
    assert [(r["seed"], r["loss"]) for r in rows] == [
        (0, "CE"),
        (0, "C+1 shared"),
        (1, "CE"),
        (1, "C+1 shared"),
    ]
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
                               "Fashion-MNIST", "CIFAR-10 (grey)"]  # fmt: skip
    assert distances["classes of interest"].max() < 1e-6
    assert distances["Fashion-MNIST"].min() > 1.0 and len(distances["Fashion-MNIST"]) == 4


def test_plot_open_set_labels_everything():
    summary = {"CE": {"coi_acc": (0.9, 0.01)}, "C+1": {"coi_acc": (0.95, 0.02)}}
    ax = plot_open_set(summary, ["coi_acc"])
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 2


def test_paper_tables_have_the_reported_best_setting():
    best = {table: max(rows, key=rows.get) for table, rows in PAPER_VOC_MIOU.items()}
    assert best == {
        "Table 1 (terms)": "L_C+1 (all three)",
        "Table 2 (centres)": "moving average",
        "Table 3 (alpha, beta=1e-4)": "0.1",
        "Table 4 (beta, alpha=0.1)": "0.0001",
    }


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


def test_draw_digit_split_is_deterministic_disjoint_and_varies_with_the_seed():
    splits = [draw_digit_split(s) for s in range(20)]
    assert splits == [draw_digit_split(s) for s in range(20)]
    for split in splits:
        assert isinstance(split, DigitSplit)
        assert [len(g) for g in split] == [4, 3, 3]
        assert sorted(split.coi + split.seen + split.unseen) == list(range(10))
        assert all(list(g) == sorted(g) for g in split)
    assert len({s.coi for s in splits}) > 10  # not the same classes of interest every time
    small = draw_digit_split(5, n_coi=2, n_seen=2, n_unseen=0)
    assert [len(g) for g in small] == [2, 2, 0] and not set(small.coi) & set(small.seen)
    assert str(DEFAULT_SPLIT) == "CoI 0123 | seen 456 | unseen 789"
    with pytest.raises(ValueError, match="> 10 digits"):
        draw_digit_split(0, n_coi=5, n_seen=3, n_unseen=3)
    with pytest.raises(ValueError, match="n_seen must be a positive int"):
        draw_digit_split(0, n_seen=0)


def test_coi_confidence_and_confident_share_on_a_hand_made_example():
    # rows: sure of class 1; sure of background; split between classes 1 and 2; background index 2
    logits = torch.log(torch.tensor([[0.02, 0.95, 0.03], [0.96, 0.02, 0.02], [0.2, 0.4, 0.4]]))
    assert torch.allclose(coi_confidence(logits), torch.tensor([0.95, 0.02, 0.4]))
    assert confident_share(logits) == pytest.approx(1 / 3)
    assert confident_share(logits, threshold=0.3) == pytest.approx(2 / 3)
    slow = [max(p for k, p in enumerate(row) if k != 2) for row in logits.softmax(1).tolist()]
    assert coi_confidence(logits, background_index=2).tolist() == pytest.approx(slow)
    with pytest.raises(ValueError, match="threshold"):
        confident_share(logits, threshold=1.0)
    with pytest.raises(TypeError, match="logits"):
        coi_confidence(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="empty"):
        confident_share(torch.zeros(0, 3))


def test_class_predictions_name_the_digit_of_the_most_likely_class_of_interest():
    data = toy_data()  # classes of interest are the digits 7 and 8
    x = torch.cat([planted([1, 2]), planted([-1])])
    digit, prob, predicted = class_predictions(Oracle(answer_unseen=0), x, data.coi_digits)
    assert digit[:2].tolist() == [7, 8] and predicted.tolist() == [1, 2, 0]
    assert prob[0] > 0.99 and prob[2] < 1e-3


def _fake_split_data(coi, seen, unseen, n_per_class=5, n_test_per_class=3, **_):
    """Stands in for ``make_mnist_open_set``: images with the digit planted in pixel (0, 0)."""
    torch.manual_seed(sum(coi))
    digits = torch.tensor([d for d in [*coi, *seen] for _ in range(n_per_class)])
    x = planted(relabel(digits, coi)) + 0.1 * torch.randn(len(digits), 1, 28, 28)
    y = relabel(digits, coi)
    return OpenSetData(x, y, x[::2], y[::2], {"CIFAR-10 (grey)": torch.rand(4, 1, 28, 28)},
                       tuple(coi))  # fmt: skip


def test_run_split_study_pairs_runs_by_seed_and_split(monkeypatch):
    import cplus_edu.experiments.open_set as recipe

    calls = []

    def fake(coi, seen, unseen, **kwargs):
        calls.append((coi, seen, unseen, kwargs))
        return _fake_split_data(coi, seen, unseen, **kwargs)

    monkeypatch.setattr(recipe, "make_mnist_open_set", fake)
    losses = {"CE": lambda m: nn.CrossEntropyLoss(), "C+1": lambda m: CPlusOneLoss(5, 4)}
    models = {}
    rows = run_split_study(
        (3, 7),
        losses,
        (0, 1),
        data_kwargs={"n_per_class": 4},
        epochs=1,
        batch_size=8,
        progress=False,
        keep_models=models,
        make_model=lambda: __import__("cplus_edu").MLP(784, 5, 4, hidden=(8,)),
    )
    assert [(c[:3], c[3]) for c in calls] == [(tuple(draw_digit_split(s)), {"n_per_class": 4})
                                              for s in (3, 7)]  # fmt: skip
    assert [(r["split"], r["seed"], r["loss"]) for r in rows] == [
        (s, seed, name) for s in (3, 7) for seed in (0, 1) for name in losses]  # fmt: skip
    assert all(r["digits"] == draw_digit_split(r["split"]) for r in rows)
    assert set(models) == {(r["split"], r["seed"], r["loss"]) for r in rows}
    diffs = paired_differences(rows, "CE", ["coi_acc", "recall_cifar"], pair_on=("seed", "split"))
    assert list(diffs) == ["C+1"] and len(diffs["C+1"]["coi_acc"]) == 4
    by_key = {(r["split"], r["seed"], r["loss"]): r for r in rows}
    expected = [by_key[(s, seed, "C+1")]["recall_cifar"] - by_key[(s, seed, "CE")]["recall_cifar"]
                for s in (3, 7) for seed in (0, 1)]  # fmt: skip
    assert diffs["C+1"]["recall_cifar"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="distinct"):
        run_split_study((1, 1), losses, (0,))
    with pytest.raises(ValueError, match="non-empty"):
        run_split_study((), losses, (0,))


def test_confidence_and_paired_plots_label_everything():
    images = torch.rand(5, 1, 28, 28)
    digits, predicted = torch.tensor([1, 2, 3, 1, 2]), torch.tensor([1, 0, 2, 1, 0])
    fig = plot_confident_gallery(images, digits, torch.rand(5), predicted, list("abcde"), cols=3)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 5 and titled[1] == "background" and "'1'" in titled[0]
    ax = plot_confidence_histogram({"digits": torch.rand(20), "photos": torch.rand(10)})
    assert ax.get_title() and ax.get_xlabel() and "%" in ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 3  # two groups and the threshold line
    diffs = {"C+1": {"recall_cifar": [0.1, -0.02, 0.05]}}
    ax = plot_paired_differences(diffs, ["recall_cifar"], "CE")
    assert "3 pairs" in ax.get_title() and "points" in ax.get_ylabel()
    assert ax.collections[0].get_offsets().shape == (3, 2)


@needs_mnist
@needs_cifar
def test_make_mnist_open_set_adds_greyscale_cifar_as_far_background():
    data = make_mnist_open_set(n_per_class=5, n_test_per_class=5, n_fashion=10, n_cifar=20)
    photos = data.unseen["CIFAR-10 (grey)"]
    assert photos.shape == (20, 1, 28, 28) and photos.dtype == torch.float32
    assert 0.0 <= photos.min() and photos.max() <= 1.0 and photos.std() > 0.05
    assert torch.bincount(data.unseen_labels["CIFAR-10 (grey)"]).tolist() == [2] * 10
    assert list(data.unseen) == ["held-out digits", "Fashion-MNIST", "CIFAR-10 (grey)"]


def test_metric_table_has_a_row_per_metric_and_a_column_per_loss():
    summary = {"CE": {"coi_acc": (0.9, 0.01), "term_compact": (math.nan, math.nan)},
               "C+1": {"coi_acc": (0.95, 0.02), "term_compact": (0.5, 0.1)}}  # fmt: skip
    lines = metric_table(summary, ["coi_acc", "term_compact"]).splitlines()
    assert lines[0].split() == ["metric", "CE", "C+1"]
    assert lines[2].split() == ["coi_acc", "90.0", "±", "1.0", "95.0", "±", "2.0"]
    assert lines[3].split() == ["term_compact", "-", "50.0", "±", "10.0"]
    assert metric_table(summary, ["coi_acc"], percent=False).splitlines()[2].split()[1] == "0.9"


def test_paired_table_gives_the_mean_its_t_interval_and_the_pairs_up():
    diffs = {"C+1": {"recall": [0.01, 0.03, 0.02], "spread": [-0.1, -0.2, -0.3]},
             "one": {"recall": [0.05], "spread": [-0.1]}}  # fmt: skip
    lines = paired_table(diffs, ["recall", "spread"], "CE").splitlines()
    assert lines[0].split() == ["metric", "C+1", "-", "CE", "one", "-", "CE"]
    # mean 2.0 points, sd 1.0, t(0.975, 2) = 4.303: half-width 4.303 / sqrt(3) = 2.48 points
    assert lines[2].split()[:5] == ["recall", "+2.0", "[-0.5,", "+4.5]", "3/3"]
    assert lines[3].split()[:5] == ["spread", "-20.0", "[-44.8,", "+4.8]", "0/3"]
    assert "(n = 1)" in lines[2]


def _fake_results():
    """Stored results of two splits x two seeds: C+1 (paper) +2 points of photo recall on split
    10, +4 on split 11; alpha = beta = 1 worse than CE by 1 point everywhere."""
    from cplus_edu.experiments.open_set import SCALES, STUDY_LOSSES

    params = {**SCALES["reference"], "split_seeds": [10, 11], "split_run_seeds": [0, 1]}
    shift = {"CE": 0.0, "C+1 (paper)": None, "C+1 alpha=1 beta=1": -0.01}
    runs = []
    for lr, acc in [(1e-3, 0.97), (3e-3, 0.98)]:
        for name in STUDY_LOSSES:
            runs.append({"job": {"stage": "tune", "loss": name, "lr": lr, "seed": 0},
                         "metrics": {"lr": lr, "val_acc": acc + (name == "CE") * (lr < 2e-3)}})
    for split in (10, 11):
        for seed in (10 * split, 10 * split + 1):
            for name in STUDY_LOSSES:
                d = shift[name] if shift[name] is not None else (0.02 if split == 10 else 0.04)
                row = {m: 0.5 + d for m in [*OPEN_SET_METRICS, *INSIDE_METRICS]}
                row.update(loss=name, seed=seed, split=split, coi_acc=0.985 + d / 10,
                           coi_spread=0.2 - (name != "CE") * 0.05)
                runs.append({"job": {"stage": "test", "loss": name, "seed": seed}, "metrics": row})
    return {"params": params, "runs": runs}


def test_reference_jobs_tune_each_loss_then_pair_runs_by_split_and_seed():
    from cplus_edu.experiments.open_set import SCALES, STUDY_LOSSES, jobs

    params = SCALES["reference"]
    all_jobs = jobs(params)
    tune = [j for j in all_jobs if j["stage"] == "tune"]
    test = [j for j in all_jobs if j["stage"] == "test"]
    assert len(tune) == len(STUDY_LOSSES) * len(params["lr_grid"])
    n_runs = len(params["split_seeds"]) * len(params["split_run_seeds"])
    assert len(test) == len(STUDY_LOSSES) * n_runs
    assert len(params["split_seeds"]) >= 10
    assert not set(params["split_seeds"]) & set(SCALES["teaching"]["split_seeds"])
    # every (split, seed) has one run of each loss, and no two splits share a training seed
    pairs = {(j["split"], j["seed"]) for j in test}
    assert len(pairs) == len(test) // len(STUDY_LOSSES)
    assert len({seed for _, seed in pairs}) == len(pairs)
    assert all(j["lr"] == params["lr"][j["loss"]] for j in test)
    assert not [j for j in jobs(SCALES["teaching"]) if j["stage"] == "tune"]


def test_chosen_lr_takes_each_losss_best_validation_accuracy():
    from cplus_edu.experiments.open_set import chosen_lr

    assert chosen_lr(_fake_results()) == {"CE": 1e-3, "C+1 (paper)": 3e-3,
                                          "C+1 alpha=1 beta=1": 3e-3}  # fmt: skip


def test_per_split_differences_and_the_verdict_over_splits():
    from cplus_edu.experiments.open_set import (
        over_splits,
        per_split_differences,
        reference_claims,
        study_rows,
    )

    rows = study_rows(_fake_results())
    diffs = per_split_differences(rows, "CE", ["recall_cifar"])
    assert diffs["C+1 (paper)"]["recall_cifar"] == {10: pytest.approx([0.02, 0.02]),
                                                    11: pytest.approx([0.04, 0.04])}  # fmt: skip
    assert over_splits(diffs["C+1 (paper)"]["recall_cifar"]) == pytest.approx([0.02, 0.04])
    with pytest.raises(ValueError, match="baseline"):
        per_split_differences(rows, "nothing", ["recall_cifar"])
    claims = {c.id: c for c in reference_claims(_fake_results())}
    assert set(claims) == {"02-paper-weights", "02-strong-weights", "02-compact",
                           "02-unseen-inside"}  # fmt: skip
    assert all(c.scale == "reference" for c in claims.values())
    # two splits, +2 and +4 points: the t interval (12.7 x 1 point) contains 0
    assert claims["02-paper-weights"].verdict == "inconclusive at this scale"
    assert claims["02-strong-weights"].verdict == "does not reproduce at this scale"
    assert claims["02-compact"].verdict == "holds"  # 5 points tighter on every split


def test_stored_reference_learning_rates_are_the_validation_choices():
    from cplus_edu.experiments.open_set import SCALES, chosen_lr
    from cplus_edu.experiments.reference import load_results

    stored = load_results("02_open_set_mnist", Path(__file__).resolve().parents[1])
    if stored is None:
        pytest.skip("no stored reference results")
    assert chosen_lr(stored) == SCALES["reference"]["lr"]
