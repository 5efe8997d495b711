"""Chapter 09 recipe: CE, focal, ArcFace and CC-loss on MNIST and CIFAR-10 with a small SE-CNN.

Every loss trains the same ``ChannelAttentionCNN`` (three conv blocks, an SE block on the last
conv features, a linear head) from the same initial weights with the same batches for a given
seed. The model returns its embedding as ``features`` for CE, focal and ArcFace (the margin head
reads it through ``MarginModel``) and its SE attention vector for the CC-loss. The CE model has
the SE block too (trained by CE alone), so the attention heatmaps compare like with like.

Two scales (``SCALES``, see ``reference.py``): ``teaching`` is what the notebook runs live (a few
thousand half-resolution images, seconds per run); ``reference`` trains the same recipe on all of
MNIST at 28x28 (CIFAR-10 at 32x32 is prepared but not run yet, see ``SCALES``) with a wider
network and a cosine learning-rate decay, each loss's learning rate picked from a small grid by
the accuracy on a validation split carved from the training set (one seed, the same grid and
budget for every loss), then five paired seeds on the full training set, measured on the full
test set. ``jobs`` / ``run_job`` / ``credibility`` / ``reference_claims`` are what the runner
and the chapter read.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.data import load_cifar10, load_mnist
from cplus_edu.losses import ArcFaceLoss, CCLoss, MarginModel, attention_distances
from cplus_edu.models import ChannelAttentionCNN
from cplus_edu.train import fit

from .evidence_plot import plot_evidence
from .ledger import Claim
from .verdicts import Evidence, all_of, paired_verdict

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


def build(loss: str, in_channels: int, width: int, cc_weight: float, cc_margin: float,
          blocks: int = 3, channels_last: bool = False):  # fmt: skip
    """``(model, loss_fn)`` for one loss name of ``LOSSES`` (or ``"CC-loss (CAM)"``);
    ``channels_last`` stores the conv weights in that layout (oneDNN's CPU convolutions then run
    1.2-1.7x faster; the numbers differ by rounding, enough to move a teaching-size verdict)."""
    model, loss_fn = _build(loss, in_channels, width, cc_weight, cc_margin, blocks)
    return (model.to(memory_format=torch.channels_last) if channels_last else model), loss_fn


def _build(loss, in_channels, width, cc_weight, cc_margin, blocks):
    if loss == "CC-loss":
        model = ChannelAttentionCNN(in_channels, 10, width=width, features="attention",
                                    blocks=blocks)  # fmt: skip
        return model, CCLoss(weight=cc_weight, margin=cc_margin)
    model = ChannelAttentionCNN(in_channels, 10, width=width, blocks=blocks)
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
    """One trained run. ``ratio`` (the test attention inter/intra ratio) is computed from
    ``attention`` and ``labels`` when not given; a run read from stored results has only the
    numbers (``attention`` and ``labels`` are ``None``)."""

    dataset: str
    loss: str
    seed: int
    accuracy: float
    attention: torch.Tensor | None  # `[N, Cc]` test attention vectors
    labels: torch.Tensor | None  # `[N]`
    seconds: float
    ratio: float | None = None
    lr: float | None = None

    def __post_init__(self):
        if self.ratio is None:
            self.ratio = class_separation(self.attention, self.labels)["ratio"]


def separation_subset(labels: torch.Tensor, per_class: int | None) -> torch.Tensor:
    """Indices of the first ``per_class`` samples of each class (all if ``None``), in order: the
    fixed test subset the attention ratio is measured on (its distance matrix is ``n x n``)."""
    if per_class is None:
        return torch.arange(len(labels))
    keep = [torch.nonzero(labels == k).flatten()[:per_class] for k in labels.unique()]
    return torch.cat(keep).sort().values


def train_run(name, data, loss, seed, *, epochs, lr, width, batch_size, cc_weight, cc_margin,
              blocks=3, schedule="constant", bf16=False, separation_per_class=None,
              checkpoint=None) -> tuple[Run, dict[str, float], list[float]]:  # fmt: skip
    """Train ``loss`` on ``data = (x_train, y_train, x_test, y_test)`` with ``seed`` (the same
    initial weights and batches for every loss) and measure it on the test images: ``(Run,
    class_separation on the fixed test subset, the epoch-mean training losses)``. ``bf16`` is
    the fast CPU path of the reference scale: bfloat16 forward passes (``fit``) and channels-last
    weights (``build``); ``checkpoint`` lets a killed run resume after its last epoch (``fit``)."""
    x, y, xt, yt = data
    torch.manual_seed(seed)
    model, loss_fn = build(loss, x.shape[1], width, cc_weight, cc_margin, blocks, bf16)
    start = time.perf_counter()
    history = fit(model, loss_fn, (x, y), epochs=epochs, lr=lr, batch_size=batch_size,
                  schedule=schedule, bf16=bf16, seed=seed, progress=False,
                  checkpoint=checkpoint)  # fmt: skip
    seconds = time.perf_counter() - start
    accuracy, attention = evaluate(model, xt, yt)
    subset = separation_subset(yt, separation_per_class)
    separation = class_separation(attention[subset], yt[subset])
    run = Run(name, loss, seed, accuracy, attention, yt, seconds, separation["ratio"], lr)
    return run, separation, history.loss


def run_losses(name, data, losses=LOSSES, seeds=(0, 1, 2), **settings) -> list[Run]:
    """Train every loss on every seed (``train_run``; ``settings`` are its keyword arguments,
    e.g. ``train_settings(params, name)``); ``data = (x_train, y_train, x_test, y_test)``."""
    return [train_run(name, data, loss, seed, **settings)[0] for seed in seeds for loss in losses]


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
    return 100 * run.accuracy if metric == "accuracy" else run.ratio  # accuracy in points


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
        ev = None if loss == "CE" else paired_verdict(paired_gain(runs, dataset, loss))
        gain = "" if ev is None else ev.describe(digits=2)
        (acc, acc_sd), (ratio, ratio_sd) = row["accuracy"], row["ratio"]
        lines.append(f"{dataset:10s}{loss:9s}{acc:8.2f} ± {acc_sd:4.2f}"
                     f"{ratio:8.2f} ± {ratio_sd:4.2f}   {gain}")  # fmt: skip
    lines.append("")
    lines.append("the slides (one backbone each, CC-loss ± std):")
    for dataset, row in PAPER.items():
        lines.append(f"  {dataset:22s}" + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))
    return "\n".join(lines)


# ---- the two scales: the notebook's live run and the reference run (issue 18) ----------------

_TEACHING_DATA = {"test_per_class": 100, "downsample": 2, "width": 8, "blocks": 3,
                  "lr_grid": [3e-3], "schedule": "constant", "bf16": False,
                  "separation_per_class": 100}  # fmt: skip
# all images at full size; bf16: bfloat16 forward passes and channels-last weights (CPU speed)
_REFERENCE_DATA = {"train_per_class": None, "test_per_class": None, "downsample": 1,
                   "lr_grid": [3e-3, 1e-2], "schedule": "cosine", "bf16": True,
                   "separation_per_class": 100}  # fmt: skip
SCALES = {
    "teaching": {
        "losses": list(LOSSES),
        "seeds": [0, 1, 2, 3, 4],
        "tune_seed": 0,
        "validation_share": 0.1,
        "batch_size": 64,
        "cc_weight": 1.0,
        "cc_margin": 0.2,
        "datasets": {
            "MNIST": {**_TEACHING_DATA, "train_per_class": 200, "epochs": 4},
            # CIFAR-10 at 5 epochs: some seeds barely learn
            "CIFAR-10": {**_TEACHING_DATA, "train_per_class": 250, "epochs": 10},
        },
    },
    "reference": {
        "losses": list(LOSSES),
        "seeds": [0, 1, 2, 3, 4],
        "tune_seed": 0,
        "validation_share": 0.1,
        "batch_size": 128,
        "cc_weight": 1.0,
        "cc_margin": 0.2,
        # CIFAR-10 is not at this scale yet: its settings ("width": 16, "blocks": 4, "epochs": 5;
        # one 4-epoch run gave CE 74.9 %, short of the 75 % bar) need about 40 CPU-minutes more
        # than the shared machine gave before the deadline. Add it back here and re-run the
        # command: the finished MNIST runs are reused, and its claims then come from here too.
        "datasets": {"MNIST": {**_REFERENCE_DATA, "width": 16, "blocks": 3, "epochs": 4}},
    },
}
CREDIBLE = {"MNIST": 0.99, "CIFAR-10": 0.75}  # the CE baseline's bar (test accuracy, mean)
_LOADERS = {"MNIST": load_mnist, "CIFAR-10": load_cifar10}
_CHANNELS = {"MNIST": 1, "CIFAR-10": 3}
_DATA_CACHE: dict[str, tuple] = {}


def load_dataset(name: str, params: dict) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)`` of ``name`` ("MNIST" or "CIFAR-10") as the scale
    ``params`` says: ``train_per_class`` / ``test_per_class`` images per class (``None``: all),
    average-pooled by ``downsample``."""
    if name not in _LOADERS:
        raise ValueError(f"dataset must be one of {sorted(_LOADERS)}, got {name!r}")
    d = params["datasets"][name]
    key = json.dumps([name, d], sort_keys=True)
    if key not in _DATA_CACHE:
        x, y = _LOADERS[name]("train", n_per_class=d["train_per_class"])
        xt, yt = _LOADERS[name]("test", n_per_class=d["test_per_class"])
        k = d["downsample"]
        x, xt = (F.avg_pool2d(x, k), F.avg_pool2d(xt, k)) if k > 1 else (x, xt)
        _DATA_CACHE[key] = (x, y, xt, yt)
    return _DATA_CACHE[key]


