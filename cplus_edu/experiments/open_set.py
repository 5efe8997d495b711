"""Chapter 02's experiment: open-set background on MNIST.

Some digits are the classes of interest (labels 1..C), other digits are the background seen in
training (label 0), and at test time an *unseen* background must also come out as background:
digits held out of training, Fashion-MNIST clothes and (far from anything the model saw)
greyscale CIFAR-10 photos. ``run_open_set`` trains one small model per (loss, seed) on one digit
split; ``draw_digit_split`` draws a random split from a split seed and ``run_split_study`` repeats
the runs over (split, seed, loss), so that every claim can be checked on pairs of runs that share
their seed and split. Measured on test data (``<u>`` is ``digits``, ``fashion`` or ``cifar``):

- ``coi_acc``: accuracy on the classes of interest (predicting background counts as wrong);
- ``recall_seen`` / ``recall_<u>``: share of seen-background / unseen-background test images
  classified as background (argmax);
- ``auroc_<u>``: AUROC of the softmax background probability, unseen background against
  class-of-interest test images (threshold-free: does the score rank them?);
- ``auroc_dist_<u>``: the same for the distance to the nearest class centre on the unit sphere
  (centres = normalised mean training feature of each class of interest, the same rule for every
  loss), the geometric score of the paper's Sec. 3.5;
- ``inside_<u>``: share of the unseen background inside a class ball, i.e. nearer to a class
  centre than the radius holding 95 % of the class-of-interest test images (Sec. 3.5 says: few);
- ``conf_coi`` / ``conf_<u>``: mean of the largest class-of-interest softmax probability
  (``coi_confidence``), and ``confident_coi`` / ``confident_<u>``: the share of images given a
  class of interest with probability above 0.9 (``confident_share``) — how sure the model is when
  it calls an image a digit it knows.

``metric_table`` and ``paired_table`` print the summaries with one row per metric and one column
per loss, so that a table stays narrow however many metrics it shows; the paired one gives each
mean difference with its 95 % interval (the course's verdict rule, ``paired_verdict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.checks import check_class_index, check_float, check_nonempty
from cplus_edu.losses import CPlusOneLoss
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
from cplus_edu.utils import progress_bar, seed_everything

from .ledger import Claim
from .tables import summarize, text_table
from .verdicts import paired_verdict

#: key of each unseen-background set in the metric names (``recall_digits`` ...)
UNSEEN_KEYS = {"held-out digits": "digits", "Fashion-MNIST": "fashion", "CIFAR-10 (grey)": "cifar"}
OPEN_SET_METRICS = ("coi_acc", "recall_seen", "recall_digits", "recall_fashion", "recall_cifar",
                    "auroc_digits", "auroc_fashion", "auroc_cifar", "auroc_dist_digits",
                    "auroc_dist_fashion", "auroc_dist_cifar")  # fmt: skip
#: how confident the class predictions are (see the module docstring)
CONFIDENCE_METRICS = ("conf_coi", "conf_digits", "conf_fashion", "conf_cifar", "confident_coi",
                      "confident_digits", "confident_fashion", "confident_cifar")  # fmt: skip
INSIDE_METRICS = ("inside_digits", "inside_fashion", "inside_cifar")

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
    unseen_labels: dict[str, torch.Tensor] = field(default_factory=dict)  # their own labels

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


class DigitSplit(NamedTuple):
    """Which digits play which part: classes of interest, background seen in training, background
    held out until test time. Each group is sorted."""

    coi: tuple[int, ...]
    seen: tuple[int, ...]
    unseen: tuple[int, ...]

    def __str__(self) -> str:
        show = lambda digits: "".join(map(str, digits))  # noqa: E731
        return f"CoI {show(self.coi)} | seen {show(self.seen)} | unseen {show(self.unseen)}"


#: the chapter's fixed split (the ablation runs on it)
DEFAULT_SPLIT = DigitSplit((0, 1, 2, 3), (4, 5, 6), (7, 8, 9))


def draw_digit_split(split_seed: int, n_coi: int = 4, n_seen: int = 3,
                     n_unseen: int = 3) -> DigitSplit:  # fmt: skip
    """A random split of the ten digits, the same for the same ``split_seed``: a seeded
    permutation of 0..9 gives ``n_coi`` classes of interest, then ``n_seen`` seen-background and
    ``n_unseen`` held-out digits (the groups are disjoint; digits beyond their total are unused)."""
    for name, n in [("n_coi", n_coi), ("n_seen", n_seen)]:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    if not isinstance(n_unseen, int) or n_unseen < 0:
        raise ValueError(f"n_unseen must be a non-negative int, got {n_unseen!r}")
    if n_coi + n_seen + n_unseen > 10:
        raise ValueError(f"n_coi + n_seen + n_unseen = {n_coi + n_seen + n_unseen} > 10 digits")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(split_seed)).tolist()
    cuts = [0, n_coi, n_coi + n_seen, n_coi + n_seen + n_unseen]
    return DigitSplit(*(tuple(sorted(order[a:b])) for a, b in zip(cuts, cuts[1:])))


def make_mnist_open_set(
    coi_digits: Sequence[int] = (0, 1, 2, 3),
    background_digits: Sequence[int] = (4, 5, 6),
    unseen_digits: Sequence[int] = (7, 8, 9),
    n_per_class: int = 300,
    n_test_per_class: int = 200,
    n_fashion: int = 600,
    seed: int = 0,
    root=None,
    n_cifar: int = 0,
) -> OpenSetData:
    """MNIST with ``coi_digits`` as classes of interest and ``background_digits`` as background;
    ``unseen_digits`` (MNIST test), Fashion-MNIST test images and ``n_cifar`` greyscale CIFAR-10
    test images resized to 28x28 (``load_cifar10_gray``) as the unseen background."""
    from cplus_edu.data import load_cifar10_gray, load_fashion_mnist, load_mnist

    groups = [set(coi_digits), set(background_digits), set(unseen_digits)]
    if any(a & b for i, a in enumerate(groups) for b in groups[i + 1 :]):
        raise ValueError(f"coi_digits {coi_digits}, background_digits {background_digits} and "
                         f"unseen_digits {unseen_digits} must not overlap")  # fmt: skip
    if not coi_digits or not background_digits:
        raise ValueError("coi_digits and background_digits must both be non-empty")
    seen = [*coi_digits, *background_digits]
    x_train, d_train = load_mnist("train", seen, n_per_class, seed, root=root)
    x_test, d_test = load_mnist("test", seen, n_test_per_class, seed, root=root)
    unseen, labels = {}, {}
    if unseen_digits:
        unseen["held-out digits"], labels["held-out digits"] = load_mnist(
            "test", unseen_digits, n_test_per_class, seed, root=root)  # fmt: skip
    per_class = lambda n: -(-n // 10)  # noqa: E731 (both sets have 10 classes)
    if n_fashion:
        unseen["Fashion-MNIST"], labels["Fashion-MNIST"] = load_fashion_mnist(
            "test", None, per_class(n_fashion), seed, root=root)  # fmt: skip
    if n_cifar:
        unseen["CIFAR-10 (grey)"], labels["CIFAR-10 (grey)"] = load_cifar10_gray(
            "test", None, per_class(n_cifar), seed, root=root)  # fmt: skip
    return OpenSetData(x_train, relabel(d_train, coi_digits), x_test, relabel(d_test, coi_digits),
                       unseen, tuple(coi_digits), labels)  # fmt: skip


def coi_confidence(logits: torch.Tensor, background_index: int = 0) -> torch.Tensor:
    """``[N]`` largest softmax probability among the classes of interest (background left out):
    how sure the model is of the digit it would name."""
    check_float("logits", logits, 2)
    check_class_index("background_index", background_index, logits.shape[1])
    if logits.shape[1] < 2:
        raise ValueError("logits need at least one class of interest besides the background")
    p = F.softmax(logits, dim=1)
    keep = torch.arange(logits.shape[1]) != background_index
    return p[:, keep].max(dim=1).values


def confident_share(
    logits: torch.Tensor, threshold: float = 0.9, background_index: int = 0
) -> float:
    """Share of samples given a class of interest with softmax probability above ``threshold``
    (for ``threshold >= 0.5`` that class is also the argmax)."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
    conf = coi_confidence(logits, background_index)
    check_nonempty("logits", conf)
    return (conf > threshold).float().mean().item()


