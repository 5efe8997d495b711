"""Input checks shared by every loss and metric: one place for the package's bad-input policy.

The policy (GUIDE.md section 3): bad input gets a clear error, never a silent wrong number. Each
message names the argument, what was expected and what came in:

- not a tensor, or the wrong kind of tensor (float where integers are needed): ``TypeError``;
- wrong rank or shape, values out of range, an empty batch, NaN or Inf: ``ValueError``.

Integer maps and labels (class targets, region ids) of any integer dtype are accepted and
converted **once**, here, to ``int64`` (``check_integer`` returns the converted tensor): a sentinel
such as ``ignore_index=-100`` is never compared with or filled into a narrow dtype, where it would
wrap (``-100`` is ``156`` in ``uint8``). ``uint64`` is refused (its values above ``2**63 - 1`` do
not fit). Half-precision floats (``float16``, ``bfloat16``) are computed in ``float32`` inside the
losses (``upcast_half``), as ``F.cross_entropy`` does under autocast. Hyper-parameters are finite
real numbers (``check_range``): ``inf`` is refused when the loss is built, naming the argument.

Degenerate but legal batches (no background sample, a single region, every pixel ignored) are
not errors: the losses return a finite loss for them. The finiteness check is lazy
(``check_finite``): it looks at the inputs only when the loss came out NaN or Inf, so it costs
nothing on the hot path.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor


def describe(value) -> str:
    """A short description for an error message: ``float32 [8, 3]`` or the Python type."""
    if isinstance(value, Tensor):
        return f"{str(value.dtype).replace('torch.', '')} {list(value.shape)}"
    return type(value).__name__


def _rank_text(ndims: Iterable[int]) -> str:
    return " or ".join(str(n) for n in ndims)


def check_tensor(name: str, value, ndims: int | Iterable[int] | None = None) -> Tensor:
    """``value`` must be a tensor with one of ``ndims`` dimensions; returns it."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(value)}")
    if ndims is not None:
        ndims = (ndims,) if isinstance(ndims, int) else tuple(ndims)
        if value.ndim not in ndims:
            raise ValueError(f"{name} must have {_rank_text(ndims)} dims, got {describe(value)}")
    return value


def check_float(name: str, value, ndims: int | Iterable[int] | None = None) -> Tensor:
    """``value`` must be a floating-point tensor (logits, features, probabilities)."""
    check_tensor(name, value, ndims)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {describe(value)}")
    return value


def upcast_half(value: Tensor) -> Tensor:
    """``float16`` / ``bfloat16`` -> ``float32`` (autograd carries the gradient back to the half
    input); any other tensor is returned as it is."""
    return value.float() if value.dtype in (torch.float16, torch.bfloat16) else value


def check_integer(name: str, value, ndims: int | Iterable[int] | None = None) -> Tensor:
    """``value`` must be an integer tensor (class indices, region ids); bool is refused.

    Returns it as ``int64`` (the same tensor if it already is): callers compare and fill sentinels
    in the returned tensor only."""
    check_tensor(name, value, ndims)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {describe(value)}")
    if value.dtype == torch.uint64:
        raise TypeError(
            f"{name} must be an integer tensor whose values fit in int64 (int8 ... int64, uint8 "
            f"... uint32), got {describe(value)}: convert it with .long() if its values allow"
        )
    return value.long()


def check_nonempty(name: str, value: Tensor) -> Tensor:
    """``value`` must hold at least one element (an empty batch is an error, not a zero)."""
    if value.numel() == 0:
        raise ValueError(f"the batch is empty: {name} has shape {list(value.shape)}")
    return value


def check_class_target(
    target, num_classes: int, ignore_index: int = -100, name: str = "target"
) -> Tensor:
    """``target`` holds class indices in ``[0, num_classes - 1]`` or ``ignore_index``; returns it
    as ``int64``."""
    target = check_integer(name, target)
    if not target.numel():
        return target
    low, high = (int(v) for v in torch.aminmax(target))  # one pass, no boolean-mask copy
    if low >= 0 and high < num_classes:
        return target
    known = torch.where(target == ignore_index, 0, target)  # ignored pixels read as class 0
    low, high = (int(v) for v in torch.aminmax(known))
    if low < 0 or high >= num_classes:
        valid = target[target != ignore_index]
        raise ValueError(
            f"{name} values must be in [0, {num_classes - 1}] or ignore_index={ignore_index}, "
            f"got values in [{int(valid.min())}, {int(valid.max())}]"
        )
    return target