def train_settings(params: dict, name: str, lr: float | None = None) -> dict:
    """``train_run``'s keyword arguments for dataset ``name`` at the scale ``params``; ``lr``
    defaults to the grid's only value (a grid of several is tuned first, see ``run_job``)."""
    d = params["datasets"][name]
    if lr is None:
        if len(d["lr_grid"]) != 1:
            raise ValueError(f"lr must be given: {name}'s lr_grid {d['lr_grid']} is tuned per loss")
        lr = d["lr_grid"][0]
    keys = ("epochs", "width", "blocks", "schedule", "bf16", "separation_per_class")
    return {**{k: d[k] for k in keys}, "lr": lr, "batch_size": params["batch_size"],
            "cc_weight": params["cc_weight"], "cc_margin": params["cc_margin"]}  # fmt: skip


def validation_split(data, share: float, seed: int = 0):
    """``(x_fit, y_fit, x_val, y_val)``: a random ``share`` of the training images held out
    (a fixed permutation by ``seed``); the test images are not used."""
    x, y = data[0], data[1]
    if not 0 < share < 1:
        raise ValueError(f"validation_share must be in (0, 1), got {share!r}")
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    held = int(round(share * len(y)))
    fit_idx, val_idx = order[held:], order[:held]
    return x[fit_idx], y[fit_idx], x[val_idx], y[val_idx]


