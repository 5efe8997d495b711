"""How much does the CAS loss cost next to cross-entropy, a binary implementation and a loop?

Times forward + backward of:

- cross-entropy (`F.cross_entropy` on the region ids as labels): the baseline;
- `CASLoss` (region sums by a dense one-hot product for few bins, else one scatter-add);
- at M = 2 with a binary foreground/background map (the authors' own use, `[8, 2, 256, 256]`):
  a direct binary implementation written here from eq. (1), region means by masked sums over the
  foreground and background masks, uniformer and discriminator as the paper writes them,
  autograd backward; and the same with the variance identity for the uniformer (fewer passes: a
  stronger baseline than the issue asked for);
- at 20 regions (`[8, 21, 128, 128]`, Voronoi cells): the same loss with a Python loop over
  images and regions (boolean mask per region; the pair sum of the discriminator is vectorised).

Then it sweeps the number of bins K per image and times `CASLoss` with the dense path and with
the scatter path forced, at M = 2 and at M = 21: where the two cross is where
`cplus_edu.losses.segments.DENSE_MAX_BINS` belongs.

Every comparison runs interleaved in the same process (one repetition of each, in turn); each
ratio is taken per round and the median over rounds is printed with its interquartile range, so a
machine that gets busier mid-run slows both sides alike. The machine is shared: figures are noisy.
Goals (issues 5 and 8): CAS at most 3x cross-entropy at 20 regions, at least 20x faster than the
loop, and at M = 2 at least as fast as the direct binary implementation (ratio <= 1).

    python benchmarks/cas_overhead.py [--repeats 15] [--threads N] [--sweep-repeats 7]

On a busy machine use `--threads 1`: with two threads on two shared cores every kernel waits for
its slower thread and the figures swing by an order of magnitude.
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import contextmanager

import timing  # benchmarks/timing.py, beside this script
import torch
import torch.nn.functional as F

import cplus_edu.losses.segments as segments
from cplus_edu.data.regions import voronoi_regions
from cplus_edu.losses import CASLoss


def binary_cas(outputs: torch.Tensor, foreground: torch.Tensor, alpha: float = 0.5):
    """Eq. (1) for a binary map, written directly: masked sums over the two masks, autograd."""
    s = outputs.softmax(dim=1)  # [B, M, H, W]
    fg = foreground.unsqueeze(1).to(s.dtype)  # [B, 1, H, W]
    bg = 1 - fg
    size_fg, size_bg = fg.sum(dim=(2, 3)), bg.sum(dim=(2, 3))  # |r|, [B, 1]
    mean_fg = (s * fg).sum(dim=(2, 3)) / size_fg  # s_hat(r_fg), [B, M]
    mean_bg = (s * bg).sum(dim=(2, 3)) / size_bg
    spread_fg = (s - mean_fg[:, :, None, None]).square().sum(dim=1, keepdim=True)  # [B, 1, H, W]
    spread_bg = (s - mean_bg[:, :, None, None]).square().sum(dim=1, keepdim=True)
    uniformer = (spread_fg * fg).sum(dim=(1, 2, 3)) / size_fg[:, 0] + (spread_bg * bg).sum(
        dim=(1, 2, 3)
    ) / size_bg[:, 0]
    discriminator = 2 * (mean_fg - mean_bg).square().sum(dim=1)  # both ordered pairs
    return (alpha * uniformer - (1 - alpha) * discriminator).mean()


def binary_cas_identity(outputs: torch.Tensor, foreground: torch.Tensor, alpha: float = 0.5):
    """The same with the variance identity (`mean ||s||^2 - ||s_hat||^2`): a stronger baseline."""
    s = outputs.softmax(dim=1).flatten(2)  # [B, M, P]
    fg = foreground.flatten(1).to(s.dtype)  # [B, P]
    size_fg = fg.sum(dim=1)
    size_bg = fg.shape[1] - size_fg
    sum_fg = torch.bmm(s, fg.unsqueeze(2))[:, :, 0]  # [B, M]
    sum_bg = s.sum(dim=2) - sum_fg
    mean_fg, mean_bg = sum_fg / size_fg[:, None], sum_bg / size_bg[:, None]
    norms = s.square().sum(dim=1)  # ||s(x)||^2, [B, P]
    norms_fg = (norms * fg).sum(dim=1)
    norms_bg = norms.sum(dim=1) - norms_fg
    uniformer = norms_fg / size_fg + norms_bg / size_bg
    uniformer = uniformer - mean_fg.square().sum(dim=1) - mean_bg.square().sum(dim=1)
    discriminator = 2 * (mean_fg - mean_bg).square().sum(dim=1)
    return (alpha * uniformer - (1 - alpha) * discriminator).mean()


def loop_cas(outputs: torch.Tensor, regions: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """CAS with a Python loop over images and regions (the straightforward way)."""
    s = outputs.softmax(dim=1)
    per_image = []
    for b in range(s.shape[0]):
        means, uniformer = [], s.new_zeros(())
        for region in regions[b].unique():
            pixels = s[b][:, regions[b] == region]  # [M, |r|]
            mean = pixels.mean(dim=1)
            uniformer = uniformer + (pixels - mean[:, None]).square().sum(dim=0).mean()
            means.append(mean)
        means = torch.stack(means)  # [N, M]
        discriminator = torch.cdist(means, means).square().sum()
        per_image.append(alpha * uniformer - (1 - alpha) * discriminator)
    return torch.stack(per_image).mean()


def discs(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`[batch, size, size]` binary maps: one disc of random centre and radius per image."""
    centre = (0.3 + 0.4 * torch.rand(batch, 2, generator=generator)) * size
    radius = (0.15 + 0.2 * torch.rand(batch, generator=generator)) * size
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    distance = (ys - centre[:, 0, None, None]).square() + (xs - centre[:, 1, None, None]).square()
    return (distance < radius.view(-1, 1, 1).square()).long()


