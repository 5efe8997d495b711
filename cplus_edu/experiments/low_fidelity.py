"""Chapter 05's runs: CE, CACE and CAS on low-fidelity saliency labels (CAS paper, section 5),
and three losses that segment texture mosaics from meaningless region ids.

Every loss reads the **same annotation**: the label image with each region's label flipped with
probability ``p`` (`cplus_edu.data.flip_region_labels`). Cross-entropy reads it as classes; CACE
and CAS read it as a region map (pixels with the same label belong together). With a binary label
image, flipping one of an image's two regions merges them into one region, so the region losses
see the noise too (as merged regions), not only CE.

- `saliency_study`: per seed, CE and CAS at every flip rate and CACE at the highest one; rows
  ``{"model", "p", "seed", "f_beta", "mae"}``, plus the saliency maps of the first seed.
- `segmentation_study`: per seed, CAS, the discriminative loss and CE on the region ids of
  texture mosaics; rows ``{"model", "seed", "ari", "segments"}``, plus the first seed's maps.
- `merged_share`, `segments_per_image`, `between_margin`: the small measurements the chapter
  reports.
"""

from __future__ import annotations

import statistics
from functools import lru_cache
from typing import Sequence

import torch
from torch import Tensor

from cplus_edu.data import flip_region_labels, make_saliency_scenes, make_texture_mosaics
from cplus_edu.experiments.ledger import Claim
from cplus_edu.experiments.verdicts import paired_verdict
from cplus_edu.grouping import group_pixels
from cplus_edu.losses import CASLoss, ClassAgnosticCELoss, DiscriminativeLoss
from cplus_edu.metrics import adjusted_rand_index, choose_salient_channel, evaluate_saliency
from cplus_edu.models import TinyFCN
from cplus_edu.train import fit, predict
from cplus_edu.utils import seed_everything


def train_tiny(
    loss, data: tuple, *, seed: int, epochs: int, channels: int = 2, width: int = 16,
    batch_size: int = 32, lr: float = 5e-3, checkpoint=None,
) -> TinyFCN:  # fmt: skip
    """A `TinyFCN` with `channels` outputs trained on `data` = ``(images, *targets)``
    (``checkpoint``: a killed run resumes, see ``fit``)."""
    seed_everything(seed)
    model = TinyFCN(in_channels=3, num_outputs=channels, width=width)
    fit(model, loss, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        checkpoint=checkpoint)  # fmt: skip
    return model


def saliency_map(model, val, test) -> Tensor:
    """The saliency map `S` `[N, H, W]` of `model` on the `test` scenes: the softmax of the
    channel that correlates best with the masks of the `val` scenes (as the paper picks it)."""
    _, logits_val = predict(model, val.images)
    channel = choose_salient_channel(logits_val.softmax(dim=1), val.mask)
    _, logits_test = predict(model, test.images)
    return logits_test.softmax(dim=1)[:, channel]


def merged_share(labels: Tensor) -> float:
    """Share of the label images `[N, H, W]` that hold a single value: where a flip merged the
    regions, so a region loss sees one region."""
    flat = labels.flatten(1)
    return (flat == flat[:, :1]).all(dim=1).float().mean().item()


def saliency_runs(noise_levels: Sequence[float]) -> list[tuple[str, float]]:
    """``[(model, p), ...]``: CE and CAS at every flip rate, CACE at the highest."""
    if not noise_levels:
        raise ValueError(f"noise_levels must be non-empty, got {noise_levels}")
    return ([("CE", p) for p in noise_levels] + [("CAS", p) for p in noise_levels]
            + [("CACE", max(noise_levels))])  # fmt: skip


