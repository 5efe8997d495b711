"""How much does the CAS loss cost next to cross-entropy, and what does vectorising buy?

Times forward + backward on outputs `[8, 21, 128, 128]` with about 20 Voronoi regions per image:

- cross-entropy (`F.cross_entropy` on the region ids as labels): the baseline;
- `CASLoss` (region sums by one scatter-add, O(pixels));
- the same loss with a Python loop over images and regions (boolean mask per region; the pair sum
  of the discriminator is vectorised, so only the per-region work loops).

All three run interleaved in the same process (one repetition of each, in turn), and the medians
are compared, so a machine that gets busier mid-run slows all three alike.
Goal (issue 5): CAS at most 3x cross-entropy, and at least 20x faster than the loop.

    python benchmarks/cas_overhead.py [--repeats 15] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from cplus_edu.data.regions import voronoi_regions
from cplus_edu.losses import CASLoss


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


def seconds(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    batch, channels, size = 8, 21, 128
    regions = voronoi_regions(batch, size, (20, 20), g)  # [8, 128, 128], ids 0..19
    logits = torch.randn(batch, channels, size, size, generator=g, requires_grad=True)
    cas = CASLoss()

    with torch.no_grad():
        difference = (cas(logits, regions) - loop_cas(logits, regions)).abs().item()
    assert difference < 1e-4, f"vectorised and loop CAS disagree by {difference}"

    steps = {
        "cross-entropy": lambda: F.cross_entropy(logits, regions).backward(),
        "CAS (vectorised)": lambda: cas(logits, regions).backward(),
        "CAS (loop over regions)": lambda: loop_cas(logits, regions).backward(),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(seconds(step))
    median = {name: statistics.median(values) for name, values in times.items()}

    regions_per_image = torch.tensor([len(r.unique()) for r in regions]).float().mean().item()
    print(
        f"outputs {list(logits.shape)}, {regions_per_image:.1f} regions per image, "
        f"torch threads {torch.get_num_threads()}, {args.repeats} repeats (median)"
    )
    for name, value in median.items():
        print(f"  {name:<26s} {1e3 * value:8.1f} ms")
    overhead = median["CAS (vectorised)"] / median["cross-entropy"]
    speedup = median["CAS (loop over regions)"] / median["CAS (vectorised)"]
    print(f"CAS / cross-entropy:  {overhead:5.2f}x   (goal <= 3x: {verdict(overhead <= 3)})")
    print(f"loop / CAS:           {speedup:5.1f}x   (goal >= 20x: {verdict(speedup >= 20)})")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