def check_logits_target(
    logits, target, ignore_index: int = -100, logits_name: str = "logits"
) -> tuple[Tensor, Tensor]:
    """Classification ``logits [N, K]`` with ``target [N]``, or dense ``[B, K, H, W]`` with
    ``[B, H, W]``: float logits, integer target of matching shape with values in ``[0, K-1]``.
    Returns ``(logits, target)`` with the target as ``int64``."""
    check_float(logits_name, logits, (2, 4))
    target = check_integer("target", target)
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape {list(expected)} to match {logits_name} "
            f"{list(logits.shape)}, got {describe(target)}"
        )
    check_nonempty("target", target)
    return logits, check_class_target(target, logits.shape[1], ignore_index)


def check_region_inputs(
    outputs, regions, outputs_name: str = "outputs", regions_name: str = "regions"
) -> Tensor:
    """Dense ``outputs [B, M, H, W]`` (float) and an integer region map ``regions [B, H, W]``;
    returns the region map as ``int64``."""
    check_float(outputs_name, outputs)
    if outputs.ndim != 4:  # name the axes: "4 dims" alone does not say which
        raise ValueError(
            f"{outputs_name} must have shape [B, M, H, W] (4 dims), got {describe(outputs)}"
        )
    regions = check_integer(regions_name, regions)
    expected = (outputs.shape[0], *outputs.shape[2:])
    if tuple(regions.shape) != expected:
        raise ValueError(
            f"{regions_name} must have shape [B, H, W] = {list(expected)} to match "
            f"{outputs_name} {list(outputs.shape)}, got {describe(regions)}"
        )
    if outputs.numel() == 0:
        raise ValueError(f"{outputs_name} is empty: shape {list(outputs.shape)}")
    return regions


def check_finite(loss: Tensor, **inputs: Tensor | None) -> Tensor:
    """Raise if ``loss`` is NaN or Inf, naming the input that caused it; returns ``loss``.

    The inputs are inspected only when the loss is not finite, so the check is free otherwise.
    """
    if bool(torch.isfinite(loss).all()):
        return loss
    for name, t in inputs.items():
        if t is not None and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"{name} contains NaN or Inf ({bad} values)")
    largest = max((float(t.abs().max()) for t in inputs.values() if t is not None and t.numel()),
                  default=float("nan"))  # fmt: skip
    raise ValueError(
        f"the loss is not finite although its inputs ({', '.join(inputs)}) are "
        f"(largest |value| {largest:.3g}): scale them down"
    )


def check_reduction(reduction: str, allowed: tuple[str, ...] = ("mean", "sum", "none")) -> str:
    """Return ``reduction`` if it is one of ``allowed``."""
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def check_range(
    name: str, value, low: float = -math.inf, high: float = math.inf, *, open_low: bool = False
) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``open_low``); returns a
    float. NaN and +-inf always fail (an infinite weight or margin is no setting, it is a bug)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {describe(value)}") from None
    below = number <= low if open_low else number < low
    if not math.isfinite(number) or below or number > high:
        bracket = "(" if open_low else "["
        closing = ")" if math.isinf(high) else "]"
        raise ValueError(
            f"{name} must be a finite number in {bracket}{low}, {high}{closing}, got {value!r}"
        )
    return number


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """An ``int`` (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def check_class_index(name: str, value, num_classes: int) -> int:
    """A class index such as ``background_index``: an int in ``[0, num_classes - 1]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_classes:
        raise ValueError(f"{name} must be an int in [0, {num_classes - 1}], got {value!r}")
    return value


def check_ignore_index(ignore_index: int, num_classes: int) -> int:
    """``ignore_index`` must not collide with a real class index."""
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index must not be a class index in [0, {num_classes - 1}], got {ignore_index}"
        )
    return int(ignore_index)


def check_all_finite(name: str, value: Tensor) -> Tensor:
    """Every element of ``value`` is finite (eager, unlike ``check_finite``); returns it."""
    bad = ~torch.isfinite(value.detach())
    if bool(bad.any()):
        raise ValueError(f"{name} contains NaN or Inf ({int(bad.sum())} of {value.numel()} values)")
    return value