def saliency_run(
    train, val, test, model: str, p: float, *, seed: int, epochs: int, alpha: float = 0.5,
    flip_seed: int = 100, checkpoint=None, **settings,
) -> tuple[dict, Tensor]:  # fmt: skip
    """Train one `model` in {"CE", "CAS", "CACE"} on `train`'s labels flipped at rate `p` (coins
    drawn with ``flip_seed + seed``) and score its saliency map on `test`. Returns the row
    ``{"model", "p", "seed", "f_beta", "mae"}`` and the map. `settings` go to `train_tiny`."""
    labels = flip_region_labels(train.mask, train.mask, p, seed=flip_seed + seed)
    losses = {"CE": (torch.nn.CrossEntropyLoss(), (labels,)),
              "CAS": (CASLoss(alpha=alpha), (labels,)),
              "CACE": (ClassAgnosticCELoss(), (labels, labels))}  # fmt: skip
    if model not in losses:
        raise ValueError(f"model must be one of {sorted(losses)}, got {model!r}")
    loss, targets = losses[model]
    net = train_tiny(loss, (train.images, *targets), seed=seed, epochs=epochs,
                     checkpoint=checkpoint, **settings)  # fmt: skip
    saliency = saliency_map(net, val, test)
    row = {"model": model, "p": p, "seed": seed, **evaluate_saliency(saliency, test.mask)}
    return row, saliency


def saliency_study(
    train, val, test, *, seeds: Sequence[int], noise_levels: Sequence[float], epochs: int,
    alpha: float = 0.5, flip_seed: int = 100, **settings,
) -> tuple[list[dict], dict[str, Tensor]]:  # fmt: skip
    """`saliency_run` for every seed and every run of `saliency_runs`. Returns the rows and
    ``{"CE, p = 0.5": S, ...}``, the saliency maps of the first seed."""
    if not seeds:
        raise ValueError(f"seeds must be non-empty, got {seeds}")
    rows, maps = [], {}
    for seed in seeds:
        for name, p in saliency_runs(noise_levels):
            row, saliency = saliency_run(train, val, test, name, p, seed=seed, epochs=epochs,
                                         alpha=alpha, flip_seed=flip_seed, **settings)  # fmt: skip
            rows.append(row)
            if seed == seeds[0]:
                maps[f"{name}, p = {p}"] = saliency
    return rows, maps


def segments_per_image(prediction: Tensor) -> Tensor:
    """`[N]` number of distinct ids in each predicted region map `[N, H, W]`."""
    return torch.tensor([len(p.unique()) for p in prediction])


def _argmax(outputs: Tensor) -> Tensor:
    return outputs.argmax(dim=1)


def mosaic_losses(alpha: float = 0.5, bandwidth: float = 1.5) -> dict[str, tuple]:
    """``{name: (loss, decode)}``: CAS (segments = argmax channel), the discriminative loss
    (mean-shift grouping with bandwidth `bandwidth` = its delta_d) and CE on the region ids."""
    return {
        "CAS": (CASLoss(alpha=alpha), _argmax),
        "discriminative": (DiscriminativeLoss(), lambda z: group_pixels(z, bandwidth=bandwidth)),
        "CE on region ids": (torch.nn.CrossEntropyLoss(), _argmax),
    }


#: CE on the true texture of every pixel (full, class-meaningful labels, which the region losses
#: never see): what the same net can reach on the mosaics, the reference scale's credibility bar
FULL_LABELS = "CE on texture classes"


def texture_classes(mosaics) -> Tensor:
    """`[N, H, W]` the bank texture (0..7) of every pixel of `mosaics`."""
    return mosaics.textures.gather(1, mosaics.regions.flatten(1)).view_as(mosaics.regions)


def mosaic_run(
    train, test, name: str, *, seed: int, epochs: int, channels: int, alpha: float = 0.5,
    checkpoint=None, **settings,
) -> tuple[dict, Tensor]:  # fmt: skip
    """Train one of the `mosaic_losses` (`name`) on `train`'s region ids, or `FULL_LABELS` on its
    texture classes; score the adjusted Rand index (mean over the `test` mosaics) and the
    segments per image. Returns the row ``{"model", "seed", "ari", "segments"}`` and the
    prediction `[N, H, W]`."""
    losses = {**mosaic_losses(alpha), FULL_LABELS: (torch.nn.CrossEntropyLoss(), _argmax)}
    if name not in losses:
        raise ValueError(f"name must be one of {sorted(losses)}, got {name!r}")
    loss, decode = losses[name]
    target = texture_classes(train) if name == FULL_LABELS else train.regions
    model = train_tiny(loss, (train.images, target), seed=seed, epochs=epochs, channels=channels,
                       checkpoint=checkpoint, **settings)  # fmt: skip
    _, outputs = predict(model, test.images)
    prediction = decode(outputs)
    row = {"model": name, "seed": seed,
           "ari": adjusted_rand_index(prediction, test.regions).mean().item(),
           "segments": segments_per_image(prediction).float().mean().item(),
           "true segments": test.num_regions.float().mean().item()}  # fmt: skip
    return row, prediction