def _settings(params: dict, name: str) -> dict:
    """What a run of ``name`` depends on besides its seed, loss and lr (kept in each job, so a
    finished job of other settings is never reused)."""
    keep = ("batch_size", "cc_weight", "cc_margin", "validation_share")
    return {**params["datasets"][name], **{k: params[k] for k in keep}}


def _tune_jobs(params: dict, name: str, loss: str) -> list[dict]:
    grid = params["datasets"][name]["lr_grid"]
    if len(grid) == 1:
        return []
    return [{"key": f"tune_{name}_{loss}_lr{lr:g}", "seed": params["tune_seed"], "dataset": name,
             "loss": loss, "lr": lr, "stage": "tune", "settings": _settings(params, name)}
            for lr in grid]  # fmt: skip


def jobs(params: dict) -> list[dict]:
    """Per dataset: the learning-rate tuning runs (one seed, validation split; only where the
    dataset's ``lr_grid`` has several values), then one run per seed and loss."""
    out = []
    for name in params["datasets"]:
        out += [job for loss in params["losses"] for job in _tune_jobs(params, name, loss)]
        out += [{"key": f"{name}_{loss}_seed{seed}", "seed": seed, "dataset": name, "loss": loss,
                 "stage": "test", "settings": _settings(params, name)}
                for seed in params["seeds"] for loss in params["losses"]]  # fmt: skip
    return out


