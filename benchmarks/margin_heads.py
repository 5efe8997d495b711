"""What the margin heads and the CC-loss cost, as ratios against baselines timed in the same run.

1. Each margin head (NormFace, CosFace, ArcFace, SphereFace) forward + backward on embeddings
   ``[4096, 512]`` with 1,000 classes, divided by pytorch-metric-learning's loss of the same name
   given the same weights. Goal: at most 1.0x (readable and not slower).
2. CC-loss training-step overhead: forward + backward + Adam step of chapter 09's CIFAR model
   (``ChannelAttentionCNN(3, 10, width=16)``) on a ``[128, 3, 32, 32]`` batch with
   ``CCLoss`` (SE attention, hinge) divided by the same step with cross-entropy. Goal: at most
   1.10x.

Timings are interleaved (one repetition of every candidate per round), the median over rounds is
reported, so a busy shared CPU slows all candidates alike; still, expect a few per cent of noise.
Run::

    .venv/bin/python benchmarks/margin_heads.py              # about a minute on 2 cores
    .venv/bin/python benchmarks/margin_heads.py --rounds 20
"""

from __future__ import annotations

import argparse
import math

import timing  # benchmarks/timing.py, beside this script
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml

from cplus_edu import ChannelAttentionCNN
from cplus_edu.losses import ArcFaceLoss, CCLoss, CosFaceLoss, NormFaceLoss, SphereFaceLoss

N, D, K = 4096, 512, 1000


def _pairs():
    """(name, our head, PML's twin with the same weight)."""
    heads = [
        ("NormFace", NormFaceLoss(K, D, scale=20.0),
         lambda h: pml.NormalizedSoftmaxLoss(K, D, temperature=1 / h.scale)),
        ("CosFace", CosFaceLoss(K, D), lambda h: pml.CosFaceLoss(K, D, margin=h.margin,
                                                                 scale=h.scale)),
        ("ArcFace", ArcFaceLoss(K, D), lambda h: pml.ArcFaceLoss(K, D,
                                                                 margin=math.degrees(h.margin),
                                                                 scale=h.scale)),
        ("SphereFace", SphereFaceLoss(K, D), lambda h: pml.SphereFaceLoss(K, D, margin=h.margin,
                                                                          scale=h.scale)),
    ]  # fmt: skip
    for name, head, make in heads:
        twin = make(head)
        twin.W.data.copy_(head.weight.detach().t())
        yield name, head, twin


def margin_heads(rounds: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g).requires_grad_()
    y = torch.randint(0, K, (N,), generator=g)
    ratios = {}
    for name, head, twin in _pairs():

        def ours(head=head):
            head(x, y).backward()

        def theirs(twin=twin):
            twin(x, y).backward()

        candidates = {"ours": ours, "pml": theirs}
        t = timing.medians(timing.interleaved_times(candidates, rounds, warmup=2))
        ratios[name] = t["ours"] / t["pml"]
        print(f"{name:11s} ours {1e3 * t['ours']:7.1f} ms   PML {1e3 * t['pml']:7.1f} ms   "
              f"ratio {ratios[name]:.2f}x (goal <= 1.0x)")  # fmt: skip
    return ratios


def cc_overhead(rounds: int) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(128, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    steps = {}
    for name, features, loss_fn in [("CE", "embedding", None),
                                    ("CC-loss", "attention", CCLoss(weight=1.0))]:  # fmt: skip
        model = ChannelAttentionCNN(3, 10, width=16, features=features)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt, loss_fn=loss_fn):
            f, logits = model(x)
            loss = F.cross_entropy(logits, y) if loss_fn is None else loss_fn(f, logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        steps[name] = step
    t = timing.medians(timing.interleaved_times(steps, rounds, warmup=2))
    ratio = t["CC-loss"] / t["CE"]
    print(f"training step: CE {1e3 * t['CE']:.1f} ms, CC-loss {1e3 * t['CC-loss']:.1f} ms, "
          f"ratio {ratio:.3f}x (goal <= 1.10x)")  # fmt: skip
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"embeddings [{N}, {D}], {K} classes")  # fmt: skip
    margin_heads(args.rounds)
    cc_overhead(3 * args.rounds)


if __name__ == "__main__":
    main()
