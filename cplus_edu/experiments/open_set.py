"""Chapter 02's experiment: open-set background on MNIST.

Some digits are the classes of interest (labels 1..C), other digits are the background seen in
training (label 0), and at test time an *unseen* background must also come out as background:
digits held out of training, and Fashion-MNIST clothes. ``run_open_set`` trains one small model per
(loss, seed) and measures, on test data:

- ``coi_acc``: accuracy on the classes of interest (predicting background counts as wrong);
- ``recall_seen`` / ``recall_digits`` / ``recall_fashion``: share of seen-background, held-out-digit
  and Fashion-MNIST test images classified as background (argmax);
- ``auroc_digits`` / ``auroc_fashion``: AUROC of the softmax background probability, unseen
  background against class-of-interest test images (threshold-free: does the score rank them?);
- ``auroc_dist_digits`` / ``auroc_dist_fashion``: the same for the distance to the nearest class
  centre on the unit sphere (centres = normalised mean training feature of each class of
  interest, the same rule for every loss), the geometric score of the paper's Sec. 3.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.metrics import (
    background_auroc,
    background_recall,
    background_score,
    class_means,
    coi_accuracy,
    nearest_center_distance,
)
from cplus_edu.models import MLP
from cplus_edu.train import fit, predict
from cplus_edu.utils import progress_disabled, seed_everything

OPEN_SET_METRICS = ("coi_acc", "recall_seen", "recall_digits", "recall_fashion", "auroc_digits",
           "auroc_fashion", "auroc_dist_digits", "auroc_dist_fashion")  # fmt: skip

#: mIoU (%) on PASCAL VOC 2012 val, DeepLabV3+ / ResNet-50, from the C+1 paper's Tables 1-4
PAPER_VOC_MIOU = {
    "Table 1 (terms)": {
        "L_sep (CE)": 75.93,
        "L_sep + L_compact": 76.25,
        "L_C+1 (all three)": 77.35,
    },
    "Table 2 (centres)": {"learnable": 76.68, "moving average": 77.35, "shared": 76.99},
    "Table 3 (alpha, beta=1e-4)": {"0.01": 76.82, "0.1": 77.35, "1": 75.22},
    "Table 4 (beta, alpha=0.1)": {"0.001": 75.93, "0.0001": 77.35, "0.00001": 76.47},
}


@dataclass
class OpenSetData:
    """Train and test images ``[N, 1, 28, 28]``; labels 0 = background, 1..C = ``coi_digits``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor  # classes of interest and seen-background digits, test split
    y_test: torch.Tensor
    unseen: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> images, all background
    coi_digits: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        """C + 1."""
        return len(self.coi_digits) + 1


def relabel(digits: torch.Tensor, coi_digits: Sequence[int]) -> torch.Tensor:
    """Digit labels -> C+1 labels: ``coi_digits[i]`` becomes ``i + 1``, every other digit 0."""
    labels = torch.zeros_like(digits)
    for i, d in enumerate(coi_digits):
        labels[digits == d] = i + 1
    return labels


