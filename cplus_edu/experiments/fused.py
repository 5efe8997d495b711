"""Chapter 06 recipe: softmax CE against the fused loss, then CRF and POS-CRF, over seeds.

For each seed, two ``TinyFCN``s with the same initialisation, data order and budget are trained on
the same synthetic scenes (``cplus_edu.data.make_segmentation_scenes``), one with softmax CE and
one with ``FusedLoss(ws, 1 - ws)``. On the test scenes we score

- ``softmax``, ``fused``: the nets' argmax;
- ``softmax + CRF``, ``fused + CRF``: dense CRF on their softmax (``cplus_edu.crf.dense_crf``);
- ``fused + POS-CRF``: the same CRF with the slides' objectness unary (objectness weight 1, the
  slides' form) and ``fused + POS-CRF (tuned)`` with the weight picked on validation scenes;

with mean IoU over all classes, background included, as VOC does (torchmetrics'
``MulticlassJaccardIndex``), the slides' foreground recall (object pixels given their correct
class, over all object pixels) and that recall split by object kind (large ellipses against thin
lines and small discs), plus the share of object pixels not called background at all.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from functools import lru_cache

import torch
from torchmetrics.functional.classification import multiclass_jaccard_index

from cplus_edu.crf import CRFParams, dense_crf, pixel_objectness
from cplus_edu.data.scenes import SegmentationScenes, make_segmentation_scenes
from cplus_edu.experiments.ledger import Claim
from cplus_edu.experiments.tables import mean_std, text_table
from cplus_edu.experiments.verdicts import Evidence, paired_verdict
from cplus_edu.losses import FusedLoss
from cplus_edu.models import TinyFCN
from cplus_edu.train import fit, torch_threads
from cplus_edu.utils import progress_bar, seed_everything

#: The slides' numbers (PASCAL VOC 2012 val, FCN-8s): mean IoU and foreground recall, percent.
SLIDES_IOU = {
    "softmax": 62.91,
    "softmax + CRF": 65.85,
    "fused": 63.35,
    "fused + CRF": 66.42,
    "fused + POS-CRF": 66.71,
}
SLIDES_RECALL = {"softmax + CRF": 74.98, "fused + POS-CRF": 77.15}

METHODS = (
    "softmax",
    "softmax + CRF",
    "fused",
    "fused + CRF",
    "fused + POS-CRF",
    "fused + POS-CRF (tuned)",
)


@dataclass
class FusedConfig:
    """Every knob of the chapter's experiment (teaching size by default)."""

    size: int = 48  # image side, pixels
    n_train: int = 384
    n_val: int = 32  # picks the objectness weight of the tuned POS-CRF
    n_test: int = 64
    object_saturation: tuple[float, float] = (0.2, 0.5)
    epochs: int = 10
    batch_size: int = 16
    lr: float = 5e-3
    fused_lr: float | None = None  # the fused loss's rate when it has its own (else lr)
    schedule: str = "constant"  # "cosine": the learning rate annealed to 0 (fit's schedule)
    width: int = 16
    embedding_dim: int = 16
    ws: float = 0.5  # fused loss: ws * CE + (1 - ws) * positive-sharing
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 100
    crf: CRFParams = field(default_factory=CRFParams)
    objectness_weights: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)


def make_data(config: FusedConfig) -> tuple[SegmentationScenes, ...]:
    """``(train, val, test)`` scenes, the same for every seed."""

    def scenes(n: int, offset: int) -> SegmentationScenes:
        return make_segmentation_scenes(n, config.size, seed=config.data_seed + offset,
                                        object_saturation=config.object_saturation)  # fmt: skip

    return scenes(config.n_train, 0), scenes(config.n_val, 1), scenes(config.n_test, 2)


