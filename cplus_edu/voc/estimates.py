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


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                        transposed, _output_padding, _groups, output_mask, out_shape=None,
                        **kwargs) -> int:  # fmt: skip
    """FLOPs of ``aten.convolution_backward``: each gradient asked for (input, weight) costs one
    forward convolution. ``torch.utils.flop_counter``'s own formula ignores ``groups`` for the
    weight gradient and counts a depthwise conv's backward ``groups`` times too high (65x the
    forward for 64 channels, where 2x is right), which would triple the paper step's count."""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)  # `w`: [out, in/g, ...]
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def flop_counter():
    """``FlopCounterMode`` with the convolution backward counted right for grouped convs."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.convolution_backward: conv_backward_flops})  # fmt: skip


@functools.lru_cache(maxsize=8)
def count_step(cfg: VOCConfig, size: int | None = None, batch: int = 2) -> StepCost:
    """FLOPs (``torch.utils.flop_counter``) and saved activations of a training step with CE and
    the auxiliary head, at ``size`` (default ``cfg.crop_size``), on the meta device."""
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

    with flop_counter() as forward_counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
            logits = F.interpolate(out.logits, size=(size, size), mode="bilinear")
            aux = F.interpolate(out.aux_logits, size=(size, size), mode="bilinear")
            loss = F.cross_entropy(logits, target) + cfg.aux_weight * F.cross_entropy(aux, target)
    with flop_counter() as backward_counter:
        loss.backward()
    fwd = forward_counter.get_total_flops() / batch
    return StepCost(
        train_flops=fwd + backward_counter.get_total_flops() / batch,
        forward_flops=fwd,
        activation_bytes=saved[0] / batch,
        parameters=sum(p.numel() for p in model.parameters()),
    )


#: what AMP is assumed to buy over float32 (the conservative side of what is seen): half the
#: time, no memory. Tensor-core peaks are 8x (V100) to 16x (A100) the float32 ones, but BatchNorm,
#: ReLU, the depthwise convolutions, the interpolations and the loss are memory-bound and gain
#: little; NVIDIA quotes "up to 3x" for whole networks. The activations are still counted at
#: float32 size, although AMP stores most of them in float16.
AMP_SPEEDUP = 2.0


@dataclass
class GPUEstimate:
    gpus: int
    images_per_gpu: int
    seconds_per_iteration: float
    hours: float
    memory_gib_per_gpu: float
    images_per_second: float  # what the data pipeline must deliver, all workers together


def gpu_estimate(cost: StepCost, cfg: VOCConfig, *, gpus: int = 8, fp32_tflops: float = 15.7,
                 utilisation: float = 0.3, amp: bool = True) -> GPUEstimate:  # fmt: skip
    """Time and memory of ``cfg`` on ``gpus`` GPUs whose float32 peak is ``fp32_tflops``,
    sustaining ``utilisation`` of it; with ``amp``, ``AMP_SPEEDUP`` times faster (and no
    smaller). Memory per GPU: float32 weights, gradients and SGD momentum (3 x 4 bytes per
    parameter), the saved float32 activations of its images, and 1 GiB of workspace; the CUDA
    context (~0.5-1 GiB) is not counted."""
    per_gpu = cfg.global_batch // gpus
    seconds = cost.train_flops * per_gpu / (fp32_tflops * 1e12 * utilisation)
    if amp:
        seconds /= AMP_SPEEDUP
    memory = 12 * cost.parameters + cost.activation_bytes * per_gpu + 2**30
    return GPUEstimate(
        gpus=gpus, images_per_gpu=per_gpu, seconds_per_iteration=seconds,
        hours=seconds * cfg.iterations / 3600, memory_gib_per_gpu=memory / 2**30,
        images_per_second=cfg.global_batch / seconds,
    )  # fmt: skip
