"""The three properties the CAS paper claims (Sharma et al., sec. 3.3), as things one can measure.

- *Sparsity*: with softmax outputs the discriminator is maximised at the corners of the
  probability simplex (a convex polytope), so each region's mean descriptor should become one-hot,
  a different corner for each region: `region_means`, `sparsity`, `distinct_corners`, and
  `descriptor_snapshot` to watch it happen during training, `train_cas_run` for one seed's run
  (scored by `corner_scores` before and after training), `showing_every_texture` to pick images
  for a figure and `off_corner` for the region means training left away from a corner;
  `cas_two_region_landscape` is the loss over two region means that the chapter's alpha slider
  draws.
- *Boundedness*: see `cplus_edu.losses.class_agnostic.cas_bounds`.
- *Robustness to class imbalance*: every region enters CAS through its mean, whatever its size;
  `gradient_share` measures how much of a loss's gradient falls on a region's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from cplus_edu.losses.class_agnostic import CASLoss
from cplus_edu.losses.segments import RegionBins
from cplus_edu.models import TinyFCN
from cplus_edu.train import fit, predict
from cplus_edu.utils import seed_everything


def region_means(probabilities: Tensor, regions: Tensor, ignore_index: int = -100):
    """Mean descriptor of every region of every image.

    `probabilities` `[N, M, H, W]`, `regions` `[N, H, W]` -> `(means [R, M], image [R],
    region [R])`: one row per (image, region) pair, image by image in id order, with the image
    and the region id it belongs to.
    """
    bins = RegionBins(regions, ignore_index)
    means = bins.mean(probabilities.reshape(*probabilities.shape[:2], -1))  # [N, M, K]
    image, slot = bins.present.nonzero(as_tuple=True)
    return means[image, :, slot], image, bins.ids[slot]


def sparsity(means: Tensor) -> Tensor:
    """Largest component of each mean `[R, M]` -> `[R]`: 1 at a corner, 1/M at the centre."""
    return means.max(dim=1).values


def distinct_corners(means: Tensor, image: Tensor) -> Tensor:
    """`[N]` bool: do the regions of each image sit nearest to pairwise different corners?"""
    corner = means.argmax(dim=1)
    count = int(image.max()) + 1
    per_image = torch.zeros(count, means.shape[1], dtype=torch.long)
    per_image.index_put_((image, corner), torch.ones_like(corner), accumulate=True)
    return (per_image <= 1).all(dim=1)


@dataclass
class DescriptorSnapshot:
    """Softmax descriptors of some pixels and the means of their regions, at one training step."""

    epoch: int
    pixels: Tensor  # [n, M] descriptors of sampled pixels
    pixel_region: Tensor  # [n] row of `means` of each sampled pixel's region (-1: ignored pixel)
    means: Tensor  # [R, M] region means (over all pixels of the region)
    image: Tensor  # [R] image of each region
    region: Tensor  # [R] region id of each region


@torch.no_grad()
def descriptor_snapshot(
    model, images: Tensor, regions: Tensor, epoch: int = -1, pixels_per_image: int = 200
) -> DescriptorSnapshot:
    """Run `model` (returning `(features, logits)`) on `images` `[N, C, H, W]` in eval mode and
    keep `pixels_per_image` random pixels (fixed seed) and all region means, for plotting."""
    was_training = model.training
    model.eval()
    _, logits = model(images)
    model.train(was_training)
    probabilities = logits.softmax(dim=1)  # [N, M, H, W]
    means, image, region = region_means(probabilities, regions)
    n, m = probabilities.shape[:2]
    flat = probabilities.reshape(n, m, -1)
    # row of `means` for every pixel: regions are numbered image by image, in id order
    bins = RegionBins(regions)
    row = bins.present.flatten().long().cumsum(0).view(n, -1) - 1  # [N, K]
    inside = bins.index < row.shape[1]  # ignored pixels sit in the dump bin: row -1
    pixel_row = torch.where(inside, row.gather(1, bins.index.clamp_max(row.shape[1] - 1)), -1)
    g = torch.Generator().manual_seed(0)
    pick = torch.rand(n, flat.shape[2], generator=g).argsort(dim=1)[:, :pixels_per_image]
    pixels = flat.gather(2, pick.unsqueeze(1).expand(n, m, -1)).transpose(1, 2).reshape(-1, m)
    return DescriptorSnapshot(
        epoch=epoch,
        pixels=pixels,
        pixel_region=pixel_row.gather(1, pick).reshape(-1),
        means=means,
        image=image,
        region=region,
    )


def cas_two_region_landscape(alpha: float, steps: int = 41) -> tuple[Tensor, Tensor]:
    """CAS of one image with two regions and M = 2 channels, over a grid of region means.

    Every pixel is confident (its descriptor is a corner); a share `a` of region A's pixels and
    a share `b` of region B's pixels sit on corner 0, so the region means are `(a, 1 - a)` and
    `(b, 1 - b)` and the uniformer is `2a(1 - a) + 2b(1 - b)`. Returns `(shares [steps],
    values [steps, steps])` with `values[i, j]` the loss at `a = shares[i]`, `b = shares[j]`,
    computed by `CASLoss` itself on `2 (steps - 1)` pixels per image.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    n = steps - 1  # pixels per region: shares k / n exactly
    shares = torch.arange(steps, dtype=torch.float64) / n
    on_corner_0 = torch.arange(n).view(1, -1) < torch.arange(steps).view(-1, 1)  # [steps, n]
    a = on_corner_0.unsqueeze(1).expand(steps, steps, n)  # region A: row i
    b = on_corner_0.unsqueeze(0).expand(steps, steps, n)  # region B: column j
    first = torch.cat([a, b], dim=2).reshape(steps * steps, 1, 1, 2 * n).double()
    probabilities = torch.cat([first, 1 - first], dim=1)  # [steps^2, 2, 1, 2n]
    regions = torch.cat([torch.zeros(n), torch.ones(n)]).long().expand(steps * steps, 1, 2 * n)
    loss = CASLoss(alpha=alpha, from_logits=False, reduction="none")
    return shares, loss(probabilities, regions).view(steps, steps)