def train_segmenter(loss: str, train: SegmentationScenes, config: FusedConfig, seed: int, *,
                    val: SegmentationScenes | None = None, checkpoint=None):  # fmt: skip
    """A ``TinyFCN`` trained with ``loss`` in {"softmax", "fused"}; returns ``(model, history)``.
    With ``val`` scenes, ``history.metrics["val mIoU"]`` is the learning curve (mean IoU on them
    after every epoch); ``checkpoint`` makes a killed run resume (``fit``)."""
    if loss not in ("softmax", "fused"):
        raise ValueError(f"loss must be 'softmax' or 'fused', got {loss!r}")
    seed_everything(seed)
    model = TinyFCN(3, train.num_classes, config.embedding_dim, config.width)
    if loss == "softmax":
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        loss_fn = FusedLoss(config.ws, 1.0 - config.ws)

    def learning_curve(epoch, net, history):
        pred = predict_probs(net, val.images).argmax(1)
        history.metrics.setdefault("val mIoU", []).append(segmentation_scores(pred, val)["mIoU"])

    lr = config.fused_lr if loss == "fused" and config.fused_lr is not None else config.lr
    history = fit(model, loss_fn, (train.images, train.labels), epochs=config.epochs,
                  batch_size=config.batch_size, lr=lr, schedule=config.schedule,
                  seed=seed, checkpoint=checkpoint,
                  on_epoch_end=None if val is None else learning_curve)  # fmt: skip
    return model, history


@torch.no_grad()
def predict_probs(model, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Softmax ``[N, K, H, W]`` of ``model`` on ``images [N, 3, H, W]``."""
    model.eval()
    with torch_threads(1):
        return torch.cat([model(images[i : i + batch])[1].softmax(1)
                          for i in range(0, len(images), batch)])  # fmt: skip


def crf_labels(probs, images, params: CRFParams, objectness=None, weight: float = 1.0):
    """Argmax of the dense CRF for every image: ``[N, H, W]``."""
    out = []
    with torch_threads(1):
        for i in range(len(probs)):
            pos = None if objectness is None else objectness[i]
            q = dense_crf(probs[i], images[i], pos, objectness_weight=weight, params=params)
            out.append(q.argmax(0))
    return torch.stack(out)


def objectness_maps(images: torch.Tensor, progress: bool | None = None) -> torch.Tensor:
    """``pixel_objectness`` of every image: ``[N, H, W]``."""
    with torch_threads(1):
        maps = [pixel_objectness(im) for im in progress_bar(images, show=progress,
                                                            desc="objectness")]  # fmt: skip
    return torch.stack(maps)


def segmentation_scores(pred: torch.Tensor, scenes: SegmentationScenes) -> dict[str, float]:
    """Mean IoU (torchmetrics, background included), foreground recall overall and by object kind
    (percent), and the share of object pixels not called background."""
    y, kinds = scenes.labels, scenes.kinds
    miou = multiclass_jaccard_index(pred, y, scenes.num_classes, average="macro")
    correct = pred == y
    objects = y != 0

    def recall(mask: torch.Tensor) -> float:
        return 100.0 * float((correct & mask).sum()) / max(int(mask.sum()), 1)

    small = kinds >= 2
    not_background = 100.0 * float(((pred != 0) & small).sum()) / max(int(small.sum()), 1)
    return {
        "mIoU": 100.0 * float(miou),
        "recall": recall(objects),
        "recall large": recall(kinds == 1),
        "recall small+thin": recall(kinds >= 2),
        "recall thin": recall(kinds == 2),
        "recall small": recall(kinds == 3),
        "not background (small+thin)": not_background,
    }


@dataclass
class SeedRuns:
    """Per-seed scores ``runs[method][metric] = [value per seed]`` (the seeds in the same order
    for every method) and the objectness weight picked on validation for each seed."""

    runs: dict[str, dict[str, list[float]]]
    tuned_weights: list[float]

    def mean_std(self, method: str, metric: str) -> tuple[float, float]:
        """``(mean, sample std)`` over the seeds."""
        return mean_std(self.runs[method][metric])

    def differences(self, a: str, b: str, metric: str) -> list[float]:
        """Per-seed ``b - a`` (paired: same seed, same data)."""
        return [vb - va for va, vb in zip(self.runs[a][metric], self.runs[b][metric])]


@dataclass
class FusedResults(SeedRuns):
    """The live run's ``SeedRuns`` and, for the first seed, what the figures and sliders need (no
    retraining on a slide)."""

    config: FusedConfig = field(default_factory=FusedConfig)
    test: SegmentationScenes | None = None
    objectness: torch.Tensor | None = None  # `[N, H, W]` of the test scenes
    probs: dict[str, torch.Tensor] = field(default_factory=dict)  # "softmax" / "fused": first seed
    histories: dict[str, list] = field(default_factory=dict)  # loss -> History per seed


def _tune_weight(probs, val: SegmentationScenes, val_pos, config: FusedConfig) -> float:
    best = max(config.objectness_weights, key=lambda w: segmentation_scores(
        crf_labels(probs, val.images, config.crf, val_pos, w), val)["mIoU"])  # fmt: skip
    return float(best)


def score_net(loss: str, model, val, test, val_pos, test_pos, config: FusedConfig):
    """Score one trained net on the test scenes: ``({method: scores}, probs, weight)`` with the
    methods of its loss (``softmax``, ``softmax + CRF``; or ``fused``, ``fused + CRF``, ``fused +
    POS-CRF`` at weight 1 and ``(tuned)`` at the weight picked on the validation scenes, which is
    returned, ``None`` for softmax), and the net's test softmax ``[N, K, H, W]``."""
    probs = predict_probs(model, test.images)
    preds = {loss: probs.argmax(1), f"{loss} + CRF": crf_labels(probs, test.images, config.crf)}
    weight = None
    if loss == "fused":
        weight = _tune_weight(predict_probs(model, val.images), val, val_pos, config)
        preds["fused + POS-CRF"] = crf_labels(probs, test.images, config.crf, test_pos, 1.0)
        preds["fused + POS-CRF (tuned)"] = crf_labels(probs, test.images, config.crf, test_pos,
                                                      weight)  # fmt: skip
    return {m: segmentation_scores(pred, test) for m, pred in preds.items()}, probs, weight