def tuned_lr(params: dict, name: str, loss: str, val_accuracy: dict[float, float]) -> float:
    """The grid's learning rate with the best validation accuracy (the smaller one on a tie)."""
    grid = params["datasets"][name]["lr_grid"]
    if len(grid) == 1:
        return grid[0]
    missing = [lr for lr in grid if lr not in val_accuracy]
    if missing:
        raise ValueError(f"{name} {loss}: no validation accuracy for lr {missing}")
    return max(sorted(grid), key=lambda lr: (val_accuracy[lr], -lr))


def learning_rates(params: dict, results: dict | None = None) -> dict[tuple[str, str], float]:
    """``{(dataset, loss): lr}`` at the scale ``params``: the grid's only value, or where a grid
    is tuned, the value the stored ``results`` (made with these ``params``) picked."""
    picked = {}
    if results is not None and results["params"] == params:
        picked = {(r.dataset, r.loss): r.lr for r in runs_from_results(results)}
    out = {}
    for name, d in params["datasets"].items():
        for loss in params["losses"]:
            if len(d["lr_grid"]) == 1:
                out[name, loss] = d["lr_grid"][0]
            elif (name, loss) in picked:
                out[name, loss] = picked[name, loss]
            else:
                raise ValueError(f"{name} {loss}: the lr is tuned on a validation split; run "
                                 "python -m cplus_edu.experiments run 09_cc_loss")  # fmt: skip
    return out


def _val_accuracy(params: dict, name: str, loss: str, work: Path) -> dict[float, float]:
    """The tuning runs' validation accuracies, from their records in the runner's work folder
    (a missing one is run here: the same job, the same result)."""
    scores = {}
    for job in _tune_jobs(params, name, loss):
        record = work / f"{job['key']}.json"
        stored = json.loads(record.read_text()) if record.is_file() else None
        if stored is not None and stored["job"] == job:
            scores[job["lr"]] = stored["metrics"]["val_accuracy"]
        else:
            scores[job["lr"]] = run_job(params, job, work / f"{job['key']}.pt")["val_accuracy"]
    return scores


def run_job(params: dict, job: dict, checkpoint) -> dict:
    """One job of ``jobs(params)``, through the notebook's ``train_run``. A tuning job returns
    its validation accuracy; a test job trains on the whole training set with its loss's tuned
    learning rate and returns test accuracy and the attention separation on the fixed test
    subset (``separation_per_class`` images per class)."""
    name, loss = job["dataset"], job["loss"]
    data = load_dataset(name, params)
    if job["stage"] == "tune":
        x, y, xv, yv = validation_split(data, params["validation_share"])
        run, _, losses = train_run(name, (x, y, xv, yv), loss, job["seed"], checkpoint=checkpoint,
                                   **train_settings(params, name, job["lr"]))  # fmt: skip
        return {"val_accuracy": run.accuracy, "lr": job["lr"], "epoch_loss": losses}
    lr = tuned_lr(params, name, loss, _val_accuracy(params, name, loss, Path(checkpoint).parent))
    run, separation, losses = train_run(name, data, loss, job["seed"], checkpoint=checkpoint,
                                        **train_settings(params, name, lr))  # fmt: skip
    x = data[0]
    return {
        "test_accuracy": run.accuracy,
        "lr": lr,
        "epoch_loss": losses,
        **separation,
        "train_images": len(x),
        "image_size": list(x.shape[-2:]),
    }


def runs_from_results(results: dict) -> list[Run]:
    """The stored test runs (not the tuning runs) as ``Run``s without attention vectors."""
    return [Run(r["job"]["dataset"], r["job"]["loss"], r["job"]["seed"],
                r["metrics"]["test_accuracy"], None, None, r["cpu_seconds"],
                r["metrics"]["ratio"], r["metrics"]["lr"])
            for r in results["runs"] if r["job"]["stage"] == "test"]  # fmt: skip