@contextmanager
def bins_path(dense: bool):
    """Force RegionBins onto the dense one-hot path or the scatter path."""
    saved = segments.DENSE_MAX_BINS
    segments.DENSE_MAX_BINS = 2**62 if dense else -1
    try:
        yield
    finally:
        segments.DENSE_MAX_BINS = saved


def ratio(times: dict[str, list[float]], top: str, bottom: str) -> tuple[float, float, float]:
    """Median and quartiles over rounds of the per-round ratio `top / bottom`."""
    per_round = [a / b for a, b in zip(times[top], times[bottom])]
    q1, median, q3 = statistics.quantiles(per_round, n=4, method="inclusive")
    return median, q1, q3


def show_times(times: dict[str, list[float]]) -> None:
    for name, values in times.items():
        low, high = min(values), max(values)
        print(
            f"  {name:<34s} {1e3 * statistics.median(values):8.2f} ms "
            f"(min {1e3 * low:.2f}, max {1e3 * high:.2f})"
        )


def show_ratio(label: str, value: tuple[float, float, float], goal: str, met: bool) -> None:
    median, q1, q3 = value
    print(f"{label:<34s} {median:6.2f}x  (IQR {q1:.2f}-{q3:.2f})   goal {goal}: {verdict(met)}")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def binary_case(repeats: int, generator: torch.Generator) -> None:
    batch, channels, size = 8, 2, 256
    foreground = discs(batch, size, generator)  # [8, 256, 256], ids 0 and 1
    logits = torch.randn(batch, channels, size, size, generator=generator, requires_grad=True)
    cas = CASLoss()
    with torch.no_grad():
        difference = (cas(logits, foreground) - binary_cas(logits, foreground)).abs()
        difference += (cas(logits, foreground) - binary_cas_identity(logits, foreground)).abs()
    assert difference < 1e-5, f"CASLoss and the binary implementations disagree by {difference}"
    steps = {
        "cross-entropy": lambda: F.cross_entropy(logits, foreground).backward(),
        "CAS (CASLoss)": lambda: cas(logits, foreground).backward(),
        "CAS (direct binary masked sums)": lambda: binary_cas(logits, foreground).backward(),
        "CAS (binary, variance identity)": lambda: binary_cas_identity(
            logits, foreground
        ).backward(),
    }
    times = timing.interleaved_times(steps, repeats)
    print(f"\nM = 2, binary map: outputs {list(logits.shape)}, {repeats} rounds")
    show_times(times)
    overhead = ratio(times, "CAS (CASLoss)", "cross-entropy")
    show_ratio("CAS / cross-entropy", overhead, "<= 3x", overhead[0] <= 3)
    binary = ratio(times, "CAS (CASLoss)", "CAS (direct binary masked sums)")
    show_ratio("CAS / direct binary", binary, "<= 1x", binary[0] <= 1)
    identity = ratio(times, "CAS (CASLoss)", "CAS (binary, variance identity)")
    show_ratio("CAS / binary with variance identity", identity, "<= 1x", identity[0] <= 1)


