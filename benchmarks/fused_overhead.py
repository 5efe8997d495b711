"""What does the fused loss cost next to cross-entropy, and how fast are the two dense CRFs?

1. Forward + backward of ``FusedLoss`` (softmax CE + positive-sharing, the slides' gradient as
   backward) divided by ``F.cross_entropy``'s, on logits ``[8, 21, 128, 128]`` (VOC's 21 classes),
   the two interleaved in the same run (one repetition of each in turn, medians compared), so a
   machine that gets busier mid-run slows both alike. Goal (issue 9): at most 1.5x.
2. Dense CRF inference (5 mean-field iterations, Gaussian + bilateral kernels) on one 128x128
   image with 21 labels: pydensecrf2 (permutohedral lattice, C++) and the readable PyTorch
   mean-field CRF (exact dense kernels, O(pixels^2) per iteration, streamed in row blocks).

Threads: one by default, the package's policy for the chapters' tiny models (``fit(threads=1)``).
On a shared 2-core machine two threads made both losses several times slower and the ratio
meaningless (the threads wait for each other); pass ``--threads 2`` on an idle machine. The loss
ratio is printed twice: in wall time, and in CPU time of the calling thread (with one thread the
forward and the backward run there), which leaves out the time spent waiting for a core of a
busy machine (at a load of 12 on 2 cores, wall-time ratios of the same code ranged 1.2-2.1x).

    python benchmarks/fused_overhead.py [--repeats 15] [--threads 1] [--crf-repeats 3]

``--crf-repeats 0`` times the losses only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from cplus_edu.crf import CRFParams, dense_crf, densecrf_available
from cplus_edu.losses import FusedLoss


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _wall_and_cpu(fn) -> tuple[float, float]:
    """Wall seconds and CPU seconds of this thread (with one torch thread, forward and backward
    both run on it; waiting for a core of a busy machine counts in the first only)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def loss_ratio(repeats: int) -> dict[str, tuple[float, float]]:
    """Median ``(wall, cpu)`` seconds of forward + backward for ``"ce"`` and ``"fused"``."""
    torch.manual_seed(0)
    logits = torch.randn(8, 21, 128, 128, requires_grad=True)
    target = torch.randint(0, 21, (8, 128, 128))
    target[:, :8] = 255  # a few ignored rows, as VOC's boundaries
    fused = FusedLoss(0.5, 0.5, ignore_index=255)

    def ce():
        F.cross_entropy(logits, target, ignore_index=255).backward()

    def fu():
        fused(logits, target).backward()

    for fn in (ce, fu):  # warm-up
        fn()
    times = {"ce": [], "fused": []}
    for _ in range(repeats):
        times["ce"].append(_wall_and_cpu(ce))
        times["fused"].append(_wall_and_cpu(fu))
    return {name: tuple(statistics.median(column) for column in zip(*pairs))
            for name, pairs in times.items()}  # fmt: skip


def crf_times(repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    image = (torch.rand(3, 128, 128) * 255).to(torch.uint8)
    probs = torch.randn(21, 128, 128).softmax(0)
    one, five = CRFParams(iterations=1), CRFParams(iterations=5)
    out = {}
    backends = ["torch"] + (["pydensecrf"] if densecrf_available() else [])
    for backend in backends:
        dense_crf(probs, image, params=one, backend=backend)  # warm-up
        out[backend] = statistics.median(
            _time(lambda b=backend: dense_crf(probs, image, params=five, backend=b))
            for _ in range(repeats)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--crf-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    medians = loss_ratio(args.repeats)
    for i, clock in enumerate(("wall", "CPU")):
        ce, fused = medians["ce"][i], medians["fused"][i]
        print(f"[8, 21, 128, 128] forward+backward, {clock} time: cross-entropy "
              f"{ce * 1e3:.1f} ms, FusedLoss {fused * 1e3:.1f} ms, ratio {fused / ce:.2f}x "
              f"(goal <= 1.5x)")  # fmt: skip
    if args.crf_repeats == 0:  # the readable CRF takes minutes on a busy machine
        return
    for backend, seconds in crf_times(args.crf_repeats).items():
        print(f"dense CRF, 128x128, 21 labels, 5 iterations, {backend}: {seconds:.3f} s")
    if not densecrf_available():
        print("pydensecrf2 is not installed: only the PyTorch CRF was timed")


if __name__ == "__main__":
    main()
