"""Paper-scale cost on paper: FLOPs and activation memory of one training step, counted without
running it (on PyTorch's ``meta`` device: shapes only, no data, no time), and what follows for a
GPU run. Every number that comes out of ``gpu_estimate`` is an *estimate*: it assumes a sustained
fraction of the GPU's peak throughput that real runs may not reach (data loading, communication,
memory-bound layers), and the memory excludes the CUDA context and allocator fragmentation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cplus_edu.voc.config import VOCConfig
from cplus_edu.voc.model import build_model


@dataclass
class StepCost:
    """One training step of one image at ``size`` x ``size``."""

    train_flops: float  # forward + backward, per image
    forward_flops: float  # per image
    activation_bytes: float  # float32 tensors saved for backward, per image (an upper bound)
    parameters: int


@functools.lru_cache(maxsize=8)
def count_step(cfg: VOCConfig, size: int | None = None, batch: int = 2) -> StepCost:
    """FLOPs (``torch.utils.flop_counter``) and saved activations of a training step with CE and
    the auxiliary head, at ``size`` (default ``cfg.crop_size``), on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    size = size or cfg.crop_size
    with torch.device("meta"):
        model = build_model(cfg)
        x = torch.randn(batch, 3, size, size)
        target = torch.zeros(batch, size, size, dtype=torch.long)
    model.train()
    param_ids = {id(p) for p in model.parameters()}
    saved = [0]

    def pack(t):
        if id(t) not in param_ids:
            saved[0] += t.numel() * t.element_size()
        return t

    with FlopCounterMode(display=False) as forward_counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
            logits = F.interpolate(out.logits, size=(size, size), mode="bilinear")
            aux = F.interpolate(out.aux_logits, size=(size, size), mode="bilinear")
            loss = F.cross_entropy(logits, target) + cfg.aux_weight * F.cross_entropy(aux, target)
    with FlopCounterMode(display=False) as backward_counter:
        loss.backward()
    fwd = forward_counter.get_total_flops() / batch
    return StepCost(
        train_flops=fwd + backward_counter.get_total_flops() / batch,
        forward_flops=fwd,
        activation_bytes=saved[0] / batch,
        parameters=sum(p.numel() for p in model.parameters()),
    )


@dataclass
class GPUEstimate:
    gpus: int
    images_per_gpu: int
    seconds_per_iteration: float
    hours: float
    memory_gib_per_gpu: float
    images_per_second: float  # what the data pipeline must deliver, all workers together


def gpu_estimate(cost: StepCost, cfg: VOCConfig, *, gpus: int = 8, peak_tflops: float = 125.0,
                 utilisation: float = 0.3, amp: bool = True) -> GPUEstimate:  # fmt: skip
    """Time and memory of ``cfg`` on ``gpus`` GPUs of ``peak_tflops`` (dense fp16/bf16 with
    ``amp``, else fp32) sustaining ``utilisation`` of it. Memory per GPU: fp32 weights, gradients
    and SGD momentum (3 x 4 bytes per parameter) plus the saved activations of its images
    (halved under AMP), plus 1 GiB of workspace; the CUDA context (~0.5-1 GiB) is not counted."""
    per_gpu = cfg.global_batch // gpus
    seconds = cost.train_flops * per_gpu / (peak_tflops * 1e12 * utilisation)
    activations = cost.activation_bytes * per_gpu * (0.5 if amp else 1.0)
    memory = 12 * cost.parameters + activations + 2**30
    return GPUEstimate(
        gpus=gpus, images_per_gpu=per_gpu, seconds_per_iteration=seconds,
        hours=seconds * cfg.iterations / 3600, memory_gib_per_gpu=memory / 2**30,
        images_per_second=cfg.global_batch / seconds,
    )  # fmt: skip