def run_fused_experiment(config: FusedConfig | None = None, progress: bool | None = None):
    """Train both losses for every seed, post-process, score; returns ``FusedResults``."""
    config = config or FusedConfig()
    train, val, test = make_data(config)
    test_pos = objectness_maps(test.images, progress)
    val_pos = objectness_maps(val.images, progress)
    runs = {m: {} for m in METHODS}
    tuned, kept_probs, histories = [], {}, {"softmax": [], "fused": []}
    for seed in config.seeds:
        probs = {}
        for loss in ("softmax", "fused"):
            model, history = train_segmenter(loss, train, config, seed)
            histories[loss].append(history)
            scores, probs[loss], weight = score_net(loss, model, val, test, val_pos, test_pos,
                                                    config)  # fmt: skip
            for method, values in scores.items():
                for metric, value in values.items():
                    runs[method].setdefault(metric, []).append(value)
            if weight is not None:
                tuned.append(weight)
        if not kept_probs:
            kept_probs = probs
    return FusedResults(runs, tuned, config=config, test=test, objectness=test_pos,
                        probs=kept_probs, histories=histories)  # fmt: skip


def example_columns(results: FusedResults, rows=(0, 1, 2, 3), weight: float = 1.0) -> dict:
    """Maps ``name -> [len(rows), H, W]`` for the figure of the first seed on test scenes
    ``rows``: ground truth, both nets' argmax, the objectness, fused + CRF and fused + POS-CRF
    with objectness weight ``weight`` (named in the key)."""
    index = list(rows)
    test, probs, pos = results.test, results.probs, results.objectness
    images, fused = test.images[index], probs["fused"][index]
    params = results.config.crf
    return {
        "ground truth": test.labels[index],
        "softmax": probs["softmax"][index].argmax(1),
        "fused": fused.argmax(1),
        "objectness": pos[index],
        "fused + CRF": crf_labels(fused, images, params),
        f"fused + POS-CRF (w {weight:g})": crf_labels(fused, images, params, pos[index], weight),
    }


def results_table(results: SeedRuns) -> str:
    """A text table shaped like the slides': method, slides' mIoU / recall, ours (mean ± std over
    seeds), and our recall on large and on small + thin objects (fits 100 characters)."""
    header = ["method", "mIoU slides", "mIoU ours", "recall slides", "recall ours", "large",
              "small+thin"]  # fmt: skip
    lines = []
    for method in METHODS:
        cells = [method, f"{SLIDES_IOU[method]:.2f}" if method in SLIDES_IOU else ""]
        for metric in ("mIoU", "recall", "recall large", "recall small+thin"):
            mean, spread = results.mean_std(method, metric)
            if metric == "recall":
                cells.append(f"{SLIDES_RECALL[method]:.2f}" if method in SLIDES_RECALL else "")
            cells.append(f"{mean:.1f}±{spread:.1f}")
        lines.append(cells)
    return text_table(header, lines)