def make_mnist_open_set(
    coi_digits: Sequence[int] = (0, 1, 2, 3),
    background_digits: Sequence[int] = (4, 5, 6),
    unseen_digits: Sequence[int] = (7, 8, 9),
    n_per_class: int = 300,
    n_test_per_class: int = 200,
    n_fashion: int = 600,
    seed: int = 0,
    root=None,
) -> OpenSetData:
    """MNIST with ``coi_digits`` as classes of interest and ``background_digits`` as background;
    ``unseen_digits`` (MNIST test) and Fashion-MNIST test images as the unseen background."""
    from cplus_edu.data import load_fashion_mnist, load_mnist

    groups = [set(coi_digits), set(background_digits), set(unseen_digits)]
    if any(a & b for i, a in enumerate(groups) for b in groups[i + 1 :]):
        raise ValueError(f"coi_digits {coi_digits}, background_digits {background_digits} and "
                         f"unseen_digits {unseen_digits} must not overlap")  # fmt: skip
    if not coi_digits or not background_digits:
        raise ValueError("coi_digits and background_digits must both be non-empty")
    seen = [*coi_digits, *background_digits]
    x_train, d_train = load_mnist("train", seen, n_per_class, seed, root=root)
    x_test, d_test = load_mnist("test", seen, n_test_per_class, seed, root=root)
    unseen = {}
    if unseen_digits:
        unseen["held-out digits"] = load_mnist("test", unseen_digits, n_test_per_class, seed,
                                               root=root)[0]  # fmt: skip
    if n_fashion:
        per_class = -(-n_fashion // 10)  # Fashion-MNIST has 10 classes
        unseen["Fashion-MNIST"] = load_fashion_mnist("test", None, per_class, seed, root=root)[0]
    return OpenSetData(x_train, relabel(d_train, coi_digits), x_test, relabel(d_test, coi_digits),
                       unseen, tuple(coi_digits))  # fmt: skip


def center_distances(model: nn.Module, data: OpenSetData) -> dict[str, torch.Tensor]:
    """``{group: [N] distance to the nearest class centre}`` for the test groups (classes of
    interest, seen background, each unseen background), on the unit sphere; centres from
    ``class_means`` of the training features."""
    train_features, _ = predict(model, data.x_train)
    centers = class_means(train_features, data.y_train, data.num_classes)
    features, _ = predict(model, data.x_test)
    groups = {"classes of interest": features[data.y_test != 0],
              "seen background": features[data.y_test == 0]}  # fmt: skip
    groups.update({name: predict(model, x)[0] for name, x in data.unseen.items()})
    return {name: nearest_center_distance(f, centers) for name, f in groups.items()}


def evaluate_open_set(model: nn.Module, data: OpenSetData) -> dict[str, float]:
    """The metrics listed in the module docstring, for one trained model, plus ``coi_spread``:
    the mean squared distance of class-of-interest test features (normalised) to their own
    class centre (what ``L_compact`` shrinks)."""
    train_features, _ = predict(model, data.x_train)
    centers = class_means(train_features, data.y_train, data.num_classes)
    features, logits = predict(model, data.x_test)
    is_coi = data.y_test != 0
    own = centers[data.y_test[is_coi] - 1]  # `[N_coi, D]`
    result = {"coi_acc": coi_accuracy(logits, data.y_test),
              "recall_seen": background_recall(logits, data.y_test),
              "coi_spread": (F.normalize(features[is_coi], dim=1) - own).square().sum(1)
              .mean().item()}  # fmt: skip
    coi_p = background_score(logits[is_coi])
    coi_d = nearest_center_distance(features[is_coi], centers)
    for name, key in [("held-out digits", "digits"), ("Fashion-MNIST", "fashion")]:
        if name not in data.unseen:
            continue
        u_features, u_logits = predict(model, data.unseen[name])
        result[f"recall_{key}"] = background_recall(u_logits)
        result[f"auroc_{key}"] = background_auroc(background_score(u_logits), coi_p)
        u_d = nearest_center_distance(u_features, centers)
        result[f"auroc_dist_{key}"] = background_auroc(u_d, coi_d)
    return result


def run_open_set(
    data: OpenSetData,
    losses: dict[str, Callable[[nn.Module], Callable]],
    seeds: Sequence[int] = (0,),
    *,
    make_model: Callable[[], nn.Module] | None = None,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 1e-3,
    progress: bool | None = None,
    keep_models: dict | None = None,
) -> list[dict]:
    """Train one model per (seed, loss) and evaluate it; return one row dict per run.

    ``losses`` maps a name to ``make_loss(model)`` (the model is passed so that shared centres
    can use ``model.head``). ``make_model`` defaults to an MLP with a 32-D embedding. A row holds
    the loss name, the seed, the metrics of ``evaluate_open_set`` and the last epoch's mean of
    each loss term (``term_separability`` ...) when the loss reports ``terms``. Pass a dict as
    ``keep_models`` to receive the trained models under ``(seed, name)``.
    """
    from tqdm.auto import tqdm

    if not losses or not seeds:
        raise ValueError("losses and seeds must be non-empty")
    if make_model is None:

        def make_model():  # noqa: E306
            return MLP(28 * 28, data.num_classes, embedding_dim=32, hidden=(256, 128))

    runs = [(seed, name) for seed in seeds for name in losses]
    show = (not progress_disabled()) if progress is None else progress
    rows = []
    for seed, name in tqdm(runs, desc="open-set runs", disable=not show):
        seed_everything(seed)
        model = make_model()
        loss_fn = losses[name](model)
        history = fit(model, loss_fn, (data.x_train, data.y_train), epochs=epochs,
                      batch_size=batch_size, lr=lr, seed=seed, progress=False)  # fmt: skip
        terms = {f"term_{k}": v[-1] for k, v in history.terms.items()}
        rows.append({"loss": name, "seed": seed, "train_loss": history.loss[-1], **terms,
                     **evaluate_open_set(model, data)})  # fmt: skip
        if keep_models is not None:
            keep_models[(seed, name)] = model
    return rows


def plot_open_set(summary: dict[str, dict], metrics: Sequence[str] = OPEN_SET_METRICS, ax=None,
                  title: str = "Open-set background on MNIST (mean ± std over seeds)"):  # fmt: skip
    """Grouped bars: one group per metric, one bar per loss, error bars = std over seeds."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(summary)
    for i, (name, values) in enumerate(summary.items()):
        means = [100 * values[m][0] for m in metrics]
        stds = [100 * values[m][1] for m in metrics]
        xs = [j + (i - (len(summary) - 1) / 2) * width for j in range(len(metrics))]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=name)
    ax.set_xticks(range(len(metrics)), metrics, rotation=20)
    ax.set_ylabel("value (%)")
    ax.set_xlabel("metric")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.figure.tight_layout()
    return ax