def _test_groups(
    model: nn.Module, data: OpenSetData
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    features, logits = predict(model, data.x_test)
    is_coi = data.y_test != 0
    groups = {"classes of interest": (features[is_coi], logits[is_coi]),
              "seen background": (features[~is_coi], logits[~is_coi])}  # fmt: skip
    groups.update({name: predict(model, x) for name, x in data.unseen.items()})
    return groups


def _centers(model: nn.Module, data: OpenSetData) -> torch.Tensor:
    train_features, _ = predict(model, data.x_train)
    return class_means(train_features, data.y_train, data.num_classes)


def center_distances(model: nn.Module, data: OpenSetData) -> dict[str, torch.Tensor]:
    """``{group: [N] distance to the nearest class centre}`` for the test groups (classes of
    interest, seen background, each unseen background), on the unit sphere; centres from
    ``class_means`` of the training features."""
    centers = _centers(model, data)
    return {name: nearest_center_distance(f, centers)
            for name, (f, _) in _test_groups(model, data).items()}  # fmt: skip


def class_predictions(model: nn.Module, x: torch.Tensor, coi_digits: Sequence[int]):
    """For images ``x``: ``(digit, probability, predicted)``, the class of interest with the largest
    softmax probability (as its digit), that probability, and the argmax label (0 = background)."""
    _, logits = predict(model, x)
    p = F.softmax(logits, dim=1)
    prob, best = p[:, 1:].max(dim=1)
    digit = torch.tensor(coi_digits)[best]
    return digit, prob, logits.argmax(1)


def evaluate_open_set(model: nn.Module, data: OpenSetData, radius_quantile: float = 0.95,
                      threshold: float = 0.9) -> dict[str, float]:  # fmt: skip
    """The metrics listed in the module docstring, for one trained model, plus ``coi_spread``:
    the mean squared distance of class-of-interest test features (normalised) to their own
    class centre (what ``L_compact`` shrinks)."""
    centers = _centers(model, data)
    groups = _test_groups(model, data)
    features, logits = predict(model, data.x_test)
    is_coi = data.y_test != 0
    own = centers[data.y_test[is_coi] - 1]  # `[N_coi, D]`
    coi_f, coi_logits = groups["classes of interest"]
    result = {"coi_acc": coi_accuracy(logits, data.y_test),
              "recall_seen": background_recall(logits, data.y_test),
              "coi_spread": (F.normalize(coi_f, dim=1) - own).square().sum(1).mean().item(),
              "conf_coi": coi_confidence(coi_logits).mean().item(),
              "confident_coi": confident_share(coi_logits, threshold)}  # fmt: skip
    coi_p = background_score(coi_logits)
    coi_d = nearest_center_distance(coi_f, centers)
    radius = torch.quantile(coi_d, radius_quantile)
    for name in data.unseen:
        key = UNSEEN_KEYS.get(name, name)
        u_features, u_logits = groups[name]
        u_d = nearest_center_distance(u_features, centers)
        result[f"recall_{key}"] = background_recall(u_logits)
        result[f"auroc_{key}"] = background_auroc(background_score(u_logits), coi_p)
        result[f"auroc_dist_{key}"] = background_auroc(u_d, coi_d)
        result[f"inside_{key}"] = (u_d <= radius).float().mean().item()
        result[f"conf_{key}"] = coi_confidence(u_logits).mean().item()
        result[f"confident_{key}"] = confident_share(u_logits, threshold)
    return result


def _default_model(data: OpenSetData) -> Callable[[], nn.Module]:
    return lambda: MLP(28 * 28, data.num_classes, embedding_dim=32, hidden=(256, 128))


def _train_and_evaluate(data, name, make_loss, seed, make_model, epochs, batch_size, lr,
                        checkpoint=None):  # fmt: skip
    seed_everything(seed)
    model = make_model()
    loss_fn = make_loss(model)
    history = fit(model, loss_fn, (data.x_train, data.y_train), epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, progress=False,
                  checkpoint=checkpoint)  # fmt: skip
    terms = {f"term_{k}": v[-1] for k, v in history.terms.items()}
    row = {"loss": name, "seed": seed, "train_loss": history.loss[-1], **terms,
           **evaluate_open_set(model, data)}  # fmt: skip
    return row, model


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
    if not losses or not seeds:
        raise ValueError("losses and seeds must be non-empty")
    make_model = make_model or _default_model(data)
    runs = [(seed, name) for seed in seeds for name in losses]
    rows = []
    for seed, name in progress_bar(runs, show=progress, desc="open-set runs"):
        row, model = _train_and_evaluate(data, name, losses[name], seed, make_model, epochs,
                                         batch_size, lr)  # fmt: skip
        rows.append(row)
        if keep_models is not None:
            keep_models[(seed, name)] = model
    return rows


def run_split_study(
    split_seeds: Sequence[int],
    losses: dict[str, Callable[[nn.Module], Callable]],
    seeds: Sequence[int] = (0,),
    *,
    data_kwargs: dict | None = None,
    make_model: Callable[[], nn.Module] | None = None,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float | dict[str, float] = 1e-3,
    progress: bool | None = None,
    keep_models: dict | None = None,
) -> list[dict]:
    """``run_open_set`` over random digit splits: for each split seed, ``draw_digit_split`` picks
    the digits, ``make_mnist_open_set(**data_kwargs)`` loads them, and one model per (seed, loss)
    is trained (at ``lr``, or ``lr[loss]`` if it is a dict). Rows are those of ``run_open_set``
    plus ``split`` (the split seed) and ``digits`` (the ``DigitSplit``), so
    ``paired_differences(..., pair_on=("seed", "split"))`` pairs runs that differ only in the
    loss. ``keep_models`` receives ``(split, seed, name)``."""
    if not losses or not seeds or not split_seeds:
        raise ValueError("split_seeds, losses and seeds must be non-empty")
    if len(set(split_seeds)) != len(split_seeds):
        raise ValueError(f"split_seeds must be distinct, got {tuple(split_seeds)}")
    data_kwargs = dict(data_kwargs or {})
    bar = progress_bar(total=len(split_seeds) * len(seeds) * len(losses), show=progress,
                       desc="split-study runs")  # fmt: skip
    rows = []
    for split_seed in split_seeds:
        split = draw_digit_split(split_seed)
        data = make_mnist_open_set(split.coi, split.seen, split.unseen, **data_kwargs)
        build = make_model or _default_model(data)
        for seed in seeds:
            for name, make_loss in losses.items():
                rate = lr[name] if isinstance(lr, dict) else lr
                row, model = _train_and_evaluate(data, name, make_loss, seed, build, epochs,
                                                 batch_size, rate)  # fmt: skip
                rows.append({"split": split_seed, "digits": split, **row})
                if keep_models is not None:
                    keep_models[(split_seed, seed, name)] = model
                bar.update()
    bar.close()
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
    ax.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right")
    ax.set_ylabel("value (%)")
    ax.set_xlabel("metric")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.figure.tight_layout()
    return ax


def plot_confident_gallery(
    images: torch.Tensor,
    digits: torch.Tensor,
    probs: torch.Tensor,
    predicted: torch.Tensor,
    names: Sequence[str] | None = None,
    cols: int = 8,
    title: str = "Far-OOD images and the model's answer",
):
    """A grid of images ``[N, 1, H, W]``, each titled with the class of interest the model gives
    it and that softmax probability (``class_predictions``); red = that class is the prediction,
    grey = the model says background. ``names`` (e.g. CIFAR-10 class names) go under the image."""
    import matplotlib.pyplot as plt

    n = len(images)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.35 * cols, 1.6 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        as_class = predicted[i].item() != 0
        label = f"'{digits[i].item()}' {100 * probs[i].item():.0f}%" if as_class else "background"
        ax.set_title(label, fontsize=8, color="tab:red" if as_class else "0.4")
        if names is not None:
            ax.text(0.5, -0.08, names[i], transform=ax.transAxes, ha="center", va="top",
                    fontsize=7, color="0.3")  # fmt: skip
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confidence_histogram(
    confidences: dict[str, torch.Tensor],
    ax=None,
    threshold: float = 0.9,
    title: str = "How sure is the model of the digit it names?",
):
    """Histograms (share of each group, in %) of the largest class-of-interest probability, one
    per group of images; a dashed line at ``threshold``."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    bins = np.linspace(0, 1, 26)
    for name, conf in confidences.items():
        weights = np.full(len(conf), 100.0 / max(len(conf), 1))
        values = torch.as_tensor(conf).numpy()
        ax.hist(values, bins=bins, weights=weights, histtype="step", linewidth=1.8,
                label=f"{name} ({len(conf)} images)")  # fmt: skip
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"p = {threshold}")
    ax.set_xlabel("largest class-of-interest softmax probability")
    ax.set_ylabel("share of the group (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center")
    ax.figure.tight_layout()
    return ax


#: CIFAR-10's class names in its label order
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")  # fmt: skip


def plot_paired_differences(
    diffs: dict[str, dict[str, list[float]]],
    metrics: Sequence[str],
    baseline: str,
    ax=None,
    title: str | None = None,
):
    """One dot per pair of runs (same seed and split), in points: ``paired_differences`` of each
    loss against ``baseline`` for each metric; a bar marks the mean, the line at 0 = no change."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(diffs)
    for i, (name, per_metric) in enumerate(diffs.items()):
        color = f"C{i + 1}"
        for j, m in enumerate(metrics):
            values = [100 * d for d in per_metric[m]]
            x = j + (i - (len(diffs) - 1) / 2) * width
            jitter = [x + width * 0.3 * ((k % 5) / 4 - 0.5) for k in range(len(values))]
            ax.scatter(jitter, values, s=12, color=color, alpha=0.7,
                       label=name if j == 0 else None)  # fmt: skip
            mean = sum(values) / len(values)
            ax.hlines(mean, x - width / 2, x + width / 2, color=color, linewidth=2.5)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xticks(range(len(metrics)), metrics, rotation=20, ha="right")
    ax.set_xlabel("metric")
    ax.set_ylabel(f"loss - {baseline} (points)")
    n = len(next(iter(next(iter(diffs.values())).values())))
    ax.set_title(title or f"Paired differences to {baseline}: one dot per (seed, split), {n} pairs")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.figure.tight_layout()
    return ax


def metric_table(summary: dict[str, dict], metrics: Sequence[str], percent: bool = True) -> str:
    """``summarize``'s ``{loss: {metric: (mean, std)}}`` as text: one row per metric, one column
    per loss, ``mean ± std`` (x100 if ``percent``; ``-`` where a loss lacks the metric)."""

    def cell(mean_std: tuple[float, float]) -> str:
        scale = 100.0 if percent else 1.0
        m, sd = mean_std
        return "-" if math.isnan(m) else f"{scale * m:.1f} ± {scale * sd:.1f}"

    lines = [[m, *(cell(values[m]) for values in summary.values())] for m in metrics]
    return text_table(["metric", *summary], lines)


def paired_table(
    diffs: dict[str, dict[str, list[float]]],
    metrics: Sequence[str],
    baseline: str,
    percent: bool = True,
) -> str:
    """``paired_differences`` as text: one row per metric, one column per loss; each cell is the
    mean paired difference, its 95 % interval (``paired_verdict``) and the pairs up, e.g.
    ``+1.4 [-0.2, +3.0] 9/12`` (in points if ``percent``)."""
    scale = 100.0 if percent else 1.0

    def cell(values: list[float]) -> str:
        ev = paired_verdict(values)
        if ev.n < 2:
            return f"{scale * ev.mean:+.1f} (n = {ev.n})"
        f = lambda v: f"{scale * v:+.1f}"  # noqa: E731
        return f"{f(ev.mean)} [{f(ev.low)}, {f(ev.high)}] {ev.up}/{ev.n}"

    lines = [[m, *(cell(d[m]) for d in diffs.values())] for m in metrics]
    return text_table(["metric", *(f"{name} - {baseline}" for name in diffs)], lines)


# --- the two scales of the split study (issue 18): CE against the C+1 loss over digit splits ---

#: the split study's losses (the notebook's and the reference's): name -> make_loss(K, D)
STUDY_LOSSES: dict[str, Callable[[int, int], Callable[[nn.Module], Callable]]] = {
    "CE": lambda k, d: lambda model: nn.CrossEntropyLoss(),
    "C+1 (paper)": lambda k, d: lambda model: CPlusOneLoss(k, d, centers="moving_average"),
    "C+1 alpha=1 beta=1": lambda k, d: lambda model: CPlusOneLoss(k, d, alpha=1.0, beta=1.0),
}
_SLUG = {"CE": "CE", "C+1 (paper)": "C+1_paper", "C+1 alpha=1 beta=1": "C+1_alpha=1_beta=1"}

#: ``teaching``: the notebook's live run; ``reference``: all training images of the seven digits,
#: every test image of the unseen sets, a wider MLP, ten random splits the notebook never shows
#: (split seeds 10-19), two training seeds each (``seed = 10 * split + run``, so no two splits
#: share initial weights), and each loss's
#: learning rate chosen from ``lr_grid`` on a validation share of the training images of split
#: ``tune_split_seed`` (the ``tune`` jobs), the same budget for every loss; ``lr`` holds the
#: choices (``chosen_lr`` recomputes them)
SCALES = {
    "teaching": {
        "coi_digits": [0, 1, 2, 3], "background_digits": [4, 5, 6], "unseen_digits": [7, 8, 9],
        "seeds": [0, 1, 2], "n_per_class": 300, "n_test_per_class": 200, "n_fashion": 600,
        "n_cifar": 600, "embedding_dim": 32, "hidden": [128], "epochs": 6, "batch_size": 128,
        "lr": {name: 2e-3 for name in STUDY_LOSSES}, "lr_grid": [], "tune_split_seed": None,
        "validation_share": 0.1, "split_seeds": [0, 1, 2, 3], "split_run_seeds": [0, 1, 2],
    },
    "reference": {
        "coi_digits": [0, 1, 2, 3], "background_digits": [4, 5, 6], "unseen_digits": [7, 8, 9],
        "seeds": [0, 1, 2], "n_per_class": None, "n_test_per_class": None, "n_fashion": 10000,
        "n_cifar": 10000, "embedding_dim": 32, "hidden": [256, 128], "epochs": 6,
        "batch_size": 128, "lr": {"CE": 3e-3, "C+1 (paper)": 3e-3, "C+1 alpha=1 beta=1": 1e-3},
        "lr_grid": [1e-3, 3e-3],
        "tune_split_seed": 99, "validation_share": 0.1, "split_seeds": list(range(10, 20)),
        "split_run_seeds": [0, 1],
    },
}  # fmt: skip


def data_kwargs(params: dict) -> dict:
    """``make_mnist_open_set``'s sizes from a scale's parameters."""
    return {k: params[k] for k in ("n_per_class", "n_test_per_class", "n_fashion", "n_cifar")}


def jobs(params: dict) -> list[dict]:
    """The reference runner's jobs: the learning-rate ``tune`` runs (one per loss and rate of
    ``lr_grid``), then one ``test`` run per (split, run seed, loss) at that loss's ``lr``."""
    tune = [{"stage": "tune", "split": params["tune_split_seed"], "seed": 0, "loss": name,
             "lr": lr, "key": f"tune_split{params['tune_split_seed']}_{_SLUG[name]}_lr{lr:g}"}
            for name in STUDY_LOSSES for lr in params["lr_grid"]]  # fmt: skip
    test = [{"stage": "test", "split": s, "seed": 10 * s + r, "loss": name,
             "lr": params["lr"][name], "key": f"split{s}_seed{10 * s + r}_{_SLUG[name]}"}
            for s in params["split_seeds"] for r in params["split_run_seeds"]
            for name in STUDY_LOSSES]  # fmt: skip
    return tune + test


@lru_cache(maxsize=1)
def _split_data(split: DigitSplit, sizes: tuple) -> OpenSetData:
    """The split's data, kept while a worker runs that split's jobs one after another."""
    return make_mnist_open_set(split.coi, split.seen, split.unseen, **dict(sizes))


def _validation_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    _, logits = predict(model, x)
    return (logits.argmax(1) == y).float().mean().item()


def run_job(params: dict, job: dict, checkpoint) -> dict:
    """One job of ``jobs``: a ``tune`` job trains on all but ``validation_share`` of the
    training images and returns the accuracy (C+1 labels) on the rest; a ``test`` job trains on
    every training image and returns the row of ``run_open_set`` with the split's digits."""
    split = draw_digit_split(job["split"])
    tune = job["stage"] == "tune"
    sizes = {**data_kwargs(params), **({"n_fashion": 0, "n_cifar": 0} if tune else {})}
    data = _split_data(split, tuple(sorted(sizes.items())))
    k, d = data.num_classes, params["embedding_dim"]
    make_model = lambda: MLP(28 * 28, k, embedding_dim=d, hidden=tuple(params["hidden"]))  # noqa: E731
    if tune:
        order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))
        n_val = round(params["validation_share"] * len(order))
        val, train = order[:n_val], order[n_val:]
        x_val, y_val = data.x_train[val], data.y_train[val]
        data = replace(data, x_train=data.x_train[train], y_train=data.y_train[train])
    row, model = _train_and_evaluate(data, job["loss"], STUDY_LOSSES[job["loss"]](k, d),
                                     job["seed"], make_model, params["epochs"],
                                     params["batch_size"], job["lr"], checkpoint)  # fmt: skip
    if tune:
        return {"lr": job["lr"], "val_acc": _validation_accuracy(model, x_val, y_val)}
    return {**row, "split": job["split"], "coi": list(split.coi), "seen": list(split.seen),
            "unseen": list(split.unseen)}  # fmt: skip