def segmentation_study(
    train, test, *, seeds: Sequence[int], epochs: int, channels: int, alpha: float = 0.5,
    **settings,
) -> tuple[list[dict], dict[str, Tensor]]:  # fmt: skip
    """`mosaic_run` of the three `mosaic_losses` for every seed. Returns the rows and the first
    seed's predictions ``{name: [N, H, W]}``."""
    if not seeds:
        raise ValueError(f"seeds must be non-empty, got {seeds}")
    rows, predictions = [], {}
    for seed in seeds:
        for name in mosaic_losses(alpha):  # not FULL_LABELS: the chapter's three losses
            row, prediction = mosaic_run(train, test, name, seed=seed, epochs=epochs,
                                         channels=channels, alpha=alpha, **settings)  # fmt: skip
            rows.append(row)
            if seed == seeds[0]:
                predictions[name] = prediction
    return rows, predictions


def between_margin(low: float, middle: float, high: float) -> float:
    """How far `middle` lies inside ``[low, high]``: ``min(middle - low, high - middle)``;
    positive when it is strictly between, negative by the distance it lies outside."""
    return min(middle - low, high - middle)


def per_seed(rows: list[dict], metric: str, **where) -> dict[int, float]:
    """``{seed: value of metric}`` of the rows that match every ``key=value`` of `where`."""
    chosen = {r["seed"]: r[metric] for r in rows if all(r[k] == v for k, v in where.items())}
    if not chosen:
        raise ValueError(f"no row matches {where}")
    return chosen


COLLAPSE = "CE clean - CE at p = 0.5 (F_beta)"
ROBUST = "CAS - CE at p = 0.5 (F_beta)"
CAS_DROP = "CAS at p = 0.5 - CAS clean (F_beta)"
BETWEEN = "CACE inside [CE, CAS] at p = 0.5 (MAE margin)"
REGIONS_WIN = "worse region loss - CE on ids (ARI)"
CAS_VS_DISC = "CAS - discriminative (ARI)"


def paired_differences(saliency_rows: list[dict], mosaic_rows: list[dict]) -> dict[str, list]:
    """The per-seed differences the chapter's verdicts read, signed so that positive is the
    paper's way (MAE negated), from the rows of `saliency_study` and `segmentation_study`."""
    seeds = sorted({r["seed"] for r in saliency_rows})
    levels = [r["p"] for r in saliency_rows]
    clean, worst = min(levels), max(levels)
    fb = {m: per_seed(saliency_rows, "f_beta", model=m[0], p=m[1]) for m in
          [("CE", clean), ("CE", worst), ("CAS", clean), ("CAS", worst)]}  # fmt: skip
    mae = {m: per_seed(saliency_rows, "mae", model=m, p=worst) for m in ("CE", "CACE", "CAS")}
    ari = {name: per_seed(mosaic_rows, "ari", model=name) for name in mosaic_losses()}
    return {
        COLLAPSE: [fb["CE", clean][s] - fb["CE", worst][s] for s in seeds],
        ROBUST: [fb["CAS", worst][s] - fb["CE", worst][s] for s in seeds],
        CAS_DROP: [fb["CAS", worst][s] - fb["CAS", clean][s] for s in seeds],
        BETWEEN: [between_margin(-mae["CE"][s], -mae["CACE"][s], -mae["CAS"][s]) for s in seeds],
        REGIONS_WIN: [min(ari["CAS"][s], ari["discriminative"][s]) - ari["CE on region ids"][s]
                      for s in seeds],
        CAS_VS_DISC: [ari["CAS"][s] - ari["discriminative"][s] for s in seeds],
    }  # fmt: skip


