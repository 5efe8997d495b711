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
from cplus_edu.experiments.ledger import Claim
from cplus_edu.experiments.verdicts import Evidence, paired_verdict

__all__ = [
    "PAPER_DETECTION_TABLE",
    "DETECTION_SETTINGS",
    "DETECTION_ROWS",
    "DetectionRun",
    "ComponentStudy",
    "train_setting",
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
    "SCALES",
    "DIGIT_SETTINGS",
    "REFERENCE_STEPS",
    "training_kwargs",
    "make_scenes",
    "jobs",
    "run_job",
    "reference_study",
    "credibility",
    "step_differences",
    "measured_steps",
    "reference_steps",
    "plot_reference_steps",
    "reference_claims",
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


def train_setting(
    train,
    test,
    setting: str,
    seed: int,
    settings=DETECTION_SETTINGS,
    epochs: int = 6,
    batch_size: int = 32,
    lr: float = 3e-3,
    width: int = 32,
    alpha: float = 0.5,
    score_threshold: float = 0.6,
    allow_low_quality_matches: bool = True,
    progress: bool | None = False,
    checkpoint=None,
) -> DetectionRun:
    """Train one detector of ``settings[setting]`` with ``seed`` (its initial weights and data
    order) on ``train`` and store its raw predictions on ``test``; ``checkpoint``: resume a killed
    run after its last finished epoch (``train_detector``)."""
    import time

    torch.manual_seed(seed)
    model = TinyDetector(train.num_classes, width=width, image_size=train.images.shape[-1])
    criterion = DetectionCriterion(alpha=alpha, score_threshold=score_threshold,
                                   allow_low_quality_matches=allow_low_quality_matches,
                                   **settings[setting])  # fmt: skip
    start = time.perf_counter()
    history = train_detector(model, train, criterion, epochs=epochs, batch_size=batch_size,
                             lr=lr, seed=seed, progress=progress,
                             checkpoint=checkpoint)  # fmt: skip
    seconds = time.perf_counter() - start
    return DetectionRun(setting, seed, model, history, detect_raw(model, test.images), seconds)


def run_components(
    train,
    test,
    seeds=(0, 1, 2),
    settings=DETECTION_SETTINGS,
    gamma: float = 0.5,
    progress: bool | None = None,
    **training,
) -> ComponentStudy:
    """Train every setting for every seed on ``train`` (``training``: the keyword arguments of
    :func:`train_setting`), store raw predictions on ``test``, and fill the four rows of the
    component table (the CL-NMS row from the stored predictions)."""
    from cplus_edu.utils import progress_bar

    study = ComponentStudy(gamma=gamma)
    jobs = [(name, seed) for seed in seeds for name in settings]
    for name, seed in progress_bar(jobs, show=progress, desc="detector runs"):
        run = train_setting(train, test, name, seed, settings, **training)
        study.runs[(name, seed)] = run
        study.metrics.setdefault(name, {})[seed] = detection_map(apply_nms(run.raw),
                                                                 test.targets())  # fmt: skip
        if name == "+ IAC + DC":
            study.metrics.setdefault("+ IAC + DC + CL-NMS", {})[seed] = detection_map(
                apply_nms(run.raw, gamma=gamma), test.targets()
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


# ---- the reference scale (issue 18; cplus_edu/experiments/reference.py) --------------------------

_TEACHING = {
    "n_train": 300,  # shape scenes (1-3 objects each), 64 x 64
    "n_test": 200,
    "epochs": 6,
    "batch_size": 8,  # small batches: more steps for the same compute
    "lr": 3e-3,
    "width": 32,  # channels of the detector
    "seeds": [0, 1, 2],
    "alpha": 0.5,  # eq. (4): weight of the classification probability in the IAC score
    "score_threshold": 0.6,  # eq. (5): IAC score above which an anchor is positive
    "allow_low_quality_matches": True,  # RetinaNet's: every object's best anchors are positive
    "gamma": 0.5,  # eq. (7): weight of the distance penalty in CL-balanced NMS
    "gammas": [0.0, 0.25, 0.5, 1.0, 2.0],
    "misalignment_objects": 40,  # detections per baseline detector in the sensitivity measure
    "digits": [0, 1, 2, 3, 4],  # MNIST digits of the second set
    "digits_per_class": 400,  # MNIST training images per digit the scenes draw from
    "n_digit_train": 300,
    "n_digit_test": 200,
    "digit_seeds": [0],
}
SCALES = {
    "teaching": _TEACHING,
    "reference": {**_TEACHING, "n_train": 500, "n_test": 300, "epochs": 14,
                  "seeds": [0, 1, 2, 3, 4], "digits_per_class": 1000, "n_digit_train": 400,
                  "n_digit_test": 300, "digit_seeds": [0, 1, 2, 3, 4]},
}  # fmt: skip
#: the settings trained on the digit scenes (the whole method against the baseline)
DIGIT_SETTINGS = ("baseline", "+ IAC + DC")
_SHORT = {"baseline": "baseline", "+ IAC": "iac", "+ IAC + DC": "iac-dc"}
_TRAINING = ("epochs", "batch_size", "lr", "width", "alpha", "score_threshold",
             "allow_low_quality_matches")  # fmt: skip


def training_kwargs(params: dict) -> dict:
    """The keyword arguments of :func:`train_setting` / :func:`run_components` in ``params``."""
    return {k: params[k] for k in _TRAINING}


def make_scenes(params: dict, data: str = "shapes"):
    """``(train, test)`` scenes of ``params``: ``data = "shapes"`` (bars, L shapes, triangles)
    or ``"digits"`` (MNIST digits on a canvas; needs the MNIST files)."""
    from cplus_edu.data import load_mnist, make_digit_scenes, make_shape_scenes

    if data == "shapes":
        return (make_shape_scenes(params["n_train"], seed=1000),
                make_shape_scenes(params["n_test"], seed=2000))  # fmt: skip
    if data == "digits":
        images, labels = load_mnist("train", classes=tuple(params["digits"]),
                                    n_per_class=params["digits_per_class"])  # fmt: skip
        return (make_digit_scenes(images, labels, params["n_digit_train"], seed=1),
                make_digit_scenes(images, labels, params["n_digit_test"], seed=2))  # fmt: skip
    raise ValueError(f"data must be 'shapes' or 'digits', got {data!r}")


def jobs(params: dict) -> list[dict]:
    """One job per (data, setting, seed): the three settings on shape scenes, the baseline and
    the whole method on digit scenes."""
    grid = [("shapes", name, seed) for seed in params["seeds"] for name in DETECTION_SETTINGS]
    grid += [("digits", name, seed) for seed in params["digit_seeds"] for name in DIGIT_SETTINGS]
    return [{"key": f"{data}_{_SHORT[name]}_seed{seed}", "data": data, "setting": name,
             "seed": seed} for data, name, seed in grid]  # fmt: skip


def run_job(params: dict, job: dict, checkpoint=None) -> dict:
    """Train one job's detector (:func:`train_setting`, resumable through ``checkpoint``) and
    measure it on the test scenes: AP / AP50 / AP75 after plain NMS, after CL-balanced NMS for
    every ``gammas`` (the whole method), the score-IoU correlation, and for the shape baseline
    the misalignment shares."""
    train, test = make_scenes(params, job["data"])
    run = train_setting(train, test, job["setting"], job["seed"], **training_kwargs(params),
                        checkpoint=checkpoint)  # fmt: skip
    targets, terms = test.targets(), run.history.terms
    metrics = {
        "ap": detection_map(apply_nms(run.raw), targets),
        "score_iou_correlation": score_iou_correlation(run.raw, test),
        "loss": [run.history.loss[0], run.history.loss[-1]],
        "positives_per_image": terms["positives"][-1],
        "by_score_per_image": terms["by_score"][-1],
    }
    if job["setting"] == "+ IAC + DC":
        metrics["cl_nms"] = {str(g): detection_map(apply_nms(run.raw, gamma=g), targets)
                             for g in params["gammas"] if g > 0}  # fmt: skip
    if job["setting"] == "baseline" and job["data"] == "shapes":
        shares = misalignment_shares(run.model, test, params["misalignment_objects"])
        box, cls = shares["box"][:, 1], shares["cls"][:, 1]
        metrics["misalignment"] = {"boundary_gap": float((box - cls).mean()),
                                   "boundary_more": float((box > cls).float().mean()),
                                   "detections": len(box)}  # fmt: skip
    return metrics


def _runs(data: dict, kind: str) -> dict[tuple[str, int], dict]:
    return {(r["job"]["setting"], r["job"]["seed"]): r["metrics"]
            for r in data["runs"] if r["job"]["data"] == kind}  # fmt: skip


def reference_study(data: dict, kind: str = "shapes") -> ComponentStudy:
    """The stored results (``load_results("07_detection")``) of ``kind`` ("shapes" or "digits")
    as a :class:`ComponentStudy` without models (``metrics`` only), so that
    :func:`component_table`, :func:`format_steps` and :func:`paired_step` read them."""
    gamma = data["params"]["gamma"]
    study = ComponentStudy(gamma=gamma)
    for (setting, seed), m in _runs(data, kind).items():
        study.metrics.setdefault(setting, {})[seed] = m["ap"]
        if "cl_nms" in m:
            study.metrics.setdefault("+ IAC + DC + CL-NMS", {})[seed] = m["cl_nms"][str(gamma)]
    return study


#: AP (percent) of the baseline trained twice as long, measured once (seed 0) with
#: ``run_job({**SCALES["reference"], "epochs": 28}, {"key": "x", "data": kind, "setting":
#: "baseline", "seed": 0})`` on the code that made the stored results: where the detector is
#: still heading. A reference baseline at 85 % of it or more counts as near its plateau.
TWICE_THE_TRAINING_AP = {"shapes": 60.6, "digits": 62.5}
PLATEAU_SHARE = 0.85


def credibility(data: dict) -> dict[str, tuple[float, float]]:
    """Each baseline's AP (mean over seeds, percent) against its bar: ``PLATEAU_SHARE`` of the
    AP the same detector reaches with twice the training (``TWICE_THE_TRAINING_AP``)."""
    out = {}
    for kind, twice in TWICE_THE_TRAINING_AP.items():
        aps = [100 * m["ap"]["map"] for (s, _), m in _runs(data, kind).items() if s == "baseline"]
        if not aps:  # this scale did not run this data set
            continue
        name = f"baseline AP on {kind} scenes (mean over {len(aps)} seeds)"
        out[name] = (statistics.fmean(aps), PLATEAU_SHARE * twice)
    return out


#: the paired steps the reference results decide: Table 2's three on shape scenes, then the whole
#: method (all three components) against the baseline on shape and on digit scenes
REFERENCE_STEPS = {
    **{name: ("shapes", row, ref) for name, row, ref in TABLE2_STEPS},
    "whole method": ("shapes", "+ IAC + DC + CL-NMS", "baseline"),
    "whole method, digits": ("digits", "+ IAC + DC + CL-NMS", "baseline"),
}


def step_differences(data: dict, step: str, metric: str = "map") -> list[float]:
    """Per seed, the stored ``metric`` of ``REFERENCE_STEPS[step]``'s row minus its reference
    row (percent points; the same seed's runs share initial weights and data order)."""
    kind, row, ref = REFERENCE_STEPS[step]
    study = reference_study(data, kind)
    a, b = study.metrics[ref], study.metrics[row]
    return [100 * (b[s][metric] - a[s][metric]) for s in sorted(b) if s in a]


def measured_steps(data: dict) -> list[str]:
    """The steps of ``REFERENCE_STEPS`` whose data set the stored results ran."""
    kinds = {r["job"]["data"] for r in data["runs"]}
    return [step for step, (kind, _, _) in REFERENCE_STEPS.items() if kind in kinds]


def reference_steps(data: dict, metric: str = "map") -> dict[str, Evidence]:
    """The verdict rule on every measured step (:func:`measured_steps`; points of ``metric``)."""
    return {step: paired_verdict(step_differences(data, step, metric))
            for step in measured_steps(data)}  # fmt: skip


def plot_reference_steps(data: dict, metrics=("map", "map_75"), axes=None):
    """One dot per seed: each step's paired difference (points), its mean and 95 % interval
    (the verdict rule's), one panel per metric; the line at 0 = no change."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), sharey=True)
    names = {"map": "AP", "map_50": "AP50", "map_75": "AP75"}
    for ax, metric in zip(axes, metrics):
        for x, step in enumerate(measured_steps(data)):
            values = step_differences(data, step, metric)
            ev = paired_verdict(values)
            jitter = [x - 0.15 + 0.2 * k / max(1, len(values) - 1) for k in range(len(values))]
            ax.scatter(jitter, values, s=14, color=f"C{x}", alpha=0.6)
            ax.errorbar([x + 0.2], [ev.mean], yerr=[[ev.mean - ev.low], [ev.high - ev.mean]],
                        fmt="o", color=f"C{x}", capsize=4)  # fmt: skip
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_xticks(range(len(measured_steps(data))), measured_steps(data), rotation=20,
                      ha="right")  # fmt: skip
        ax.set_title(f"{names[metric]}: per seed (dots), mean and 95 % interval", fontsize=10)
    axes[0].set_ylabel("points: the step's row minus the row it adds to")
    axes[0].figure.tight_layout()
    return axes


def reference_claims(data: dict) -> list[Claim]:
    """The chapter's ledger rows that the stored reference results measure (``scale=
    "reference"``; the second data set's only if they ran digit scenes), by the shared verdict
    rule on paired per-seed differences, as the live run words them."""
    shapes, digits = reference_study(data, "shapes"), reference_study(data, "digits")
    steps, ap75 = reference_steps(data), reference_steps(data, "map_75")
    runs = _runs(data, "shapes")
    seeds = sorted(s for name, s in runs if name == "baseline")
    where = f"{len(seeds)} seeds, shape scenes, reference scale"
    shares = [runs[("baseline", s)]["misalignment"] for s in seeds]
    misalignment = paired_verdict([m["boundary_gap"] for m in shares])
    more = [m["boundary_more"] for m in shares]
    corr = paired_verdict([runs[("+ IAC + DC", s)]["score_iou_correlation"]
                           - runs[("baseline", s)]["score_iou_correlation"] for s in seeds])
    gamma = data["params"]["gamma"]
    n_digits = len(digits.metrics.get("baseline", {}))
    claims = [
        Claim("07-misalignment", "Task spatial misalignment: the localiser is more sensitive to "
              "an object's margins than the classifier (Figure 1)", "qualitative (saliency figure)",
              f"boundary-band share, box minus score map, per seed: "
              f"{misalignment.describe(digits=3)}; box larger for {min(more):.0%} to "
              f"{max(more):.0%} of the {shares[0]['detections']} detections of each seed's "
              f"baseline ({where})", misalignment.verdict, "reference"),
        Claim("07-iac", "+ IAC anchor assignment (Table 2, COCO val, R50 RetinaNet)",
              "AP 35.9 -> 36.4, AP50 56.1 -> 56.5, AP75 38.6 -> 39.1",
              f"{row_summary(shapes, 'baseline')} -> {row_summary(shapes, '+ IAC')}; AP step "
              f"{steps['+ IAC'].describe(digits=2)} ({where})", steps["+ IAC"].verdict,
              "reference"),
        Claim("07-dc-loss", "+ DC loss on top of IAC (Table 2)", "AP 37.1, AP50 56.3, AP75 39.7",
              f"{row_summary(shapes, '+ IAC + DC')}; AP step {steps['+ DC'].describe(digits=2)},"
              f" AP75 step {ap75['+ DC'].describe(digits=2)}; score-IoU correlation "
              f"{corr.describe(digits=3)} vs baseline ({where})", steps["+ DC"].verdict,
              "reference"),
        Claim("07-cl-nms", "+ CL-balanced NMS on top of IAC + DC (Table 2)",
              "AP 37.5, AP50 56.9, AP75 40.0",
              f"{row_summary(shapes, '+ IAC + DC + CL-NMS')} at gamma {gamma}; AP step "
              f"{steps['+ CL-NMS'].describe(digits=2)} ({where})", steps["+ CL-NMS"].verdict,
              "reference"),
    ]  # fmt: skip
    if n_digits:
        claims.append(Claim(
            "07-second-dataset", "The three components together improve a second data set "
            "(Table 2, VOC 2007 mAP 78.2 -> 79.7)", "+1.5 mAP",
            f"MNIST digit scenes, {n_digits} seeds, reference scale: "
            f"{row_summary(digits, 'baseline')} -> {row_summary(digits, '+ IAC + DC + CL-NMS')};"
            f" AP {steps['whole method, digits'].describe(digits=2)}",
            steps["whole method, digits"].verdict, "reference"))  # fmt: skip
    return claims
