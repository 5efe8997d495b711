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

from dataclasses import dataclass, field

import torch
from torchmetrics.functional.classification import multiclass_jaccard_index

from cplus_edu.crf import CRFParams, dense_crf, pixel_objectness
from cplus_edu.data.scenes import SegmentationScenes, make_segmentation_scenes
from cplus_edu.experiments.tables import mean_std, text_table
from cplus_edu.experiments.verdicts import Evidence, paired_verdict
from cplus_edu.losses import FusedLoss
from cplus_edu.models import TinyFCN
from cplus_edu.train import fit, torch_threads
from cplus_edu.utils import progress_disabled, seed_everything

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


def train_segmenter(loss: str, train: SegmentationScenes, config: FusedConfig, seed: int):
    """A ``TinyFCN`` trained with ``loss`` in {"softmax", "fused"}; returns ``(model, history)``."""
    if loss not in ("softmax", "fused"):
        raise ValueError(f"loss must be 'softmax' or 'fused', got {loss!r}")
    seed_everything(seed)
    model = TinyFCN(3, train.num_classes, config.embedding_dim, config.width)
    if loss == "softmax":
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        loss_fn = FusedLoss(config.ws, 1.0 - config.ws)
    history = fit(model, loss_fn, (train.images, train.labels), epochs=config.epochs,
                  batch_size=config.batch_size, lr=config.lr, seed=seed)  # fmt: skip
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
    from tqdm.auto import tqdm

    show = (not progress_disabled()) if progress is None else progress
    with torch_threads(1):
        maps = [pixel_objectness(im) for im in tqdm(images, desc="objectness", disable=not show)]
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
class FusedResults:
    """Per-seed scores ``runs[method][metric] = [value per seed]`` and, for the first seed, what
    the figures and sliders need (no retraining on a slide)."""

    config: FusedConfig
    runs: dict[str, dict[str, list[float]]]
    tuned_weights: list[float]
    test: SegmentationScenes
    objectness: torch.Tensor  # `[N, H, W]` of the test scenes
    probs: dict[str, torch.Tensor]  # "softmax" / "fused": `[N, K, H, W]` of the first seed
    histories: dict[str, list]  # loss -> History per seed

    def mean_std(self, method: str, metric: str) -> tuple[float, float]:
        """``(mean, sample std)`` over the seeds."""
        return mean_std(self.runs[method][metric])

    def differences(self, a: str, b: str, metric: str) -> list[float]:
        """Per-seed ``b - a`` (paired: same seed, same data)."""
        return [vb - va for va, vb in zip(self.runs[a][metric], self.runs[b][metric])]


def _tune_weight(probs, val: SegmentationScenes, val_pos, config: FusedConfig) -> float:
    best = max(config.objectness_weights, key=lambda w: segmentation_scores(
        crf_labels(probs, val.images, config.crf, val_pos, w), val)["mIoU"])  # fmt: skip
    return float(best)


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
            probs[loss] = predict_probs(model, test.images)
            if loss == "fused":
                weight = _tune_weight(predict_probs(model, val.images), val, val_pos, config)
                tuned.append(weight)
        preds = {
            "softmax": probs["softmax"].argmax(1),
            "softmax + CRF": crf_labels(probs["softmax"], test.images, config.crf),
            "fused": probs["fused"].argmax(1),
            "fused + CRF": crf_labels(probs["fused"], test.images, config.crf),
            "fused + POS-CRF": crf_labels(probs["fused"], test.images, config.crf, test_pos, 1.0),
            "fused + POS-CRF (tuned)": crf_labels(
                probs["fused"], test.images, config.crf, test_pos, tuned[-1]
            ),
        }
        for method, pred in preds.items():
            for metric, value in segmentation_scores(pred, test).items():
                runs[method].setdefault(metric, []).append(value)
        if not kept_probs:
            kept_probs = probs
    return FusedResults(config, runs, tuned, test, test_pos, kept_probs, histories)


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


def results_table(results: FusedResults) -> str:
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


def describe_pair(results: FusedResults, a: str, b: str, metric: str) -> tuple[str, Evidence]:
    """``("a 70.0 ± 0.8 → b 51.9 ± 23.2; paired −18.1 [−71.7, +35.5], 0/3 up", evidence)``: the
    two methods' ``metric`` (mean ± std over seeds) and the shared verdict rule applied to the
    paired per-seed differences ``b − a`` (positive = the slides' direction)."""
    evidence = paired_verdict(results.differences(a, b, metric))
    (ma, sa), (mb, sb) = results.mean_std(a, metric), results.mean_std(b, metric)
    text = f"{a} {ma:.1f} ± {sa:.1f} → {b} {mb:.1f} ± {sb:.1f}; paired {evidence.describe()}"
    return text, evidence