def pos_crf_changes(results: FusedResults, weight: float) -> torch.Tensor:
    """``[N]``: on each test scene, how many pixels the objectness unary at ``weight`` relabels
    compared with the plain CRF (the first seed's fused net, the stored softmax)."""
    test, probs, params = results.test, results.probs["fused"], results.config.crf
    plain = crf_labels(probs, test.images, params)
    with_pos = crf_labels(probs, test.images, params, results.objectness, weight)
    return (plain != with_pos).flatten(1).sum(1)


def describe_pair(results: SeedRuns, a: str, b: str, metric: str) -> tuple[str, Evidence]:
    """``("a 70.0 ± 0.8 → b 51.9 ± 23.2; paired −18.1 [−71.7, +35.5], 0/3 up", evidence)``: the
    two methods' ``metric`` (mean ± std over seeds) and the shared verdict rule applied to the
    paired per-seed differences ``b − a`` (positive = the slides' direction)."""
    evidence = paired_verdict(results.differences(a, b, metric))
    (ma, sa), (mb, sb) = results.mean_std(a, metric), results.mean_std(b, metric)
    text = f"{a} {ma:.1f} ± {sa:.1f} → {b} {mb:.1f} ± {sb:.1f}; paired {evidence.describe()}"
    return text, evidence