def chosen_lr(results: dict) -> dict[str, float]:
    """Each loss's learning rate with the best validation accuracy among its ``tune`` runs (on a
    tie, the first of ``lr_grid``)."""
    best: dict[str, tuple[float, float]] = {}
    for run in results["runs"]:
        if run["job"]["stage"] == "tune":
            acc, lr = run["metrics"]["val_acc"], run["job"]["lr"]
            if run["job"]["loss"] not in best or acc > best[run["job"]["loss"]][0]:
                best[run["job"]["loss"]] = (acc, lr)
    return {name: lr for name, (_, lr) in best.items()}


def study_rows(results: dict) -> list[dict]:
    """The ``test`` runs' rows (``loss``, ``seed``, ``split``, metrics) of stored results."""
    return [run["metrics"] for run in results["runs"] if run["job"]["stage"] == "test"]


#: the credibility bars: an MLP on every MNIST training image reaches about 98.5 % on the ten
#: digits; on four classes of interest against three background digits CE should reach 98 % on
#: average, and no split should fall below 97 %
CE_ACCURACY_BAR, CE_WORST_BAR = 0.98, 0.97


def credibility(results: dict) -> dict[str, tuple[float, float]]:
    """``{baseline: (measured, bar)}`` of the stored reference results (see the bars above)."""
    ce = [r["coi_acc"] for r in study_rows(results) if r["loss"] == "CE"]
    return {"CE class-of-interest accuracy (mean over splits and seeds)":
            (sum(ce) / len(ce), CE_ACCURACY_BAR),
            "CE class-of-interest accuracy (worst run)": (min(ce), CE_WORST_BAR)}  # fmt: skip


