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

from typing import Callable, Sequence

import torch
from torch import Tensor

from cplus_edu.data import flip_region_labels
from cplus_edu.grouping import group_pixels
from cplus_edu.losses import CASLoss, ClassAgnosticCELoss, DiscriminativeLoss
from cplus_edu.metrics import adjusted_rand_index, choose_salient_channel, evaluate_saliency
from cplus_edu.models import TinyFCN
from cplus_edu.train import fit, predict
from cplus_edu.utils import seed_everything


def train_tiny(
    loss, data: tuple, *, seed: int, epochs: int, channels: int = 2, width: int = 16,
    batch_size: int = 32, lr: float = 5e-3,
) -> TinyFCN:  # fmt: skip
    """A `TinyFCN` with `channels` outputs trained on `data` = ``(images, *targets)``."""
    seed_everything(seed)
    model = TinyFCN(in_channels=3, num_outputs=channels, width=width)
    fit(model, loss, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
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


def saliency_study(
    train, val, test, *, seeds: Sequence[int], noise_levels: Sequence[float], epochs: int,
    alpha: float = 0.5, flip_seed: int = 100, **settings,
) -> tuple[list[dict], dict[str, Tensor]]:  # fmt: skip
    """Train CE and CAS on the labels flipped at every `noise_levels` rate, CACE at the highest,
    for every seed (the coins of seed ``s`` are drawn with ``flip_seed + s``). Returns the rows
    and ``{"CE, p = 0.5": S, ...}``, the saliency maps of the first seed. `settings` go to
    `train_tiny` (width, batch_size, lr)."""
    if not seeds or not noise_levels:
        raise ValueError(f"seeds and noise_levels must be non-empty, got {seeds}, {noise_levels}")
    rows, maps = [], {}
    worst = max(noise_levels)
    for seed in seeds:
        labels = {p: flip_region_labels(train.mask, train.mask, p, seed=flip_seed + seed)
                  for p in noise_levels}  # fmt: skip
        runs = [("CE", p, torch.nn.CrossEntropyLoss(), (labels[p],)) for p in noise_levels]
        runs += [("CAS", p, CASLoss(alpha=alpha), (labels[p],)) for p in noise_levels]
        runs += [("CACE", worst, ClassAgnosticCELoss(), (labels[worst], labels[worst]))]
        for name, p, loss, targets in runs:
            model = train_tiny(loss, (train.images, *targets), seed=seed, epochs=epochs,
                               **settings)  # fmt: skip
            saliency = saliency_map(model, val, test)
            rows.append({"model": name, "p": p, "seed": seed,
                         **evaluate_saliency(saliency, test.mask)})  # fmt: skip
            if seed == seeds[0]:
                maps[f"{name}, p = {p}"] = saliency
    return rows, maps


def segments_per_image(prediction: Tensor) -> Tensor:
    """`[N]` number of distinct ids in each predicted region map `[N, H, W]`."""
    return torch.tensor([len(p.unique()) for p in prediction])


def mosaic_losses(alpha: float = 0.5, bandwidth: float = 1.5) -> dict[str, tuple]:
    """``{name: (loss, decode)}``: CAS (segments = argmax channel), the discriminative loss
    (mean-shift grouping with bandwidth `bandwidth` = its delta_d) and CE on the region ids."""
    argmax: Callable[[Tensor], Tensor] = lambda z: z.argmax(dim=1)  # noqa: E731
    return {
        "CAS": (CASLoss(alpha=alpha), argmax),
        "discriminative": (DiscriminativeLoss(), lambda z: group_pixels(z, bandwidth=bandwidth)),
        "CE on region ids": (torch.nn.CrossEntropyLoss(), argmax),
    }


def segmentation_study(
    train, test, *, seeds: Sequence[int], epochs: int, channels: int, alpha: float = 0.5,
    **settings,
) -> tuple[list[dict], dict[str, Tensor]]:  # fmt: skip
    """Train the three `mosaic_losses` on `train`'s region ids for every seed; score the
    adjusted Rand index (mean over the `test` mosaics) and the segments per image. Returns the
    rows and the first seed's predictions ``{name: [N, H, W]}``."""
    if not seeds:
        raise ValueError(f"seeds must be non-empty, got {seeds}")
    rows, predictions = [], {}
    for seed in seeds:
        for name, (loss, decode) in mosaic_losses(alpha).items():
            model = train_tiny(loss, (train.images, train.regions), seed=seed, epochs=epochs,
                               channels=channels, **settings)  # fmt: skip
            _, outputs = predict(model, test.images)
            prediction = decode(outputs)
            rows.append({
                "model": name, "seed": seed,
                "ari": adjusted_rand_index(prediction, test.regions).mean().item(),
                "segments": segments_per_image(prediction).float().mean().item(),
            })  # fmt: skip
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
