"""Chapter 07 recipe: the poster's component table (Table 2) on synthetic scenes, NMS variants on
stored predictions, the score / IoU hedge and the sensitivity-map measurement.

Three training settings, each over several seeds (one tiny detector per run):

- ``baseline``: RetinaNet's IoU assignment and focal + GIoU loss;
- ``+ IAC``: anchors labelled by eq. (5) with the IAC score of eq. (4);
- ``+ IAC + DC``: the same with the dynamic coefficient loss of eqs. (1)-(3);

and a fourth row, ``+ IAC + DC + CL-NMS``, that applies the CL-balanced NMS of eqs. (6)-(7) to the
stored raw predictions of the third setting (no retraining). mAP / AP50 / AP75 come from
``torchmetrics`` (COCO protocol).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torchvision.ops import box_iou

from cplus_edu.detection.detector import TinyDetector
from cplus_edu.detection.evaluate import detection_map
from cplus_edu.detection.sensitivity import sensitivity_maps, sensitivity_shares
from cplus_edu.detection.train import DetectionCriterion, apply_nms, detect_raw, train_detector
from cplus_edu.experiments.verdicts import Evidence, paired_verdict

__all__ = [
    "PAPER_DETECTION_TABLE",
    "DETECTION_SETTINGS",
    "DETECTION_ROWS",
    "DetectionRun",
    "ComponentStudy",
    "run_components",
    "component_table",
    "format_component_table",
    "TABLE2_STEPS",
    "paired_step",
    "row_summary",
    "format_steps",
    "gamma_sweep",
    "score_iou_correlation",
    "misalignment_shares",
]

# Poster Table 2, MS COCO val 2017, ResNet-50 RetinaNet: (AP, AP50, AP75) in percent
PAPER_DETECTION_TABLE = {
    "baseline": (35.9, 56.1, 38.6),
    "+ IAC": (36.4, 56.5, 39.1),
    "+ IAC + DC": (37.1, 56.3, 39.7),
    "+ IAC + DC + CL-NMS": (37.5, 56.9, 40.0),
}
DETECTION_SETTINGS = {
    "baseline": {"iac": False, "dynamic": False},
    "+ IAC": {"iac": True, "dynamic": False},
    "+ IAC + DC": {"iac": True, "dynamic": True},
}
DETECTION_ROWS = tuple(PAPER_DETECTION_TABLE)
#: Table 2's steps: (short name, row, the row it adds to)
TABLE2_STEPS = (
    ("+ IAC", "+ IAC", "baseline"),
    ("+ DC", "+ IAC + DC", "+ IAC"),
    ("+ CL-NMS", "+ IAC + DC + CL-NMS", "+ IAC + DC"),
)
_METRICS = ("map", "map_50", "map_75")


@dataclass
class DetectionRun:
    """One trained detector: its setting, seed, history, model and raw test predictions."""

    setting: str
    seed: int
    model: TinyDetector
    history: object
    raw: list[dict[str, Tensor]]
    seconds: float


@dataclass
class ComponentStudy:
    """All runs and the metrics per (row, seed): ``metrics[row][seed] = {"map", ...}``."""

    runs: dict[tuple[str, int], DetectionRun] = field(default_factory=dict)
    metrics: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    gamma: float = 0.5

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for _, seed in self.runs})


def run_components(
    train,
    test,
    seeds=(0, 1, 2),
    settings=DETECTION_SETTINGS,
    epochs: int = 6,
    batch_size: int = 32,
    lr: float = 3e-3,
    width: int = 32,
    alpha: float = 0.5,
    score_threshold: float = 0.6,
    gamma: float = 0.5,
    progress: bool | None = None,
) -> ComponentStudy:
    """Train every setting for every seed on ``train``, store raw predictions on ``test``, and
    fill the four rows of the component table (the CL-NMS row from the stored predictions)."""
    import time

    from tqdm.auto import tqdm

    from cplus_edu.utils import progress_disabled

    study = ComponentStudy(gamma=gamma)
    jobs = [(name, seed) for seed in seeds for name in settings]
    show = (not progress_disabled()) if progress is None else progress
    for name, seed in tqdm(jobs, desc="detector runs", disable=not show):
        torch.manual_seed(seed)
        model = TinyDetector(train.num_classes, width=width, image_size=train.images.shape[-1])
        criterion = DetectionCriterion(alpha=alpha, score_threshold=score_threshold,
                                       **settings[name])  # fmt: skip
        start = time.perf_counter()
        history = train_detector(model, train, criterion, epochs=epochs, batch_size=batch_size,
                                 lr=lr, seed=seed, progress=False)  # fmt: skip
        seconds = time.perf_counter() - start
        raw = detect_raw(model, test.images)
        study.runs[(name, seed)] = DetectionRun(name, seed, model, history, raw, seconds)
        study.metrics.setdefault(name, {})[seed] = detection_map(apply_nms(raw), test.targets())
        if name == "+ IAC + DC":
            study.metrics.setdefault("+ IAC + DC + CL-NMS", {})[seed] = detection_map(
                apply_nms(raw, gamma=gamma), test.targets()
            )
    return study


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def component_table(study: ComponentStudy) -> list[dict]:
    """One dict per row: the paper's AP / AP50 / AP75, ours (mean, std over seeds, percent) and
    the seeds. Paired steps between rows: :func:`paired_step`."""
    rows = []
    for row in DETECTION_ROWS:
        if row not in study.metrics:
            continue
        per_seed = study.metrics[row]
        entry = {"row": row, "paper": PAPER_DETECTION_TABLE[row], "seeds": sorted(per_seed)}
        for m in _METRICS:
            entry[m] = _mean_std([100 * per_seed[s][m] for s in sorted(per_seed)])
        rows.append(entry)
    return rows


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:5.1f} ± {std:3.1f}" if n > 1 else f"{mean:5.1f} (n = 1)"


def format_component_table(rows: list[dict]) -> str:
    """The component table as fixed-width text, ours (mean ± std over seeds, or ``n = 1`` for a
    single seed) beside the paper's; at most 100 characters wide."""
    lines = [f"{'setting':<21s} | {'paper AP  AP50  AP75':>20s} | "
             f"{'ours AP':>12s}  {'AP50':>12s}  {'AP75':>12s}", "-" * 87]  # fmt: skip
    for r in rows:
        n = len(r["seeds"])
        ours = "  ".join(f"{_cell(*r[m], n):>12s}" for m in _METRICS)
        paper = " ".join(f"{v:5.1f}" for v in r["paper"])
        lines.append(f"{r['row']:<21s} | {paper:>20s} | {ours}")
    return "\n".join(lines)