def per_split_differences(
    rows: list[dict], baseline: str, metrics: Sequence[str]
) -> dict[str, dict[str, dict[int, list[float]]]]:
    """``{loss: {metric: {split: [loss - baseline, per seed]}}}``, runs paired by (split, seed)."""
    base = {(r["split"], r["seed"]): r for r in rows if r["loss"] == baseline}
    if not base:
        raise ValueError(f"no run of the baseline {baseline!r} in rows")
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in rows:
        if r["loss"] == baseline or (r["split"], r["seed"]) not in base:
            continue
        for m in metrics:
            per_split = out.setdefault(r["loss"], {}).setdefault(m, {})
            per_split.setdefault(r["split"], []).append(r[m] - base[r["split"], r["seed"]][m])
    return out


def over_splits(per_split: dict[int, list[float]]) -> list[float]:
    """One value per split, the mean of its seeds' differences: what the verdict over splits
    (``paired_verdict``) is applied to, so that ``n`` is the number of splits."""
    return [sum(v) / len(v) for v in per_split.values()]


RECALLS = ("recall_digits", "recall_fashion", "recall_cifar")
#: Sec. 3.5's "p close to 1" read generously: at least 95 % of the unseen background outside
ALLOWED_INSIDE = 0.05


def _mean_of(row: dict, metrics: Sequence[str]) -> float:
    return sum(row[m] for m in metrics) / len(metrics)


