"""Chapter 10's speed figures, as ratios against baselines measured in the same run.

1. One paper-setting training step on the CPU: mmseg's DeepLabV3+ R50-D8 (``paper-voc-20k``:
   ResNetV1c-50, separable ASPP head, FCN aux head; random init), batch 2 at 512x512 (``--size``
   to shrink it on a slow machine), forward + backward + SGD step, with the C+1 loss (moving-
   average centres on the 512-D decoder features, + the aux CE) divided by the same step with CE,
   and the step's FLOPs as counted by ``cplus_edu.voc.estimates.count_step``.
   Goal: at most 1.03x. As in ``loss_overhead.py`` the steps are interleaved and the median is
   taken, and the ratio is also estimated as ``CE step + (C+1 criterion - CE criterion)`` from the
   criterion's forward + backward timed alone on the step's own outputs (a step takes tens of
   seconds here and two of them differ by more than the loss costs on a shared machine).
2. The data pipeline: ``VOCTrainSet`` with the paper's transforms (decode a 500x375 JPEG and its
   palette PNG, rescale 0.5-2.0 of (2048, 512), 512x512 crop, flip, photometric distortion,
   normalise) in one process, i.e. images per second per DataLoader worker, beside what a GPU run
   needs (``cplus_edu.voc.estimates``: 16 images per iteration at the estimated iteration time).

Run (a few minutes on 2 idle cores)::

    .venv/bin/python benchmarks/voc_step.py [--rounds 3] [--images 40] [--size 512]

The load average is printed with the numbers: on a shared machine the absolute times mean
little, the ratios (measured interleaved) more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from cplus_edu.voc import SegmentationCriterion, VOCTrainSet, build_model, get_config, list_samples
from cplus_edu.voc.data import IterationSampler
from cplus_edu.voc.estimates import count_step, gpu_estimate
from cplus_edu.voc.synthetic import write_voc_tree


def interleaved(candidates: dict, rounds: int, warmup: int = 1) -> dict[str, float]:
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def load() -> str:
    averages = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"load average {averages} on {os.cpu_count()} cores"


def step_ratio(rounds: int, size: int) -> None:
    cfg = get_config("paper-voc-20k")
    cost = count_step(cfg, size=size)
    print(f"paper model: {cost.parameters / 1e6:.1f} M parameters; at {size}x{size} per image "
          f"{cost.forward_flops / 1e9:.0f} GFLOP forward, {cost.train_flops / 1e9:.0f} GFLOP "
          "forward + backward (counted)")  # fmt: skip
    print(f"before: {load()}")
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.randn(2, 3, size, size)
    y = torch.randint(0, 21, (2, size, size))
    y[:, :, :40] = 255
    criteria = {name: SegmentationCriterion(cfg, name, classifier=model.classifier)
                for name in ("ce", "cplus1")}  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)

    def step(name):
        def run():
            loss = criteria[name](model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return run

    model.train()
    steps = interleaved({n: step(n) for n in criteria}, rounds)
    out = model(x)
    detached = type(out)(*(t.detach().requires_grad_() for t in out))

    def loss_only(name):
        return lambda: criteria[name](detached, y).backward()

    losses = interleaved({n: loss_only(n) for n in criteria}, rounds=5 * rounds)
    estimate = (steps["ce"] + losses["cplus1"] - losses["ce"]) / steps["ce"]
    print(f"paper step, batch 2 at {size}x{size} on the CPU ({torch.get_num_threads()} threads, "
          f"after: {load()}):")  # fmt: skip
    print(f"  CE step {steps['ce']:.2f} s, C+1 step {steps['cplus1']:.2f} s: "
          f"direct ratio {steps['cplus1'] / steps['ce']:.3f}x; CE step at "
          f"{2 * cost.train_flops / steps['ce'] / 1e9:.1f} GFLOP/s")  # fmt: skip
    print(f"  criterion alone: CE {losses['ce'] * 1e3:.0f} ms, C+1 {losses['cplus1'] * 1e3:.0f} ms"
          f" -> estimated step ratio {estimate:.3f}x (goal <= 1.03x)")  # fmt: skip


def pipeline(images: int) -> None:
    cfg = get_config("paper-voc-20k")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_voc_tree(tmp, n_train=8, n_val=1, size=(375, 500), seed=1)
        ds = VOCTrainSet(list_samples("train", root), cfg)
        batches = IterationSampler(len(ds), 1, seed=0, start=0, stop=images)
        items = [b[0] for b in batches]
        ds[items[0]]  # warm up (imports)
        t = time.perf_counter()
        for item in items:
            x, _ = ds[item]
        rate = images / (time.perf_counter() - t)
    assert x.shape == (3, 512, 512)
    est = gpu_estimate(count_step(cfg), cfg, gpus=8, fp32_tflops=19.5, amp=True)
    print(f"data pipeline at 512x512: {rate:.1f} images/s per worker (one process)")
    print(f"  a GPU run needs ~{est.images_per_second:.0f} images/s in all (8 A100s, AMP, "
          f"estimated {est.seconds_per_iteration:.3f} s/iteration): "
          f"~{est.images_per_second / rate / 8:.1f} workers per GPU (estimate)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--part", choices=("all", "step", "data"), default="all")
    parser.add_argument("--size", type=int, default=512, help="square input of the step")
    args = parser.parse_args()
    if args.part in ("all", "data"):
        pipeline(args.images)
    if args.part in ("all", "step"):
        step_ratio(args.rounds, args.size)


if __name__ == "__main__":
    main()