def low_fidelity_claims(saliency_rows: list[dict], mosaic_rows: list[dict],
                        scale: str = "teaching") -> list[Claim]:  # fmt: skip
    """The chapter's five ledger claims from the rows of `saliency_study` and
    `segmentation_study` (the live run's, or the stored reference runs'), each verdict by the
    shared rule on the `paired_differences`."""
    levels = [r["p"] for r in saliency_rows]
    clean, worst = min(levels), max(levels)
    d = paired_differences(saliency_rows, mosaic_rows)
    collapse = paired_verdict(d[COLLAPSE], paper_effect=0.958 - 0.691)
    robust = paired_verdict(d[ROBUST], paper_effect=0.920 - 0.691)
    cas_drop = paired_verdict(d[CAS_DROP])
    between = paired_verdict(d[BETWEEN], paper_effect=between_margin(-0.140, -0.076, -0.038))
    regions_win = paired_verdict(d[REGIONS_WIN])
    cas_vs_disc = paired_verdict(d[CAS_VS_DISC])

    def level(model, p, metric="f_beta"):
        return f"{statistics.fmean(per_seed(saliency_rows, metric, model=model, p=p).values()):.3f}"

    def mean_of(name, metric="ari"):
        return statistics.fmean(per_seed(mosaic_rows, metric, model=name).values())

    true_count = statistics.fmean(r["true segments"] for r in mosaic_rows)
    n = f"{len(d[COLLAPSE])} seeds"
    claims = [
        ("05-ce-collapses", "CE collapses with region labels flipped at p = 0.5",
         "ResNet-CE F_beta 0.958 -> 0.691, MAE 0.030 -> 0.140 (MSRA-B)",
         f"F_beta {level('CE', clean)} -> {level('CE', worst)}, MAE "
         f"{level('CE', clean, 'mae')} -> {level('CE', worst, 'mae')}; drop "
         f"{collapse.describe(digits=3)} ({n})", collapse.verdict),
        ("05-cas-robust", "CAS holds at p = 0.5 where CE collapses, about as with clean labels",
         "ResNet-CAS F_beta 0.920 at p = 0.5 (clean 0.985), CE 0.691",
         f"CAS trained on the same noisy maps: F_beta {level('CAS', worst)} (clean "
         f"{level('CAS', clean)}); CAS - CE at p = 0.5 {robust.describe(digits=3)}; CAS p = "
         f"0.5 - clean {cas_drop.describe(digits=3)} ({n})", robust.verdict),
        ("05-cace-between", "CACE lies between CE and CAS at p = 0.5",
         "ResNet-CACE F_beta 0.872, MAE 0.076",
         f"CACE F_beta {level('CACE', worst)}, MAE {level('CACE', worst, 'mae')} (CE "
         f"{level('CE', worst, 'mae')}, CAS {level('CAS', worst, 'mae')}); margin inside the "
         f"MAE interval {between.describe(digits=3)} ({n})", between.verdict),
        ("05-region-losses", "region losses segment from meaningless ids better than CE on the "
         "ids", "Table 4 (Rand index, covering)",
         f"ARI CAS {mean_of('CAS'):.3f}, discriminative {mean_of('discriminative'):.3f}, CE "
         f"{mean_of('CE on region ids'):.3f}; worse region loss - CE "
         f"{regions_win.describe(digits=3)} (texture mosaics, {n})", regions_win.verdict),
        ("05-cas-vs-discriminative", "CAS beats the discriminative loss on segmentation with an "
         "unknown number of regions", "VOC AP 0.71 vs 0.61 (Table 3)",
         f"ARI CAS - discriminative {cas_vs_disc.describe(digits=3)}; CAS "
         f"{mean_of('CAS', 'segments'):.2f} segments per mosaic (true {true_count:.2f}) ({n})",
         cas_vs_disc.verdict),
    ]  # fmt: skip
    return [Claim(*c[:4], verdict=c[4], scale=scale) for c in claims]


# ---------------------------------------------------------------------------------------------
# The two scales (cplus_edu/experiments/reference.py): the same runs, the reference one on more
# scenes (training and test) and more epochs, with five seeds, plus `FULL_LABELS` on the mosaics
# (what the net reaches when the labels are complete and meaningful).

SCALES = {
    "teaching": {"size": 32, "n_train": 192, "n_val": 64, "n_test": 128,
                 "noise_levels": [0.0, 0.5], "saliency_epochs": 8, "mosaic_epochs": 12,
                 "mosaic_channels": 8, "batch": 32, "lr": 0.005, "width": 16, "alpha": 0.5,
                 "seeds": [0, 1, 2], "data_seed": 0, "flip_seed": 100},
    "reference": {"size": 32, "n_train": 512, "n_val": 64, "n_test": 256,
                  "noise_levels": [0.0, 0.5], "saliency_epochs": 10, "mosaic_epochs": 20,
                  "mosaic_channels": 8, "batch": 32, "lr": 0.005, "width": 16, "alpha": 0.5,
                  "seeds": [0, 1, 2, 3, 4], "data_seed": 0, "flip_seed": 100},
}  # fmt: skip
#: credibility bars: CE with clean labels on the saliency scenes (the paper's ResNet-CE on clean
#: MSRA-B: 0.958) and CE with the full texture labels on the mosaics (ARI; the net can segment
#: them when told what each pixel is)
CLEAN_CE_BAR, FULL_LABELS_BAR = 0.95, 0.9