def gradient_share(loss_fn, logits: Tensor, target: Tensor, mask: Tensor) -> float:
    """Share of the gradient of `loss_fn(logits, target)` with respect to the logits `[N, M, H, W]`
    (summed absolute values) that falls on the pixels where `mask` `[N, H, W]` is true."""
    logits = logits.detach().clone().requires_grad_(True)
    loss_fn(logits, target).backward()
    per_pixel = logits.grad.abs().sum(dim=1)  # [N, H, W]
    return float((per_pixel * mask).sum() / per_pixel.sum())


def corner_scores(model, images: Tensor, regions: Tensor) -> tuple[float, float]:
    """``(mean sparsity of the region means, share of images on distinct corners)`` of `model`'s
    softmax on `images` `[N, C, H, W]` with region maps `regions` `[N, H, W]`."""
    _, logits = predict(model, images)
    means, image, _ = region_means(logits.softmax(dim=1), regions)
    return sparsity(means).mean().item(), distinct_corners(means, image).float().mean().item()


@dataclass
class CASRun:
    """One seed's CAS training: the model, one `DescriptorSnapshot` per epoch (0 = untrained) of
    the followed images, and `corner_scores` on the test data before and after training."""

    seed: int
    model: nn.Module
    before: tuple[float, float]
    after: tuple[float, float]
    snapshots: list[DescriptorSnapshot] = field(default_factory=list)


def train_cas_run(
    seed: int, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
    follow: tuple[Tensor, Tensor], *, num_channels: int, epochs: int, width: int = 16,
    alpha: float = 0.5, batch_size: int = 32, lr: float = 5e-3,
) -> CASRun:  # fmt: skip
    """Train a `TinyFCN` with `num_channels` softmax outputs with CAS on `train` =
    ``(images, regions)``, snapshotting the descriptors of `follow` = ``(images, regions)`` after
    every epoch; score the untrained and the trained net on `test` = ``(images, regions)``."""
    seed_everything(seed)
    model = TinyFCN(in_channels=follow[0].shape[1], num_outputs=num_channels, width=width)
    before = corner_scores(model, *test)
    snapshots = [descriptor_snapshot(model, *follow, epoch=0)]

    def keep(epoch, model, history):
        snapshots.append(descriptor_snapshot(model, *follow, epoch=epoch + 1))

    fit(model, CASLoss(alpha=alpha), train, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, on_epoch_end=keep)  # fmt: skip
    return CASRun(seed, model, before, corner_scores(model, *test), snapshots)


def showing_every_texture(textures: Tensor, at_least: int = 4) -> int:
    """The smallest ``n >= at_least`` such that the first ``n`` images (`textures` `[N, K]`, the
    texture of each cell, -1 for none) show every texture that any image shows."""
    first: dict[int, int] = {}  # texture -> first image that shows it
    for i, row in enumerate(textures.tolist()):
        for t in row:
            if t >= 0:
                first.setdefault(t, i)
    if not first:
        raise ValueError("textures holds no texture (every entry is -1)")
    return max(max(first.values()) + 1, min(at_least, len(textures)))


def off_corner(means: Tensor, threshold: float = 0.9) -> Tensor:
    """`[R]` bool: region means `[R, M]` whose largest component is below `threshold`, i.e. that
    training left away from every corner of the simplex (on an edge, a face or inside)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    return sparsity(means) < threshold
