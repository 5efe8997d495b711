"""Chapter 09 recipe: CE, focal, ArcFace and CC-loss on MNIST and CIFAR-10 with a small SE-CNN.

Every loss trains the same ``ChannelAttentionCNN`` (three conv blocks, an SE block on the last
conv features, a linear head) from the same initial weights with the same batches for a given
seed. The model returns its embedding as ``features`` for CE, focal and ArcFace (the margin head
reads it through ``MarginModel``) and its SE attention vector for the CC-loss. The CE model has
the SE block too (trained by CE alone), so the attention heatmaps compare like with like.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.losses import ArcFaceLoss, CCLoss, MarginModel, attention_distances
from cplus_edu.models import ChannelAttentionCNN
from cplus_edu.train import fit

from .verdicts import Evidence, paired_verdict

CC_LOSSES = LOSSES = ("CE", "focal", "ArcFace", "CC-loss")
# The slides' table (accuracy %, test): MNIST with VGG16, CIFAR-100 with ResNet18.
CC_PAPER = PAPER = {
    "MNIST (VGG16)": {"CE": 97.43, "focal": 97.64, "A-softmax": 98.10, "CC-loss": 98.32},
    "CIFAR-100 (ResNet18)": {"CE": 77.38, "focal": 77.63, "A-softmax": 77.78, "CC-loss": 78.23},
}


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al., ICCV 2017, eq. (5) on the softmax probability):
    ``mean_i -(1 - p_{i, y_i})^gamma log p_{i, y_i}``; ``gamma = 0`` is cross-entropy."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)  # `[N]`
        return (-((1 - log_p.exp()) ** self.gamma) * log_p).mean()


def build(loss: str, in_channels: int, width: int, cc_weight: float, cc_margin: float):
    """``(model, loss_fn)`` for one loss name of ``LOSSES`` (or ``"CC-loss (CAM)"``)."""
    if loss == "CC-loss":
        model = ChannelAttentionCNN(in_channels, 10, width=width, features="attention")
        return model, CCLoss(weight=cc_weight, margin=cc_margin)
    model = ChannelAttentionCNN(in_channels, 10, width=width)
    if loss == "CE":
        return model, nn.CrossEntropyLoss()
    if loss == "focal":
        return model, FocalLoss(2.0)
    if loss == "ArcFace":
        wrapped = MarginModel(model, ArcFaceLoss(10, model.channels, margin=0.5, scale=16.0))
        return wrapped, wrapped.loss
    if loss == "CC-loss (CAM)":
        return model, CCLoss(weight=cc_weight, margin=cc_margin, attention="cam",
                             classifier=model.head)  # fmt: skip
    raise ValueError(f"unknown loss {loss!r}; choose from {LOSSES + ('CC-loss (CAM)',)}")


def _cnn(model) -> ChannelAttentionCNN:
    return model.backbone if isinstance(model, MarginModel) else model


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000):
    """``(accuracy, attention [N, Cc])`` on ``x``: predictions and the SE attention vectors."""
    model.eval()
    cnn, correct, attention = _cnn(model), 0, []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        _, logits = model(xb)
        correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
        attention.append(cnn.parts(xb)[1])
    return correct / len(x), torch.cat(attention)


@dataclass
class Run:
    dataset: str
    loss: str
    seed: int
    accuracy: float
    attention: torch.Tensor  # `[N, Cc]` test attention vectors
    labels: torch.Tensor  # `[N]`
    seconds: float


def run_losses(name, data, losses=LOSSES, seeds=(0, 1, 2), *, epochs=4, lr=3e-3, width=8,
               batch_size=64, cc_weight=1.0, cc_margin=0.2) -> list[Run]:  # fmt: skip
    """Train every loss on every seed; ``data = (x_train, y_train, x_test, y_test)``."""
    import time

    x, y, xt, yt = data
    runs = []
    for seed in seeds:
        for loss in losses:
            torch.manual_seed(seed)
            model, loss_fn = build(loss, x.shape[1], width, cc_weight, cc_margin)
            start = time.perf_counter()
            fit(model, loss_fn, (x, y), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                progress=False)  # fmt: skip
            seconds = time.perf_counter() - start
            accuracy, attention = evaluate(model, xt, yt)
            runs.append(Run(name, loss, seed, accuracy, attention, yt, seconds))
    return runs


def class_separation(attention: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean intra-class and inter-class attention distance (eq. (1) of the CC-loss file) over the
    test set's ordered pairs, and their ratio ``inter / intra`` (> 1: classes differ more than
    their samples do)."""
    d = attention_distances(attention.double())
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    intra, inter = float(d[same & off].mean()), float(d[~same].mean())
    return {"intra": intra, "inter": inter, "ratio": inter / intra}