def credibility(results: dict) -> dict[str, tuple[float, float]]:
    """``{"CE test accuracy on D (mean over seeds)": (measured, bar)}`` for each dataset of the
    results (bars: MNIST 0.99, CIFAR-10 0.75): the baseline a verdict at this scale stands on."""
    runs = [r for r in runs_from_results(results) if r.loss == "CE"]
    return {f"CE test accuracy on {name} (mean over seeds)":
            (statistics.mean(r.accuracy for r in runs if r.dataset == name), CREDIBLE[name])
            for name in results["params"]["datasets"]}  # fmt: skip


def format_tuning(results: dict) -> str:
    """The tuning runs: validation accuracy (%) per dataset, loss and learning rate, the pick
    starred."""
    params = results["params"]
    val = {}
    for r in results["runs"]:
        if r["job"]["stage"] == "tune":
            val.setdefault((r["job"]["dataset"], r["job"]["loss"]), {})[r["job"]["lr"]] = (
                r["metrics"]["val_accuracy"])  # fmt: skip
    lines = []
    for (name, loss), scores in val.items():
        best = tuned_lr(params, name, loss, scores)
        cells = [f"lr {lr:g}: {100 * a:.2f}{'*' if lr == best else ' '}"
                 for lr, a in scores.items()]  # fmt: skip
        lines.append(f"{name:10s}{loss:9s}" + "   ".join(cells))
    return "\n".join(lines) if lines else "(one learning rate per dataset: nothing was tuned)"


def describe_setting(params: dict, name: str, train_images: int, image_size) -> str:
    """``SE-CNN of 24,794 weights (3 blocks from width 16), 60,000 images at 28x28, 2 epochs,
    ...``: what one dataset's runs were."""
    d = params["datasets"][name]
    h, w = image_size
    model = ChannelAttentionCNN(_CHANNELS[name], 10, width=d["width"], blocks=d["blocks"])
    weights = sum(p.numel() for p in model.parameters())
    text = (f"SE-CNN of {weights:,} weights ({d['blocks']} blocks from width {d['width']}), "
            f"{train_images:,} images at {h}x{w}, {d['epochs']} epochs")  # fmt: skip
    text += ", cosine lr" if d["schedule"] == "cosine" else ""
    if len(d["lr_grid"]) > 1:
        text += (f", lr per loss from {{{', '.join(f'{lr:g}' for lr in d['lr_grid'])}}} "
                 f"on a {params['validation_share']:.0%} validation split (seed "
                 f"{params['tune_seed']})")  # fmt: skip
    return text


# ---- the chapter's claims, from any set of runs (the ledger reads the reference runs) --------


def _accuracies(summary, name: str) -> str:
    return ", ".join(f"{loss} {mean:.2f} ± {sd:.2f}" for loss in LOSSES
                     for mean, sd in [summary[name, loss]["accuracy"]])  # fmt: skip


def _ratios(summary, name: str) -> str:
    (ce, ce_sd), (cc, cc_sd) = (summary[name, loss]["ratio"] for loss in ("CE", "CC-loss"))
    return f"{name} CE {ce:.2f} ± {ce_sd:.2f} -> CC-loss {cc:.2f} ± {cc_sd:.2f}"