def fused_claims(results: SeedRuns, scale: str = "teaching", note: str = "") -> list[Claim]:
    """The chapter's five ledger claims from per-seed ``results`` (the live run's or the stored
    reference runs'), each verdict by the shared rule on the paired differences; ``note`` is
    appended to the first claim's numbers (how the runs were made)."""

    def claim(id, text, paper, a, b, metric, extra=""):
        ours, found = describe_pair(results, a, b, metric)
        return Claim(id, text, paper, ours + extra, found.verdict, scale=scale)

    softmax = results.runs["softmax"]
    gap = paired_verdict([a - b for a, b in zip(softmax["recall large"],
                                                softmax["recall small+thin"])])  # fmt: skip
    at_one = paired_verdict(results.differences("fused + CRF", "fused + POS-CRF", "mIoU"))
    return [
        claim("06-fused-miou", "fused loss (Ws = Wp = 0.5) raises mIoU over softmax CE",
              "62.91 → 63.35", "softmax", "fused", "mIoU", note),
        claim("06-crf", "a dense CRF on the fused net's softmax raises mIoU", "63.35 → 66.42",
              "fused", "fused + CRF", "mIoU"),
        claim("06-pos-crf", "the objectness unary (POS-CRF) adds over the plain CRF (mIoU)",
              "66.42 → 66.71", "fused + CRF", "fused + POS-CRF (tuned)", "mIoU",
              f" (weight picked on validation: {results.tuned_weights}; at weight 1: "
              f"{at_one.describe(digits=2)})"),
        claim("06-fg-recall", "foreground recall: softmax + CRF → fused + POS-CRF",
              "74.98 → 77.15", "softmax + CRF", "fused + POS-CRF (tuned)", "recall"),
        claim("06-small-objects", "softmax loses small and thin objects; the fused loss recovers "
              "them (recall on small + thin objects)", "figures only", "softmax", "fused",
              "recall small+thin", f" (softmax: large minus small + thin recall {gap.describe()})"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The two scales (cplus_edu/experiments/reference.py). The reference scale compares the losses
# at convergence: more steps (batches of 8, twice the teaching size's steps per epoch, for the
# same compute per epoch) and a cosine learning-rate schedule, each loss at its own rate,
# picked from the same grid in the same way: train it at every rate of the grid on one tuning
# seed (not one of the compared seeds; ``tuning_epochs``, shorter than the compared runs) and
# keep the rate with the best last-epoch mIoU on the validation scenes; the test scenes never
# choose. The picked rates are written into
# ``SCALES["reference"]["lr"]`` after the tuning runs (``--seeds`` of the tuning seed), and
# ``reference_runs`` refuses stored results whose compared runs used other rates.

LOSSES = ("softmax", "fused")
SCALES = {
    "teaching": {"size": 48, "n_train": 384, "n_val": 32, "n_test": 64, "epochs": 10,
                 "batch_size": 16, "width": 16, "ws": 0.5, "seeds": [0, 1, 2, 3, 4],
                 "schedule": "constant",
                 "lr_grid": [0.005], "tuning_seed": None, "tuning_epochs": None,
                 "lr": {"softmax": 0.005, "fused": 0.005}},
    "reference": {"size": 48, "n_train": 384, "n_val": 64, "n_test": 128, "epochs": 30,
                  "batch_size": 8, "width": 16, "ws": 0.5, "seeds": [0, 1, 2, 3, 4],
                  "schedule": "cosine",
                  "lr_grid": [0.0025, 0.005, 0.01, 0.02], "tuning_seed": 10, "tuning_epochs": 20,
                  "lr": {"softmax": 0.01, "fused": 0.02}},  # picked by the tuning runs
}  # fmt: skip
#: credibility bars: softmax test mIoU (the teaching run's 10 epochs reach 69.4), the largest
#: mean gain of validation mIoU over the last quarter of the epochs that still counts as
#: converged, and the lowest last-epoch validation mIoU of any run that counts as having left
#: the "object first, class later" plateau (the fused nets sit at 40-55 mIoU on it: objects
#: found, classes guessed)
SOFTMAX_BAR, LAST_QUARTER_GAIN, PLATEAU_BAR = 70.0, 1.0, 60.0


def fused_config(params: dict) -> FusedConfig:
    """The ``FusedConfig`` of a scale's ``params`` (each loss at its rate ``params["lr"]``)."""
    return FusedConfig(size=params["size"], n_train=params["n_train"], n_val=params["n_val"],
                       n_test=params["n_test"], epochs=params["epochs"], width=params["width"],
                       batch_size=params["batch_size"],
                       ws=params["ws"], seeds=tuple(params["seeds"]), schedule=params["schedule"],
                       lr=params["lr"]["softmax"], fused_lr=params["lr"]["fused"])  # fmt: skip


def jobs(params: dict) -> list[dict]:
    """The tuning runs (every rate of the grid and loss on the tuning seed; none when the grid
    has one rate), then one run per compared seed and loss at the loss's rate."""
    tuning = []
    if len(params["lr_grid"]) > 1:
        seed = params["tuning_seed"]
        tuning = [{"seed": seed, "lr": lr, "loss": loss, "role": "tuning",
                   "key": f"tuning_{loss}_lr{lr:g}_seed{seed}"}
                  for lr in params["lr_grid"] for loss in LOSSES]  # fmt: skip
    epochs = params["epochs"]
    compared = [{"seed": seed, "lr": params["lr"][loss], "loss": loss, "role": "compared",
                 "epochs": epochs, "key": f"{loss}_lr{params['lr'][loss]:g}_e{epochs}_seed{seed}"}
                for seed in params["seeds"] for loss in LOSSES]  # fmt: skip
    return tuning + compared


@lru_cache(maxsize=2)
def _data_and_objectness(size: int, n_train: int, n_val: int, n_test: int):
    """The scenes and their objectness, made once per process (every job of a scale shares
    them)."""
    train, val, test = make_data(FusedConfig(size=size, n_train=n_train, n_val=n_val,
                                             n_test=n_test))  # fmt: skip
    return train, val, test, objectness_maps(val.images, False), objectness_maps(test.images, False)


def run_job(params: dict, job: dict, checkpoint) -> dict:
    """Train one net (``job``: loss, lr, seed), with its validation learning curve, and score it
    and its CRF post-processings on the test scenes (``score_net``)."""
    epochs = params["tuning_epochs"] if job["role"] == "tuning" else job["epochs"]
    config = replace(fused_config(params), lr=job["lr"], fused_lr=job["lr"], epochs=epochs)
    train, val, test, val_pos, test_pos = _data_and_objectness(
        config.size, config.n_train, config.n_val, config.n_test)  # fmt: skip
    model, history = train_segmenter(job["loss"], train, config, job["seed"], val=val,
                                     checkpoint=checkpoint)  # fmt: skip
    scores, _, weight = score_net(job["loss"], model, val, test, val_pos, test_pos, config)
    return {"val mIoU": history.metrics["val mIoU"], "train loss": history.loss,
            "scores": scores, "tuned weight": weight}  # fmt: skip


def tuning_table(data: dict) -> dict[str, dict[float, float]]:
    """``{loss: {lr: last-epoch validation mIoU of the tuning run}}``."""
    table: dict[str, dict[float, float]] = {loss: {} for loss in LOSSES}
    for run in data["runs"]:
        if run["job"]["role"] == "tuning":
            table[run["job"]["loss"]][run["job"]["lr"]] = run["metrics"]["val mIoU"][-1]
    return table


def picked_lrs(data: dict) -> dict[str, float]:
    """``{loss: lr}``: per loss, the grid's rate with the best tuning run on validation (the
    one rate of the grid when there are no tuning runs)."""
    table = tuning_table(data)
    if not table["softmax"]:
        return {loss: data["params"]["lr_grid"][0] for loss in LOSSES}
    return {loss: max(table[loss], key=table[loss].get) for loss in LOSSES}


def _compared(data: dict) -> dict[tuple, dict]:
    picked = picked_lrs(data)
    if data["params"]["lr"] != picked:
        raise ValueError(f"the compared runs used the rates {data['params']['lr']}, the "
                         f"tuning runs picked {picked}: set the scale's lr, re-run")  # fmt: skip
    return {(r["job"]["loss"], r["job"]["seed"]): r["metrics"] for r in data["runs"]
            if r["job"]["role"] == "compared"}  # fmt: skip


def learning_curves(data: dict) -> dict[str, list[list[float]]]:
    """``{loss: [validation mIoU per epoch, per compared seed]}``."""
    runs = _compared(data)
    return {loss: [runs[loss, s]["val mIoU"] for s in data["params"]["seeds"]] for loss in LOSSES}


def reference_runs(data: dict) -> SeedRuns:
    """The stored compared runs as ``SeedRuns`` (each loss at its picked rate)."""
    runs = _compared(data)
    table: dict[str, dict[str, list[float]]] = {m: {} for m in METHODS}
    tuned = []
    for seed in data["params"]["seeds"]:
        for loss in LOSSES:
            metrics = runs[loss, seed]
            for method, scores in metrics["scores"].items():
                for metric, value in scores.items():
                    table[method].setdefault(metric, []).append(value)
            if metrics["tuned weight"] is not None:
                tuned.append(metrics["tuned weight"])
    return SeedRuns(table, tuned)


def _last_quarter_gain(curve: list[float]) -> float:
    return curve[-1] - curve[len(curve) - max(len(curve) // 4, 1) - 1]


def credibility(data: dict) -> dict[str, tuple[float, float]]:
    """Both losses converged at their picked rates: softmax's test mIoU reaches its bar, neither
    loss's validation mIoU still climbs over the last quarter of the epochs (mean over seeds),
    and no run of either is left on the plateau (its last validation mIoU above the bar)."""
    curves = learning_curves(data)
    softmax = reference_runs(data).mean_std("softmax", "mIoU")[0]
    bars = {"softmax test mIoU (mean over seeds)": (softmax, SOFTMAX_BAR)}
    for loss, per_seed in curves.items():
        gain = statistics.fmean(_last_quarter_gain(c) for c in per_seed)
        bars[f"{loss}: validation mIoU gain over the last quarter of the epochs, negated "
             f"(mean over seeds)"] = (-gain, -LAST_QUARTER_GAIN)  # fmt: skip
        bars[f"{loss}: lowest last-epoch validation mIoU of a seed"] = (
            min(c[-1] for c in per_seed), PLATEAU_BAR)  # fmt: skip
    return bars


def reference_claims(data: dict) -> list[Claim]:
    """The ledger's claims from the stored reference results, at the picked learning rates."""
    lrs, p = picked_lrs(data), data["params"]
    note = (f" (each loss at its learning rate picked on validation from {p['lr_grid']} with "
            f"seed {p['tuning_seed']}: softmax {lrs['softmax']:g}, fused {lrs['fused']:g}; "
            f"{p['epochs']} epochs, {p['schedule']} schedule, {len(p['seeds'])} seeds)"
            )  # fmt: skip
    return fused_claims(reference_runs(data), "reference", note)