def scenes(params: dict):
    """``(train, val, test)`` saliency scenes and ``(train, test)`` texture mosaics of a scale."""
    return _scenes(params["size"], params["n_train"], params["n_val"], params["n_test"],
                   params["data_seed"])  # fmt: skip


@lru_cache(maxsize=2)
def _scenes(size: int, n_train: int, n_val: int, n_test: int, data_seed: int):
    saliency = tuple(make_saliency_scenes(n, size, seed=data_seed + i)
                     for i, n in enumerate((n_train, n_val, n_test)))  # fmt: skip
    mosaics = tuple(make_texture_mosaics(n, size, num_regions=(2, 5), seed=data_seed + 10 + i)
                    for i, n in enumerate((n_train, n_test)))  # fmt: skip
    return saliency, mosaics


def jobs(params: dict) -> list[dict]:
    """Per seed: every `saliency_runs` run, then the three `mosaic_losses` and `FULL_LABELS`."""
    out = []
    for seed in params["seeds"]:
        out += [{"seed": seed, "study": "saliency", "model": m, "p": p,
                 "key": f"saliency_{m}_p{p:g}_seed{seed}"}
                for m, p in saliency_runs(params["noise_levels"])]  # fmt: skip
        out += [{"seed": seed, "study": "mosaic", "model": name,
                 "key": f"mosaic_{name.replace(' ', '-')}_seed{seed}"}
                for name in [*mosaic_losses(), FULL_LABELS]]  # fmt: skip
    return out


def run_job(params: dict, job: dict, checkpoint) -> dict:
    """Train and score one run (`saliency_run` or `mosaic_run`); its row."""
    (train, val, test), (mosaics, mosaics_test) = scenes(params)
    settings = dict(width=params["width"], batch_size=params["batch"], lr=params["lr"],
                    alpha=params["alpha"], seed=job["seed"], checkpoint=checkpoint)  # fmt: skip
    if job["study"] == "saliency":
        row, _ = saliency_run(train, val, test, job["model"], job["p"],
                              epochs=params["saliency_epochs"], flip_seed=params["flip_seed"],
                              **settings)  # fmt: skip
    else:
        row, _ = mosaic_run(mosaics, mosaics_test, job["model"], epochs=params["mosaic_epochs"],
                            channels=params["mosaic_channels"], **settings)  # fmt: skip
    return row


def reference_rows(data: dict) -> tuple[list[dict], list[dict]]:
    """The stored runs' rows: ``(saliency rows, mosaic rows)`` (`FULL_LABELS` included)."""
    rows = [r["metrics"] for r in data["runs"]]
    return [r for r in rows if "p" in r], [r for r in rows if "p" not in r]


def credibility(data: dict) -> dict[str, tuple[float, float]]:
    """CE with clean labels reaches its bar on the saliency scenes, and so does CE with the full
    texture labels on the mosaics."""
    saliency, mosaic = reference_rows(data)
    clean = min(r["p"] for r in saliency)
    ce = statistics.fmean(per_seed(saliency, "f_beta", model="CE", p=clean).values())
    full = statistics.fmean(per_seed(mosaic, "ari", model=FULL_LABELS).values())
    return {"CE F_beta with clean labels, saliency scenes (mean over seeds)": (ce, CLEAN_CE_BAR),
            f"{FULL_LABELS}: ARI on the test mosaics (mean over seeds)": (full, FULL_LABELS_BAR)}


def reference_claims(data: dict) -> list[Claim]:
    """The ledger's claims from the stored reference results."""
    saliency, mosaic = reference_rows(data)
    return low_fidelity_claims(saliency, [r for r in mosaic if r["model"] != FULL_LABELS],
                               "reference")  # fmt: skip