def many_regions_case(repeats: int, generator: torch.Generator) -> None:
    batch, channels, size = 8, 21, 128
    regions = voronoi_regions(batch, size, (20, 20), generator)  # [8, 128, 128], ids 0..19
    logits = torch.randn(batch, channels, size, size, generator=generator, requires_grad=True)
    cas = CASLoss()
    with torch.no_grad():
        difference = (cas(logits, regions) - loop_cas(logits, regions)).abs().item()
    assert difference < 1e-4, f"vectorised and loop CAS disagree by {difference}"
    steps = {
        "cross-entropy": lambda: F.cross_entropy(logits, regions).backward(),
        "CAS (CASLoss)": lambda: cas(logits, regions).backward(),
        "CAS (loop over regions)": lambda: loop_cas(logits, regions).backward(),
    }
    times = timing.interleaved_times(steps, repeats)
    per_image = torch.tensor([len(r.unique()) for r in regions]).float().mean().item()
    print(
        f"\n{per_image:.1f} regions per image: outputs {list(logits.shape)}, {repeats} rounds "
        f"(path: {'dense' if 20 <= segments.DENSE_MAX_BINS else 'scatter'})"
    )
    show_times(times)
    overhead = ratio(times, "CAS (CASLoss)", "cross-entropy")
    show_ratio("CAS / cross-entropy", overhead, "<= 3x", overhead[0] <= 3)
    speedup = ratio(times, "CAS (loop over regions)", "CAS (CASLoss)")
    show_ratio("loop / CAS", speedup, ">= 20x", speedup[0] >= 20)


def threshold_sweep(repeats: int, generator: torch.Generator) -> None:
    print(
        f"\nscatter path / dense path, CASLoss forward + backward ({repeats} rounds; > 1: dense "
        f"is faster). DENSE_MAX_BINS = {segments.DENSE_MAX_BINS}"
    )
    cas = CASLoss()
    for batch, channels, size in ((8, 2, 256), (8, 21, 128)):
        cells = []
        for bins in (1, 2, 3, 4, 6, 8, 12, 16, 20):
            regions = voronoi_regions(batch, size, (bins, bins), generator)
            logits = torch.randn(batch, channels, size, size, generator=generator)
            logits.requires_grad_()

            def step(dense: bool, logits=logits, regions=regions) -> None:
                with bins_path(dense):
                    cas(logits, regions).backward()

            times = timing.interleaved_times(
                {"dense": lambda: step(True), "scatter": lambda: step(False)}, repeats
            )
            median, q1, q3 = ratio(times, "scatter", "dense")
            cells.append(f"K={bins}: {median:.2f} ({q1:.2f}-{q3:.2f})")
        print(f"  [{batch}, {channels}, {size}, {size}]  " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sweep-repeats", type=int, default=7, help="0 skips the K sweep")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}; figures are medians over interleaved rounds")
    generator = torch.Generator().manual_seed(0)
    binary_case(args.repeats, generator)
    many_regions_case(args.repeats, generator)
    if args.sweep_repeats:
        threshold_sweep(args.sweep_repeats, generator)


if __name__ == "__main__":
    main()