def row_summary(study: ComponentStudy, row: str) -> str:
    """``"AP 14.2 ± 0.5, AP50 36.7 ± 1.0, AP75 6.2 ± 0.7"`` of one row (no ``±`` for one seed)."""
    r = {x["row"]: x for x in component_table(study)}[row]
    n = len(r["seeds"])
    return ", ".join(f"{name} {r[m][0]:.1f}" + (f" ± {r[m][1]:.1f}" if n > 1 else "")
                     for name, m in zip(("AP", "AP50", "AP75"), _METRICS))  # fmt: skip


def paired_step(study: ComponentStudy, row: str, reference: str, metric: str = "map") -> Evidence:
    """The shared verdict rule on the per-seed differences ``row − reference`` of ``metric`` in
    percent points (the same seed's runs: same initial weights and data order)."""
    a, b = study.metrics[reference], study.metrics[row]
    seeds = [s for s in sorted(b) if s in a]
    return paired_verdict([100 * (b[s][metric] - a[s][metric]) for s in seeds])


def format_steps(study: ComponentStudy, metric: str = "map") -> str:
    """Table 2's steps: the poster's gain, ours (paired per seed, 95 % interval, seeds up) and the
    verdict of the shared rule; at most 100 characters wide."""
    index = _METRICS.index(metric)
    lines = [f"{'step':<9s} {'paper':>6s}  {'ours, paired per seed [95 % interval]':<38s}  verdict",
             "-" * 84]  # fmt: skip
    for name, row, reference in TABLE2_STEPS:
        if row in study.metrics and reference in study.metrics:
            paper = PAPER_DETECTION_TABLE[row][index] - PAPER_DETECTION_TABLE[reference][index]
            found = paired_step(study, row, reference, metric)
            lines.append(f"{name:<9s} {paper:+6.1f}  {found.describe(digits=2):<38s}  "
                         f"{found.verdict}")  # fmt: skip
    return "\n".join(lines)