def reference_claims(results: dict) -> list[Claim]:
    """Chapter 02's ledger rows that the stored reference results measure, each judged over the
    digit splits: per split the mean over its seeds of the paired difference (C+1 minus CE, or
    for Sec. 3.5 the share outside every class ball minus 95 %), and ``paired_verdict`` over the
    splits."""
    rows = [{**r, "unseen_recall": _mean_of(r, RECALLS),
             "outside_margin": ALLOWED_INSIDE - _mean_of(r, INSIDE_METRICS)}
            for r in study_rows(results)]  # fmt: skip
    metrics = ["unseen_recall", *RECALLS, "coi_acc", "coi_spread"]
    diffs = per_split_differences(rows, "CE", metrics)
    ev = {name: {m: paired_verdict(over_splits(diffs[name][m])) for m in metrics}
          for name in diffs}  # fmt: skip
    compact = paired_verdict([-d for d in over_splits(diffs["C+1 (paper)"]["coi_spread"])])
    paper_runs = [r for r in rows if r["loss"] == "C+1 (paper)"]
    outside_by_split: dict[int, list[float]] = {}
    for r in paper_runs:
        outside_by_split.setdefault(r["split"], []).append(r["outside_margin"])
    outside = paired_verdict(over_splits(outside_by_split))
    params = results["params"]
    n_splits, n_runs = len(params["split_seeds"]), len(params["split_run_seeds"])
    seeds = f"{n_runs} seed{'s' * (n_runs > 1)}"
    pairs = "one pair each" if n_runs == 1 else "each the mean of its seeds' pairs"
    images = ("every training image" if params["n_per_class"] is None
              else f"{params['n_per_class']} training images per digit")  # fmt: skip
    where = (f"MNIST, {images}, {n_splits} random digit splits (split seeds "
             f"{min(params['split_seeds'])}-{max(params['split_seeds'])}) x {seeds}, "
             f"verdict over the {n_splits} splits ({pairs})")  # fmt: skip

    def kinds(name: str) -> str:
        return "; ".join(f"{m.split('_')[1]} {ev[name][m].describe(100)}" for m in RECALLS)

    summary = summarize(rows, ["coi_spread", *INSIDE_METRICS])
    spread = {n: "{:.1f} ± {:.1f}".format(*(100 * v for v in summary[n]["coi_spread"]))
              for n in summary}  # fmt: skip
    inside = {n: "/".join(f"{100 * summary[n][m][0]:.0f}" for m in INSIDE_METRICS)
              for n in summary}  # fmt: skip
    return [
        Claim("02-paper-weights", "The C+1 loss at the paper's weights (moving-average centres, "
              "alpha = 0.1, beta = 1e-4) separates the background better than CE",
              "+1.42 mIoU on VOC 2012 (Table 1: 75.93 -> 77.35)",
              f"{where}; unseen background called background, C+1 minus CE in points: mean of "
              f"the three kinds {ev['C+1 (paper)']['unseen_recall'].describe(100)}; "
              f"{kinds('C+1 (paper)')}; class-of-interest accuracy "
              f"{ev['C+1 (paper)']['coi_acc'].describe(100)}",
              ev["C+1 (paper)"]["unseen_recall"].verdict, scale="reference"),
        Claim("02-strong-weights", "The same loss with alpha = 1, beta = 1 (beyond the paper's "
              "weights) separates the unseen background better than CE",
              "(Table 3: alpha = 1 costs 2.1 mIoU; beta = 1 not tried)",
              f"same splits: mean of the three kinds "
              f"{ev['C+1 alpha=1 beta=1']['unseen_recall'].describe(100)}; "
              f"{kinds('C+1 alpha=1 beta=1')}; class-of-interest accuracy "
              f"{ev['C+1 alpha=1 beta=1']['coi_acc'].describe(100)}",
              ev["C+1 alpha=1 beta=1"]["unseen_recall"].verdict, scale="reference"),
        Claim("02-compact", "L_compact makes the classes of interest compact",
              "(design of the loss; no number)",
              f"{where}; mean squared distance of class-of-interest features to their centre "
              f"(x100): CE {spread['CE']}, C+1 {spread['C+1 (paper)']}; CE minus C+1 "
              f"{compact.describe(100)}", compact.verdict, scale="reference"),
        Claim("02-unseen-inside", "Sec. 3.5, same claim for real unseen background over random "
              "digit splits (held-out digits, Fashion-MNIST, greyscale CIFAR-10)",
              "p(x_random) = 1 - C R^d / R_L^d, close to 1",
              f"{where}; share inside the radius holding 95 % of class-of-interest test images, "
              f"in % (digits/clothes/photos): CE {inside['CE']}, C+1 {inside['C+1 (paper)']}, "
              f"alpha = beta = 1 {inside['C+1 alpha=1 beta=1']}; C+1's share outside minus "
              f"95 %: {outside.describe(100)}", outside.verdict, scale="reference"),
    ]  # fmt: skip


