"""Chapter 08 recipe: the margin family (softmax, NormFace, CosFace, ArcFace, SphereFace, centre
loss, C+1) trained on MNIST with 2-D, 3-D and 64-D embeddings, measured and drawn on the sphere.

Plumbing: a margin head holds the class weights, so its model is ``MarginModel(MLP, head)``
(the MLP's embedding feeds the head; ``model.loss`` asks ``fit`` for the features and ignores the
logits). The other losses use the MLP's own classifier: a linear head for softmax and the centre
loss, a cosine head (``normalize=True``) for the C+1 loss.

The task: the six digits ``DIGITS`` (0-5), labels 0-5. Ten classes do not fit on a 2-D circle
at teaching size (normalised heads trained from scratch lose classes on top of each other on
most seeds); six do, 60 degrees apart. The C+1 loss also sees the digits ``C1_BACKGROUND`` (6-9)
as its background class 0 (digits 0-5 are then its classes 1-6): that is its setting.

Everything a slide shows is stored in a ``Snapshot`` (test features, labels, decision regions on
the circle at the margin it was trained with), so widgets never retrain.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.losses import (
    ArcFaceLoss,
    CenterLoss,
    CosFaceLoss,
    CPlusOneLoss,
    MarginModel,
    NormFaceLoss,
    SphereFaceLoss,
)
from cplus_edu.models import MLP
from cplus_edu.train import fit, predict

from .ledger import Claim
from .verdicts import all_of, paired_verdict

FAMILY_HEADS = ("softmax", "NormFace", "CosFace", "ArcFace", "SphereFace", "centre loss", "C+1")
MARGIN_HEADS = {"CosFace": CosFaceLoss, "ArcFace": ArcFaceLoss, "SphereFace": SphereFaceLoss}
PAPER_MARGINS = {"CosFace": 0.35, "ArcFace": 0.5, "SphereFace": 4}
MARGIN_GRID = {"CosFace": (0.0, 0.1, 0.35), "ArcFace": (0.0, 0.2, 0.5), "SphereFace": (1, 2, 4)}
DIGITS = (0, 1, 2, 3, 4, 5)  # the classes every head learns
C1_BACKGROUND = (6, 7, 8, 9)  # digits that are the background class of the C+1 task
NUM = len(DIGITS)


#: ``teaching``: the notebook's live run (2-D and 3-D); ``reference``: every MNIST training and
#: test image, the claim's 3-D embedding, the same learning rate and epochs for every head (none
#: is tuned), five paired seeds
SCALES = {
    "teaching": {"n_per_class": 500, "n_test_per_class": 150, "hidden": [128], "epochs": 10,
                 "lr": 3e-3, "seeds": [0, 1, 2, 3, 4], "dims": [2, 3], "umap_points": 900,
                 "heads": list(FAMILY_HEADS)},
    "reference": {"n_per_class": None, "n_test_per_class": None, "hidden": [128],
                  "epochs": 10, "lr": 3e-3, "seeds": [0, 1, 2, 3, 4], "dims": [3],
                  "umap_points": 900, "heads": list(FAMILY_HEADS)},
}  # fmt: skip


def scale_for(dim: int) -> float:
    """s of the normalised heads: 4 on the circle and the sphere (larger scales lose classes
    there at this size), 16 in 64-D (the papers' 64 suits 512-D faces)."""
    return 4.0 if dim <= 3 else 16.0


SPHEREFACE_LAMBDA = 5.0  # the paper's final softmax blend (it anneals 1000 -> 5)


class CentreLossCE(nn.Module):
    """Wen et al. (2016): ``CE + alpha * centre loss`` on unit features, every digit a class.

    ``CenterLoss`` keeps centres for classes of interest only, so it gets one extra, never-used
    background label ``K``."""

    needs_features = True

    def __init__(self, num_classes: int, dim: int, alpha: float = 0.1):
        super().__init__()
        self.centre = CenterLoss(num_classes + 1, dim, background_index=num_classes,
                                 centers="learnable")  # fmt: skip
        self.alpha = alpha

    def forward(self, features, logits, labels):
        return F.cross_entropy(logits, labels) + self.alpha * self.centre(features, labels)


def relabel(head: str, digits: torch.Tensor) -> torch.Tensor:
    """Digits -> the head's labels: ``DIGITS`` -> 0..5 (C+1: 1..6, ``C1_BACKGROUND`` -> 0);
    -1 for digits the head does not see."""
    table = torch.full((10,), -1, dtype=torch.long)
    for i, d in enumerate(DIGITS):
        table[d] = i + (head == "C+1")
    if head == "C+1":
        table[list(C1_BACKGROUND)] = 0
    return table[digits]


def load_margin_data(n_per_class: int | None, n_test_per_class: int | None, seed: int = 0):
    """MNIST ``(x_train, digits_train, x_test, digits_test)`` of ``DIGITS + C1_BACKGROUND``
    (``None``: every image of each digit)."""
    from cplus_edu.data import load_mnist

    classes = DIGITS + C1_BACKGROUND
    x, y = load_mnist("train", classes=classes, n_per_class=n_per_class, seed=seed)
    xt, yt = load_mnist("test", classes=classes, n_per_class=n_test_per_class, seed=seed)
    return x, y, xt, yt


def build(head: str, dim: int, margin: float | None = None, hidden=(128,)):
    """``(model, loss_fn)`` for one head (``margin=None``: the paper's)."""
    scale = scale_for(dim)
    if head == "C+1":
        model = MLP(28 * 28, NUM + 1, embedding_dim=dim, hidden=hidden, normalize=True,
                    scale=scale)  # fmt: skip
        return model, CPlusOneLoss(NUM + 1, dim, alpha=0.1, beta=1.0, margin=1.0)
    if head in ("softmax", "centre loss"):
        model = MLP(28 * 28, NUM, embedding_dim=dim, hidden=hidden)
        loss = nn.CrossEntropyLoss() if head == "softmax" else CentreLossCE(NUM, dim)
        return model, loss
    backbone = MLP(28 * 28, NUM, embedding_dim=dim, hidden=hidden)
    if head == "NormFace":
        margin_head = NormFaceLoss(NUM, dim, scale=scale)
    elif head == "SphereFace":
        margin_head = SphereFaceLoss(NUM, dim, margin=4 if margin is None else margin,
                                     lambda_=SPHEREFACE_LAMBDA)  # fmt: skip
    else:
        m = PAPER_MARGINS[head] if margin is None else margin
        margin_head = MARGIN_HEADS[head](NUM, dim, margin=m, scale=scale)
    model = MarginModel(backbone, margin_head)
    return model, model.loss


def angular_stats(features: torch.Tensor, labels: torch.Tensor, skip=()) -> dict[str, float]:
    """On the unit sphere: ``spread_deg`` = mean angle of a sample to its class mean direction,
    ``inter_min_deg`` / ``inter_nn_deg`` = smallest / mean nearest-neighbour angle between class
    mean directions (classes in ``skip``, e.g. the C+1 background, left out)."""
    u = F.normalize(features.double(), dim=1)
    classes = [int(c) for c in labels.unique() if int(c) not in skip]
    means = torch.stack([F.normalize(u[labels == c].mean(0), dim=0) for c in classes])
    spreads = [torch.rad2deg(torch.acos((u[labels == c] @ means[i]).clamp(-1, 1)))
               for i, c in enumerate(classes)]  # fmt: skip
    between = torch.rad2deg(torch.acos((means @ means.t()).clamp(-1, 1)))
    between.fill_diagonal_(float("inf"))
    nearest = between.min(1).values
    return {"spread_deg": float(torch.cat(spreads).mean()), "inter_min_deg": float(nearest.min()),
            "inter_nn_deg": float(nearest.mean())}  # fmt: skip


def _region_logits(model, head: str, u: torch.Tensor, labels: torch.Tensor | None):
    """Logits at unit directions ``u [A, D]``: margin-free, or with the margin at ``labels``."""
    if isinstance(model, MarginModel):
        if labels is None:
            return model.head.logits(u)
        return model.head.margin_logits(u, labels)
    if labels is not None:
        raise ValueError(f"{head} has no margin to draw")
    if isinstance(model.head, nn.Linear):  # a direction's class: the bias matters little far out
        return u @ model.head.weight.t()
    return model.head(u)


@torch.no_grad()
def circle_regions(model, head: str, n_angles: int = 720) -> tuple[np.ndarray, np.ndarray | None]:
    """Class owning each direction of the circle (``[A]``), and for a margin head the class that
    still wins *with its margin* there (``-1`` in the gaps the margin opens)."""
    phi = torch.linspace(0, 2 * math.pi, n_angles + 1)[:-1]
    u = torch.stack([phi.cos(), phi.sin()], 1)
    plain = _region_logits(model, head, u, None).argmax(1).numpy()
    if not isinstance(model, MarginModel):
        return plain, None
    k = model.head.num_classes
    wins = torch.full((n_angles,), -1)
    for c in range(k):
        z = _region_logits(model, head, u, torch.full((n_angles,), c))
        others = torch.cat([z[:, :c], z[:, c + 1 :]], 1).max(1).values
        wins[z[:, c] > others] = c
    return plain, wins.numpy()


@dataclass
class Snapshot:
    """One trained head, stored for plots and sliders (no model kept)."""

    head: str
    dim: int
    margin: float | None
    seed: int
    accuracy: float
    stats: dict[str, float]
    features: torch.Tensor  # `[N, dim]` test features, unit-normalised
    labels: torch.Tensor  # `[N]` the head's labels (C+1: 0 = background)
    regions: np.ndarray | None = None  # `[A]` class per circle direction (2-D only)
    margin_regions: np.ndarray | None = None  # `[A]` winner with margin, -1 in gaps
    weights: torch.Tensor | None = field(default=None, repr=False)  # class directions `[K, dim]`


def train_head(
    head,
    dim,
    data,
    *,
    margin=None,
    seed=0,
    epochs=10,
    lr=3e-3,
    hidden=(128,),
    keep_model: dict | None = None,
    checkpoint=None,
):
    """Train one head on ``data = load_margin_data(...)``; a Snapshot of its test features
    (``checkpoint``: ``fit``'s, so a killed run resumes after its last epoch)."""
    x_train, d_train, x_test, d_test = data
    y_train, y_test = relabel(head, d_train), relabel(head, d_test)
    torch.manual_seed(seed)
    model, loss_fn = build(head, dim, margin, hidden)
    keep = y_train >= 0
    fit(model, loss_fn, (x_train[keep], y_train[keep]), epochs=epochs, lr=lr, seed=seed,
        progress=False, checkpoint=checkpoint)  # fmt: skip
    if keep_model is not None:
        keep_model[(head, dim, margin, seed)] = model
    seen = y_test >= 0
    features, logits = predict(model, x_test[seen])
    labels = y_test[seen]
    accuracy = float((logits.argmax(1) == labels).float().mean())
    snap = Snapshot(head, dim, margin, seed, accuracy,
                    angular_stats(features, labels, skip=(0,) if head == "C+1" else ()),
                    F.normalize(features, dim=1), labels)  # fmt: skip
    snap.weights = F.normalize(model.head.weight.detach(), dim=1)  # `[K, dim]` class directions
    if dim == 2:
        snap.regions, snap.margin_regions = circle_regions(model, head)
    return snap


def summarize_heads(
    snaps: list[Snapshot], keys=("accuracy", "spread_deg", "inter_min_deg", "inter_nn_deg")
) -> dict[str, dict[str, tuple]]:
    """``{head: {key: (mean, std)}}`` over the seeds."""
    out: dict[str, dict[str, tuple]] = {}
    for head in dict.fromkeys(s.head for s in snaps):
        rows = [s for s in snaps if s.head == head]
        out[head] = {}
        for key in keys:
            values = [s.accuracy if key == "accuracy" else s.stats[key] for s in rows]
            out[head][key] = (statistics.mean(values),
                              statistics.stdev(values) if len(values) > 1 else 0.0)  # fmt: skip
    return out


def paired_spread_gain(compact: list[Snapshot], baseline: list[Snapshot]) -> list[float]:
    """Per-seed ``spread(baseline) - spread(compact)`` in degrees, the runs matched by seed (seeds
    in increasing order): positive where the ``compact`` run's classes are tighter than the
    baseline run's of the same seed (e.g. CosFace's snapshots against NormFace's)."""
    spread = [{s.seed: s.stats["spread_deg"] for s in runs} for runs in (compact, baseline)]
    if len(spread[0]) != len(compact) or len(spread[1]) != len(baseline):
        raise ValueError("each list must hold one snapshot per seed")
    if not spread[0] or spread[0].keys() != spread[1].keys():
        raise ValueError(f"the seeds must match, got {sorted(spread[0])} and {sorted(spread[1])}")
    return [spread[1][seed] - spread[0][seed] for seed in sorted(spread[0])]


def format_head_summary(summary) -> str:
    keys = ["accuracy", "spread_deg", "inter_min_deg", "inter_nn_deg"]
    lines = [f"{'head':12s}" + "".join(f"{k:>18s}" for k in keys)]
    for head, row in summary.items():
        cells = [f"{100 * row[k][0]:8.2f} ± {100 * row[k][1]:5.2f} %" if k == "accuracy"
                 else f"{row[k][0]:9.1f} ± {row[k][1]:5.1f}°" for k in keys]  # fmt: skip
        lines.append(f"{head:12s}" + "".join(f"{c:>18s}" for c in cells))
    return "\n".join(lines)


def _color(label: int):
    import matplotlib.pyplot as plt

    return plt.get_cmap("tab10")(int(label) % 10)


def digit_color(head: str, label: int):
    """Colour of a head's label, by digit (so C+1's class k is digit k - 1; its background grey)."""
    if head == "C+1":
        return "0.6" if label == 0 else _color(label - 1)
    return _color(label)


def digit_legend(ax, loc="center", rings: bool = True):
    """A legend of the digit colours, for an empty panel; with ``rings`` also the two rings and
    the spokes that ``draw_circle`` draws (``draw_sphere`` draws neither: ``rings=False``)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], ls="", marker="o", color=_color(i), label=f"digit {d}")
               for i, d in enumerate(DIGITS)]  # fmt: skip
    handles.append(Line2D([], [], ls="", marker="o", color="0.6", label="C+1 background (6-9)"))
    if not rings:
        ax.legend(handles=handles, loc=loc, fontsize=8, frameon=False)
        ax.axis("off")
        return
    handles.append(Patch(color="0.5", alpha=0.55, label="outer ring: class owning the direction"))
    handles.append(Patch(color="0.8", alpha=0.55,
                         label="inner ring: class still winning with its margin\n"
                               "(white gap = the margin)"))  # fmt: skip
    handles.append(Line2D([], [], color="0.3", label="spoke: class weight direction"))
    ax.legend(handles=handles, loc=loc, fontsize=8, frameon=False)
    ax.axis("off")


def _arcs(ax, regions: np.ndarray, radius: float, width: float, head: str, gap_color=None):
    from matplotlib.patches import Wedge

    n = len(regions)
    step = 360.0 / n
    start = 0
    for i in range(1, n + 1):
        if i == n or regions[i] != regions[start]:
            c = int(regions[start])
            color = gap_color if c < 0 else digit_color(head, c)
            if color is not None:
                ax.add_patch(Wedge((0, 0), radius, start * step, i * step, width=width,
                                   color=color, alpha=0.55 if c >= 0 else 1.0, lw=0))  # fmt: skip
            start = i


def draw_circle(snap: Snapshot, ax=None, jitter: float = 0.03, max_points: int = 1500):
    """Test features on the unit circle (coloured by label, C+1 background grey), class weight
    directions as spokes, test-time regions (outer ring) and, for a margin head, the regions a
    class still wins *with its margin* (inner ring; white gaps = the margin)."""
    import matplotlib.pyplot as plt

    if snap.dim != 2:
        raise ValueError(f"draw_circle needs a 2-D snapshot, got dim={snap.dim}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    rng = np.random.default_rng(0)
    u, y = snap.features[:max_points].numpy(), snap.labels[:max_points].numpy()
    r = 1.0 + rng.uniform(-jitter, jitter, size=(len(u), 1))
    for c in np.unique(y):
        ax.scatter(*(u[y == c] * r[y == c]).T, s=3, color=digit_color(snap.head, c), alpha=0.6,
                   lw=0)  # fmt: skip
    if snap.regions is not None:
        _arcs(ax, snap.regions, 1.32, 0.1, snap.head)
    if snap.margin_regions is not None:
        _arcs(ax, snap.margin_regions, 1.2, 0.1, snap.head, gap_color="white")
    if snap.weights is not None:
        for k, w in enumerate(snap.weights.numpy()):
            ax.plot([0, 0.9 * w[0]], [0, 0.9 * w[1]], color=digit_color(snap.head, k), lw=1)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    margin = "" if snap.margin is None else f", m={snap.margin:g}"
    ax.set_title(f"{snap.head}{margin}: acc {100 * snap.accuracy:.1f} %\n"
                 f"spread {snap.stats['spread_deg']:.1f}°, min inter "
                 f"{snap.stats['inter_min_deg']:.1f}°", fontsize=9)  # fmt: skip
    return ax


def draw_sphere(snap: Snapshot, ax, max_points: int = 1500):
    """Test features on the unit sphere (3-D axes), coloured by label."""
    if snap.dim != 3:
        raise ValueError(f"draw_sphere needs a 3-D snapshot, got dim={snap.dim}")
    uu, vv = np.mgrid[0 : 2 * np.pi : 25j, 0 : np.pi : 13j]
    ax.plot_wireframe(np.cos(uu) * np.sin(vv), np.sin(uu) * np.sin(vv), np.cos(vv), color="0.85",
                      lw=0.3)  # fmt: skip
    u, y = snap.features[:max_points].numpy(), snap.labels[:max_points].numpy()
    for c in np.unique(y):
        ax.scatter(*u[y == c].T, s=2, color=digit_color(snap.head, c), depthshade=False)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.set_zticks([-1, 0, 1])
    ax.set_title(f"{snap.head}: spread {snap.stats['spread_deg']:.1f}°\n"
                 f"min inter {snap.stats['inter_min_deg']:.1f}°", fontsize=9)  # fmt: skip
    return ax


# --- the reference scale (issue 18) ---


def jobs(params: dict) -> list[dict]:
    """One job per (embedding size in ``dims``, seed, head in ``heads``)."""
    return [{"head": head, "dim": dim, "seed": seed,
             "key": f"{head.replace(' ', '-')}_{dim}d_seed{seed}"}
            for dim in params["dims"] for seed in params["seeds"]
            for head in params["heads"]]  # fmt: skip


def run_job(params: dict, job: dict, checkpoint) -> dict:
    """Train one head (``train_head``, resumable through ``checkpoint``); its test accuracy and
    angles."""
    data = load_margin_data(params["n_per_class"], params["n_test_per_class"])
    snap = train_head(job["head"], job["dim"], data, seed=job["seed"], epochs=params["epochs"],
                      lr=params["lr"], hidden=tuple(params["hidden"]),
                      checkpoint=checkpoint)  # fmt: skip
    return {"head": snap.head, "dim": snap.dim, "seed": snap.seed, "accuracy": snap.accuracy,
            **snap.stats}  # fmt: skip


#: the bars: softmax on six digits through a 3-D embedding reaches about 98.5 % with this MLP on
#: every training image (a 10-digit MLP with a wide embedding: 98-98.5 %); NormFace, the claim's
#: baseline, must converge as well
ACCURACY_BAR = 0.98


def _rows(results: dict, dim: int = 3) -> dict[str, dict[int, dict]]:
    """``{head: {seed: metrics}}`` of the stored runs at embedding size ``dim``."""
    out: dict[str, dict[int, dict]] = {}
    for run in results["runs"]:
        m = run["metrics"]
        if m["dim"] == dim:
            out.setdefault(m["head"], {})[m["seed"]] = m
    return out


def credibility(results: dict) -> dict[str, tuple[float, float]]:
    """``{baseline: (measured, bar)}``: softmax's and NormFace's mean test accuracy in 3-D."""
    rows = _rows(results)
    mean = lambda head: statistics.mean(m["accuracy"] for m in rows[head].values())  # noqa: E731
    return {f"{head} test accuracy, 3-D, digits 0-5 (mean over seeds)": (mean(head), ACCURACY_BAR)
            for head in ("softmax", "NormFace")}  # fmt: skip


def head_table(results: dict, dim: int = 3) -> dict[str, dict[str, tuple[float, float]]]:
    """``{head: {key: (mean, std over seeds)}}`` of stored results, as ``summarize_heads``."""
    out = {}
    rows = _rows(results, dim)
    for head in [h for h in FAMILY_HEADS if h in rows]:
        per_seed = rows[head]
        out[head] = {}
        for key in ("accuracy", "spread_deg", "inter_min_deg", "inter_nn_deg"):
            values = [m[key] for m in per_seed.values()]
            out[head][key] = (statistics.mean(values), statistics.stdev(values))
    return out


def spread_gains(results: dict, baseline: str = "NormFace",
                 heads=("CosFace", "ArcFace")) -> dict[str, list[float]]:  # fmt: skip
    """Per seed ``spread(baseline) - spread(head)`` in degrees (3-D), seeds in increasing order:
    positive where the head's classes are tighter than the baseline's of the same seed."""
    rows = _rows(results)
    seeds = sorted(rows[baseline])
    return {head: [rows[baseline][s]["spread_deg"] - rows[head][s]["spread_deg"] for s in seeds]
            for head in heads}  # fmt: skip


def reference_claims(results: dict) -> list[Claim]:
    """Chapter 08's ledger rows measured by the stored reference results."""
    table = head_table(results)
    gains = {head: paired_verdict(d) for head, d in spread_gains(results).items()}
    spreads = ", ".join(f"{h} {table[h]['spread_deg'][0]:.1f} ± {table[h]['spread_deg'][1]:.1f}°"
                        for h in ("softmax", "NormFace", "CosFace", "ArcFace"))  # fmt: skip
    accuracy = ", ".join(f"{h} {100 * table[h]['accuracy'][0]:.2f} %"
                         for h in ("softmax", "NormFace", "CosFace", "ArcFace"))  # fmt: skip
    n = len(next(iter(spread_gains(results).values())))
    return [Claim(
        "08-margin-compacts",
        "Related work (CosFace, ArcFace): a cosine or angular margin compacts classes beyond "
        "normalisation", "figures of toy embeddings",
        f"3-D MNIST digits 0-5, every training image ({n} seeds), mean angle to the class "
        f"direction: {spreads}; NormFace - CosFace {gains['CosFace'].describe(unit='°')}, "
        f"NormFace - ArcFace {gains['ArcFace'].describe(unit='°')}; test accuracy {accuracy}",
        all_of(gains.values()), scale="reference")]  # fmt: skip