def gamma_sweep(study: ComponentStudy, test, gammas, setting: str = "+ IAC + DC") -> dict:
    """``{gamma: {"map": (mean, std), ...}}`` of CL-balanced NMS on the stored predictions."""
    out = {}
    for gamma in gammas:
        per_seed = [detection_map(apply_nms(study.runs[(setting, s)].raw, gamma=gamma),
                                  test.targets()) for s in study.seeds]  # fmt: skip
        out[gamma] = {m: _mean_std([100 * r[m] for r in per_seed]) for m in _METRICS}
    return out


def score_iou_correlation(raw: list[dict], test) -> float:
    """Pearson correlation, over raw detections that hit an object of their class (IoU > 0.3),
    between the classification score and the IoU with that object: the poster's "hedge"
    (Problem 1). Higher means the score ranks boxes by how well they are placed."""
    scores, ious = [], []
    for r, boxes, labels in zip(raw, test.boxes, test.labels):
        if not len(r["boxes"]) or not len(boxes):
            continue
        iou = box_iou(r["boxes"], boxes)
        iou = torch.where(r["labels"][:, None] == labels[None, :], iou, torch.zeros_like(iou))
        best = iou.max(dim=1).values
        hit = best > 0.3
        scores.append(r["scores"][hit])
        ious.append(best[hit])
    s, i = torch.cat(scores), torch.cat(ious)
    return float(torch.corrcoef(torch.stack([s, i]))[0, 1])


def misalignment_shares(model: TinyDetector, test, max_objects: int = 60) -> dict[str, Tensor]:
    """For the best-scored raw detection of each test object (its class, IoU > 0.5), the shares
    of the classification and the localisation sensitivity maps on the object's interior,
    boundary band and background: ``{"cls": [n, 3], "box": [n, 3], "index": [n, 3]}`` (image,
    object, anchor)."""
    raw = detect_raw(model, test.images)
    cls_rows, box_rows, index = [], [], []
    for i, (r, boxes, labels) in enumerate(zip(raw, test.boxes, test.labels)):
        for j in range(len(boxes)):
            if len(index) >= max_objects:
                break
            same = r["labels"] == labels[j]
            if not same.any():
                continue
            iou = box_iou(r["boxes"], boxes[j : j + 1])[:, 0]
            ok = same & (iou > 0.5)
            if not ok.any():
                continue
            k = int(torch.where(ok, r["scores"], torch.full_like(r["scores"], -1)).argmax())
            anchor = int(r["anchor"][k])
            cls_map, box_map = sensitivity_maps(model, test.images[i], anchor, int(labels[j]))
            order = ("interior", "boundary", "outside")
            c, b = (
                sensitivity_shares(cls_map, test.masks[i][j]),
                sensitivity_shares(box_map, test.masks[i][j]),
            )
            cls_rows.append([c[n] for n in order])
            box_rows.append([b[n] for n in order])
            index.append([i, j, anchor])
    return {"cls": torch.tensor(cls_rows), "box": torch.tensor(box_rows),
            "index": torch.tensor(index)}  # fmt: skip