def plot_split_spread(per_split: dict[str, dict[int, list[float]]], scale: float = 100.0,
                      unit: str = "points", title: str | None = None):  # fmt: skip
    """One panel per comparison (``{label: {split: [difference per seed]}}``, e.g. a metric of
    ``per_split_differences``): a dot per seed at each split, the split's mean as a bar, and
    across the panel the mean over splits with its 95 % interval (``paired_verdict`` over the
    split means) as a line and a band; the line at 0 = no change."""
    import matplotlib.pyplot as plt

    if not per_split:
        raise ValueError("per_split must hold at least one comparison")
    fig, axes = plt.subplots(1, len(per_split), figsize=(4.2 * len(per_split), 3.4),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, (label, splits) in zip(axes[0], per_split.items()):
        for x, values in enumerate(splits.values()):
            ax.scatter([x] * len(values), [scale * v for v in values], s=14, color="C0",
                       alpha=0.7, lw=0)  # fmt: skip
            ax.hlines(scale * sum(values) / len(values), x - 0.3, x + 0.3, color="C0", lw=2)
        ev = paired_verdict(over_splits(splits))
        ax.axhline(scale * ev.mean, color="k", lw=1.2)
        if ev.n > 1:
            ax.axhspan(scale * ev.low, scale * ev.high, color="0.6", alpha=0.3, lw=0)
        ax.axhline(0, color="0.3", lw=0.8, ls="--")
        ax.set_xticks(range(len(splits)), [str(s) for s in splits], fontsize=8)
        ax.set_xlabel("digit split (split seed)")
        ax.set_title(f"{label}\nmean {ev.describe(scale)} splits", fontsize=9)
    axes[0][0].set_ylabel(f"difference ({unit})")
    fig.suptitle(title or "Per split: a dot per seed, a bar per split; band = 95 % interval "
                 "of the mean over splits", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig
