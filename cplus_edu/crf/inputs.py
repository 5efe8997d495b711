"""What the CRF functions accept: one image convention, probabilities, parameters, size limits.

**Images** ``[3, H, W]``, read by their dtype (as scikit-image and torchvision do):

- an integer dtype (uint8, int64, ...) holds colours in 0..255;
- a float dtype holds colours in [0, 1].

Anything else is refused: a float image with values above 1 (0..255 colours in a float tensor
would otherwise be clamped to white), values below 0, NaN or Inf, an integer image outside
0..255, a bool image. Internally every function works on colours in 0..255 units, the units of
``bilateral_srgb`` (as in pydensecrf); ``dense_crf`` rounds them to uint8, as pydensecrf takes
them, so both back ends see the same image.

**Probabilities** ``[K, H, W]``: finite, non-negative, summing to 1 over ``K`` at every pixel
(within ``1e-3``, or twice the dtype's epsilon for bfloat16); logits or NaN are refused.
**Objectness** ``[H, W]``: finite, in [0, 1].

**Parameters** (``CRFParams``): kernel widths positive and finite, Potts weights non-negative
and finite, ``iterations`` a whole number >= 0. The permutohedral lattice of pydensecrf works
on positions / ``sxy`` and colours / ``srgb`` and crashes the Python process when they reach
~1e8 (a width of 0, or 1e-7 on a 12x12 image); ``check_params`` refuses widths whose features
would exceed ``MAX_FEATURE = 1e6`` on the given image, before any back end runs.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from cplus_edu.checks import check_all_finite, check_float, check_nonempty, describe

MAX_FEATURE = 1e6  # largest position / sxy or colour / srgb handed to a kernel
SUM_TOLERANCE = 1e-3  # |sum_k p_k - 1| allowed per pixel


@dataclass
class CRFParams:
    """Kernel widths (pixels; colours in 0..255 units), Potts weights and iterations.

    Defaults suit the chapter's 48x48 scenes (DeepLab's VOC values are for 500-pixel images:
    bilateral sxy 50-80, srgb 3-13, weight 3-5).
    """

    iterations: int = 5
    gaussian_sxy: float = 3.0
    gaussian_weight: float = 3.0
    bilateral_sxy: float = 10.0
    bilateral_srgb: float = 20.0
    bilateral_weight: float = 5.0

    def scaled(self, strength: float) -> CRFParams:
        """The same CRF with both Potts weights multiplied by ``strength`` (0: unary only)."""
        strength = finite_number("strength", strength, positive=False)
        return CRFParams(**{**asdict(self), "gaussian_weight": self.gaussian_weight * strength,
                            "bilateral_weight": self.bilateral_weight * strength})  # fmt: skip


def finite_number(name: str, value, *, positive: bool) -> float:
    """A finite real number, > 0 (``positive``) or >= 0; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        wanted = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def check_params(params: CRFParams, height: int, width: int) -> CRFParams:
    """Validated copy of ``params`` for an ``height x width`` image (see the module docstring)."""
    if not isinstance(params, CRFParams):
        raise TypeError(f"params must be a CRFParams, got {describe(params)}")
    iterations = params.iterations
    try:  # an int or a numpy integer; not a bool, not a float
        iterations = operator.index(iterations)
    except TypeError:
        iterations = None
    if iterations is None or isinstance(params.iterations, bool) or iterations < 0:
        raise ValueError(f"iterations must be a whole number >= 0, got {params.iterations!r}")
    values = {"iterations": int(iterations)}
    for name in ("gaussian_weight", "bilateral_weight"):
        values[name] = finite_number(name, getattr(params, name), positive=False)
    span = max(height, width) - 1  # largest position difference, pixels
    for name, largest in (("gaussian_sxy", span), ("bilateral_sxy", span),
                          ("bilateral_srgb", 255.0)):  # fmt: skip
        values[name] = finite_number(name, getattr(params, name), positive=True)
        if largest / values[name] > MAX_FEATURE:
            raise ValueError(
                f"{name}={values[name]:g} is too small: {largest:g} / {name} = "
                f"{largest / values[name]:.3g} exceeds {MAX_FEATURE:g} (pydensecrf's lattice "
                f"crashes near 1e8; a kernel that narrow holds each pixel alone anyway)"
            )
    return CRFParams(**values)


def image_255(image, name: str = "image") -> Tensor:
    """``[3, H, W]`` image by the dtype convention -> float64 colours in 0..255 (validated)."""
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a [3, H, W] tensor, got {describe(image)}")
    if image.ndim != 3 or image.shape[0] != 3 or image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{name} must be a [3, H, W] tensor with H, W >= 1, got {describe(image)}")
    if image.dtype == torch.bool or image.is_complex():
        raise TypeError(f"{name} must be uint8 (or another integer dtype, 0..255) or float in "
                        f"[0, 1], got {describe(image)}")  # fmt: skip
    values = image.detach().cpu().double()
    if image.is_floating_point():
        check_all_finite(name, values)
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 1:
            hint = " (0..255 colours: pass uint8, or divide by 255)" if high > 1 else ""
            raise ValueError(
                f"a float {name} holds colours in [0, 1], got values in [{low:g}, {high:g}]{hint}"
            )
        return values * 255.0
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"an integer {name} holds colours in 0..255, got values in [{low:g}, {high:g}]"
        )
    return values


def check_probs(probs) -> Tensor:
    """Softmax ``probs [K, H, W]``: float, finite, >= 0, summing to 1 over K at every pixel."""
    check_float("probs", probs, 3)
    check_nonempty("probs", probs)
    p = check_all_finite("probs", probs).detach().double()
    if float(p.min()) < 0:
        raise ValueError(
            f"probs must be probabilities (>= 0), got a minimum of {float(p.min()):g}: pass "
            f"softmax(logits, dim=0), not logits"
        )
    error = float((p.sum(0) - 1).abs().max())
    if error > max(SUM_TOLERANCE, 2 * torch.finfo(probs.dtype).eps):  # bfloat16: 0.016
        raise ValueError(
            f"probs must sum to 1 over its K={probs.shape[0]} channels at every pixel, off by up "
            f"to {error:.3g}: pass softmax(logits, dim=0), not logits or scores"
        )
    return probs


def check_objectness(objectness, shape) -> Tensor:
    """``objectness [H, W]`` of the given ``shape``: float, finite, in [0, 1]."""
    check_float("objectness", objectness, 2)
    if tuple(objectness.shape) != tuple(shape):
        raise ValueError(
            f"objectness must have shape {list(shape)} to match probs, got {list(objectness.shape)}"
        )
    o = check_all_finite("objectness", objectness).detach()
    if o.numel() and (float(o.min()) < 0 or float(o.max()) > 1):
        raise ValueError(
            f"objectness (pos_j, a share of proposals) must lie in [0, 1], got values in "
            f"[{float(o.min()):g}, {float(o.max()):g}]"
        )
    return objectness


def check_size(what: str, height: int, width: int, max_pixels: int, hint: str) -> None:
    """Refuse an image above ``max_pixels`` pixels for ``what``, with a ``hint``."""
    if height * width > max_pixels:
        raise ValueError(
            f"{what} handles images up to {max_pixels:,} pixels, got {height}x{width} = "
            f"{height * width:,}: {hint}"
        )