def class_heatmap(attention: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[K, Cc]``: mean attention vector of each class."""
    return torch.stack([attention[labels == k].mean(0) for k in range(int(labels.max()) + 1)])


def summarize_runs(runs: list[Run]) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """``{(dataset, loss): {"accuracy" | "ratio": (mean, std)}}`` over the seeds."""
    out = {}
    for key in dict.fromkeys((r.dataset, r.loss) for r in runs):
        rows = [r for r in runs if (r.dataset, r.loss) == key]
        values = {metric: [_metric(r, metric) for r in rows] for metric in METRICS}
        out[key] = {name: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
                    for name, v in values.items()}  # fmt: skip
    return out


METRICS = ("accuracy", "ratio")


def _metric(run: Run, metric: str) -> float:
    if metric == "accuracy":
        return 100 * run.accuracy  # points
    return class_separation(run.attention, run.labels)["ratio"]


def paired_gain(runs: list[Run], dataset: str, loss: str, baseline: str = "CE",
                metric: str = "accuracy") -> list[float]:  # fmt: skip
    """Per-seed difference ``loss - baseline`` on ``dataset`` (seeds in increasing order) of the
    test accuracy in points (``metric="accuracy"``) or of the attention inter/intra ratio
    (``metric="ratio"``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    value = {(r.loss, r.seed): _metric(r, metric) for r in runs if r.dataset == dataset}
    seeds = sorted({s for (_, s) in value})
    missing = [(name, s) for name in (loss, baseline) for s in seeds if (name, s) not in value]
    if not seeds or missing:
        raise ValueError(f"runs of {dataset!r} lack (loss, seed) pairs {missing or 'all'}")
    return [value[loss, s] - value[baseline, s] for s in seeds]


# "Focal and A-softmax sit between CE and CC-loss": four paired comparisons per dataset, each
# signed so that positive is the slides' direction (ArcFace stands in for A-softmax).
BETWEEN = (("focal", "CE"), ("CC-loss", "focal"), ("ArcFace", "CE"), ("CC-loss", "ArcFace"))


def between_evidence(runs: list[Run], datasets) -> dict[tuple[str, str, str], Evidence]:
    """``{(dataset, better, worse): Evidence}`` of the accuracy differences ``better - worse``
    for every pair of ``BETWEEN`` on every dataset."""
    return {(d, better, worse): paired_verdict(paired_gain(runs, d, better, worse))
            for d in datasets for better, worse in BETWEEN}  # fmt: skip


def format_runs(summary, runs) -> str:
    """Our table (mean ± std over the seeds, and the paired gain over CE with its 95 % interval)
    beside the slides'."""
    lines = [f"{'dataset':10s}{'loss':9s}{'ours acc %':>15s}{'inter/intra':>15s}"
             f"   accuracy gain vs CE (points)"]  # fmt: skip
    for (dataset, loss), row in summary.items():
        gain = "" if loss == "CE" else paired_verdict(paired_gain(runs, dataset, loss)).describe()
        (acc, acc_sd), (ratio, ratio_sd) = row["accuracy"], row["ratio"]
        lines.append(f"{dataset:10s}{loss:9s}{acc:8.2f} ± {acc_sd:4.2f}"
                     f"{ratio:8.2f} ± {ratio_sd:4.2f}   {gain}")  # fmt: skip
    lines.append("")
    lines.append("the slides (one backbone each, CC-loss ± std):")
    for dataset, row in PAPER.items():
        lines.append(f"  {dataset:22s}" + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))
    return "\n".join(lines)