def chapter_claims(runs: list[Run], settings: dict[str, str], scale: str) -> list[Claim]:
    """The chapter's claims measured on ``runs`` (every loss, paired seeds) by the shared verdict
    rule; ``settings[dataset]`` says how the runs were made. Only the claims whose datasets are
    all in ``runs`` (runs of MNIST alone measure ``09-cc-mnist`` only)."""
    summary, n_seeds = summarize_runs(runs), len({r.seed for r in runs})
    names = [d for d in ("MNIST", "CIFAR-10") if any(r.dataset == d for r in runs)]
    gain = {d: paired_verdict(paired_gain(runs, d, "CC-loss")) for d in names}
    claims = []
    if "MNIST" in names:
        claims.append(
            Claim(
                "09-cc-mnist",
                "CC-loss beats CE on MNIST (VGG16 + CAM)",
                "CE 97.43, CC-loss 98.32 ± 0.08",
                f"{_accuracies(summary, 'MNIST')}; CC - CE "
                f"{gain['MNIST'].describe(digits=2, unit=' points')} "
                f"({n_seeds} seeds; {settings['MNIST']})",
                gain["MNIST"].verdict,
                scale,
            )
        )
    if "CIFAR-10" in names:
        claims.append(
            Claim(
                "09-cc-cifar",
                "CC-loss beats CE on CIFAR-100 (ResNet18 + CAM)",
                "CE 77.38, CC-loss 78.23 ± 0.07",
                "CIFAR-10 instead (CIFAR-100 is not in the offline data): "
                f"{_accuracies(summary, 'CIFAR-10')}; CC - CE "
                f"{gain['CIFAR-10'].describe(digits=2, unit=' points')} ({n_seeds} seeds; "
                f"{settings['CIFAR-10']})",
                gain["CIFAR-10"].verdict,
                scale,
            )
        )
    if len(names) < 2:
        return claims
    ratio = {d: paired_verdict(paired_gain(runs, d, "CC-loss", metric="ratio")) for d in names}
    between = between_evidence(runs, names)
    against = [
        f"{b} - {w} on {d} {e.describe(digits=2)}"
        for (d, b, w), e in between.items()
        if e.verdict == "does not reproduce at this scale"
    ]
    n_hold = sum(e.verdict == "holds" for e in between.values())
    return claims + [
        Claim("09-focal-arcface-between", "Focal and A-softmax sit between CE and CC-loss",
              "MNIST 97.64 / 98.10, CIFAR-100 77.63 / 77.78",
              f"{n_hold} of {len(between)} paired comparisons hold (ArcFace for A-softmax)"
              + ("; against: " + "; ".join(against) if against else ""),
              all_of(between.values()), scale),
        Claim("09-attention",
              "CC-loss makes the channel attention of one class alike and of different classes "
              "different", "abstract, no number",
              f"test inter/intra attention-distance ratio {_ratios(summary, 'MNIST')}, CC - CE "
              f"{ratio['MNIST'].describe(digits=2)}; {_ratios(summary, 'CIFAR-10')}, CC - CE "
              f"{ratio['CIFAR-10'].describe(digits=2)}", all_of(ratio.values()), scale),
    ]  # fmt: skip


def ledger_claims(teaching: list[Claim], reference: list[Claim]) -> list[Claim]:
    """The ledger's rows: each claim from the ``reference`` run where it measures it, else from
    the ``teaching`` run."""
    stored = {c.id: c for c in reference}
    return [stored.get(c.id, c) for c in teaching]


def reference_claims(results: dict) -> list[Claim]:
    """The chapter's claims from the stored reference results (``scale="reference"``)."""
    runs = runs_from_results(results)
    first = {r["job"]["dataset"]: r["metrics"] for r in results["runs"]
             if r["job"]["stage"] == "test"}  # fmt: skip
    settings = {name: describe_setting(results["params"], name, m["train_images"],
                                       m["image_size"]) for name, m in first.items()}  # fmt: skip
    return chapter_claims(runs, settings, results["scale"])


def plot_reference_evidence(runs: list[Run], title: str = ""):
    """The paired per-seed differences behind the claims, with the verdict rule's 95 % intervals
    (``plot_evidence``): per dataset, the test accuracy (points) of each loss against CE and of
    CC-loss against focal and ArcFace, and the attention inter/intra ratio against CE."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.dataset for r in runs))
    pairs = [(loss, "CE") for loss in LOSSES[1:]] + [("CC-loss", "focal"), ("CC-loss", "ArcFace")]
    fig, axes = plt.subplots(2, len(names), figsize=(7.5 * len(names), 6.5), squeeze=False,
                             gridspec_kw={"height_ratios": [len(pairs), 3]})  # fmt: skip
    for col, name in enumerate(names):
        accuracy = {f"{b} - {w}": paired_gain(runs, name, b, w) for b, w in pairs}
        ratio = {f"{loss} - CE": paired_gain(runs, name, loss, metric="ratio")
                 for loss in LOSSES[1:]}  # fmt: skip
        plot_evidence(accuracy, ax=axes[0, col], unit="test accuracy points",
                      title=f"{name}: test accuracy")  # fmt: skip
        plot_evidence(ratio, ax=axes[1, col], unit="inter/intra ratio",
                      title=f"{name}: attention inter/intra ratio")  # fmt: skip
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
