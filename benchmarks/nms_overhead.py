"""What does CL-balanced NMS cost next to torchvision's batched NMS?

Input shaped like a detector's raw output: 100 objects in a 640 x 640 image, 50 jittered boxes
around each (centre jitter 10% of the size, log-size jitter 0.1), 20 classes (each object's
boxes share its class), scores higher for the better-placed boxes plus noise: 5,000 boxes.

Both run interleaved in the same process (one repetition of each, in turn) and the medians are
compared, so a machine that gets busier mid-run slows both alike; the ratio of the fastest
repetitions is printed too (less sensitive to other processes on a shared machine). On a busy
machine a preempted repetition counts the other processes' time slices, which inflates the
median of the longer call most; ``--clock cpu`` times the CPU time of this thread instead
(with one torch thread all the work runs on it).
Goal (issue 10): `cl_balanced_nms` at most 3x `torchvision.ops.batched_nms`.

    python benchmarks/nms_overhead.py [--repeats 200] [--threads 1] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torchvision.ops import batched_nms

from cplus_edu.detection import cl_balanced_nms


def raw_detections(objects=100, per_object=50, classes=20, size=640.0, seed=0):
    """``(boxes [N, 4], scores [N], labels [N])`` like a one-stage detector's output before NMS."""
    g = torch.Generator().manual_seed(seed)
    wh = torch.rand(objects, 2, generator=g) * 100 + 20
    xy = torch.rand(objects, 2, generator=g) * (size - wh) + wh / 2
    label = torch.randint(0, classes, (objects,), generator=g)
    n = objects * per_object
    wh_o, xy_o = wh.repeat_interleave(per_object, 0), xy.repeat_interleave(per_object, 0)
    shift = torch.randn(n, 2, generator=g) * 0.1
    box_wh = wh_o * torch.exp(torch.randn(n, 2, generator=g) * 0.1)
    centre = xy_o + shift * wh_o
    boxes = torch.cat([centre - box_wh / 2, centre + box_wh / 2], dim=1)
    quality = torch.exp(-shift.norm(dim=1) * 5)
    scores = (0.7 * quality + 0.3 * torch.rand(n, generator=g)).clamp(0, 1)
    return boxes, scores, label.repeat_interleave(per_object)


def seconds(step, clock=time.perf_counter) -> float:
    start = clock()
    step()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or CPU time of this thread (default wall)")  # fmt: skip
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    boxes, scores, labels = raw_detections()
    reference = batched_nms(boxes, scores, labels, 0.5)
    assert torch.equal(cl_balanced_nms(boxes, scores, labels, 0.5, gamma=0.0), reference)

    steps = {
        "batched_nms (torchvision)": lambda: batched_nms(boxes, scores, labels, 0.5),
        "cl_balanced_nms gamma=0.5": lambda: cl_balanced_nms(boxes, scores, labels, 0.5, 0.5),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(seconds(step, clock))
    median = {name: statistics.median(values) for name, values in times.items()}
    kept = len(cl_balanced_nms(boxes, scores, labels, 0.5, 0.5))
    print(
        f"{len(boxes)} boxes, {int(labels.unique().numel())} classes, {kept} kept, "
        f"torch threads {torch.get_num_threads()}, {args.repeats} repeats (median), "
        f"{args.clock} clock, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name, value in median.items():
        print(f"  {name:<28s} {1e3 * value:8.2f} ms")
    fastest = {name: min(values) for name, values in times.items()}
    ratio = median["cl_balanced_nms gamma=0.5"] / median["batched_nms (torchvision)"]
    best = fastest["cl_balanced_nms gamma=0.5"] / fastest["batched_nms (torchvision)"]
    print(
        f"cl_balanced_nms / batched_nms: {ratio:5.2f}x median, {best:5.2f}x fastest "
        f"(goal <= 3x: {verdict(ratio <= 3)})"
    )


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
