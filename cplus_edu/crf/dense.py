"""Dense CRF post-processing of a segmentation net's softmax, with or without pixel objectness.

``dense_crf(probs, image, objectness)`` builds the slides' unary (``crf_unary``) and runs
mean-field inference with a Gaussian and a bilateral Potts kernel:

- with **pydensecrf2** installed (``pip install pydensecrf2``, or the package's ``crf`` extra; it
  compiles Kraehenbuehl's C++ code, so it needs a compiler; it imports as ``pydensecrf``), by its
  permutohedral lattice: milliseconds per image;
- without it, by the readable ``mean_field_crf`` (exact kernels, O(pixels^2)): the same model, fine
  on the chapter's small images, slow on large ones. ``backend="auto"`` says once which one it
  fell back to; nothing else depends on pydensecrf2.

Inputs follow ``cplus_edu.crf.inputs``: an image ``[3, H, W]`` is uint8 (or any integer dtype) in
0..255 or float in [0, 1], read by its dtype; colours enter the bilateral kernel in 0..255 units
(rounded to uint8, as pydensecrf takes them), so both back ends see the same image. ``probs``
must be probabilities, ``objectness`` in [0, 1], and every ``CRFParams`` value is checked
*before* any back end runs: pydensecrf crashes the Python process (segmentation fault) on a
zero, NaN or too-small kernel width instead of raising.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict

import numpy as np
import torch
from torch import Tensor

from cplus_edu.checks import check_all_finite, check_float, check_nonempty
from cplus_edu.crf.inputs import CRFParams, check_params, check_probs, image_255
from cplus_edu.crf.meanfield import mean_field_crf
from cplus_edu.crf.unary import crf_unary

_INSTALL_HINT = (
    "pydensecrf2 is not installed (pip install pydensecrf2; it needs a C++ compiler): "
    "using the readable PyTorch mean-field CRF instead (same model, exact kernels, slower on "
    "large images)"
)
_warned = False


def densecrf_available() -> bool:
    """Whether pydensecrf2 (module ``pydensecrf``) can be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def _image_uint8(image) -> Tensor:
    """``[3, H, W]`` image by the dtype convention -> uint8 ``[3, H, W]`` (colours 0..255)."""
    return image_255(image).round().to(torch.uint8)


def pydensecrf_inference(unary: Tensor, image: Tensor, params: CRFParams | None = None) -> Tensor:
    """Mean-field inference by pydensecrf2: finite ``unary [K, H, W]``, ``image [3, H, W]`` ->
    ``Q [K, H, W]``. Raises ``ImportError`` (with the install hint) when it is missing. Every
    input is checked first (pydensecrf does not check, it crashes)."""
    check_float("unary", unary, 3)
    check_nonempty("unary", unary)
    check_all_finite("unary", unary)
    rgb = _image_uint8(image)
    if tuple(rgb.shape[1:]) != tuple(unary.shape[1:]):
        raise ValueError(f"image {list(image.shape)} and unary {list(unary.shape)} must share H, W")
    params = check_params(params or CRFParams(), *unary.shape[1:])
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as error:
        raise ImportError(_INSTALL_HINT.split(":")[0]) from error
    k, h, w = unary.shape
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(unary.detach().reshape(k, -1).numpy(), np.float32))
    if params.gaussian_weight > 0:
        crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_weight)
    if params.bilateral_weight > 0:
        rgb = np.ascontiguousarray(rgb.permute(1, 2, 0).numpy())
        crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb, rgbim=rgb,
                                 compat=params.bilateral_weight)  # fmt: skip
    q = np.asarray(crf.inference(params.iterations), dtype=np.float32)
    return torch.from_numpy(q).reshape(k, h, w)


def dense_crf(
    probs: Tensor,
    image: Tensor,
    objectness: Tensor | None = None,
    *,
    background_index: int = 0,
    objectness_weight: float = 1.0,
    params: CRFParams | None = None,
    backend: str = "auto",
) -> Tensor:
    """CRF-refined label distribution ``Q [K, H, W]`` from softmax ``probs [K, H, W]``.

    ``image [3, H, W]``: uint8 (0..255) or float in [0, 1]. ``objectness [H, W]``
    (``pixel_objectness``, in [0, 1]) turns the plain CRF into the slides' POS-CRF;
    ``objectness_weight`` is finite, >= 0. ``backend``: ``"pydensecrf"``, ``"torch"`` (the
    readable one, images up to 128x128) or ``"auto"`` (pydensecrf2 when it imports, else the
    readable one with a one-time warning). Bad input of any kind raises ``ValueError`` /
    ``TypeError`` naming the argument before a back end runs.
    """
    global _warned
    if backend not in ("auto", "pydensecrf", "torch"):
        raise ValueError(f"backend must be 'auto', 'pydensecrf' or 'torch', got {backend!r}")
    check_probs(probs)
    rgb = _image_uint8(image)
    if tuple(rgb.shape[1:]) != tuple(probs.shape[1:]):
        raise ValueError(f"image {list(image.shape)} and probs {list(probs.shape)} must share H, W")
    params = check_params(params or CRFParams(), *probs.shape[1:])
    unary = crf_unary(probs.detach(), objectness, background_index, objectness_weight).float()
    if backend == "auto":
        backend = "pydensecrf" if densecrf_available() else "torch"
        if backend == "torch" and not _warned:
            warnings.warn(_INSTALL_HINT, stacklevel=2)
            _warned = True
    if backend == "pydensecrf":
        return pydensecrf_inference(unary, rgb, params)
    return mean_field_crf(unary, rgb, **asdict(params))
