"""Dense CRF post-processing of a segmentation net's softmax, with or without pixel objectness.

``dense_crf(probs, image, objectness)`` builds the slides' unary (``crf_unary``) and runs
mean-field inference with a Gaussian and a bilateral Potts kernel:

- with **pydensecrf2** installed (``pip install pydensecrf2``, or the package's ``crf`` extra; it
  compiles Kraehenbuehl's C++ code, so it needs a compiler; it imports as ``pydensecrf``), by its
  permutohedral lattice: milliseconds per image;
- without it, by the readable ``mean_field_crf`` (exact kernels, O(pixels^2)): the same model, fine
  on the chapter's small images, slow on large ones. ``backend="auto"`` says once which one it
  fell back to; nothing else depends on pydensecrf2.

Images: ``[3, H, W]``, float in [0, 1] or uint8; colours enter the bilateral kernel in 0..255
units (rounded to uint8, as pydensecrf takes them), so both back ends see the same image.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from cplus_edu.checks import check_float
from cplus_edu.crf.meanfield import mean_field_crf
from cplus_edu.crf.unary import crf_unary

_INSTALL_HINT = (
    "pydensecrf2 is not installed (pip install pydensecrf2; it needs a C++ compiler): "
    "using the readable PyTorch mean-field CRF instead (same model, exact kernels, slower on "
    "large images)"
)
_warned = False


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
        return CRFParams(**{**asdict(self), "gaussian_weight": self.gaussian_weight * strength,
                            "bilateral_weight": self.bilateral_weight * strength})  # fmt: skip


def densecrf_available() -> bool:
    """Whether pydensecrf2 (module ``pydensecrf``) can be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def _image_uint8(image: Tensor) -> Tensor:
    """``[3, H, W]`` float in [0, 1] or uint8 -> uint8 ``[3, H, W]``."""
    if not torch.is_tensor(image) or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be a [3, H, W] tensor, got {getattr(image, 'shape', image)}")
    if image.dtype == torch.uint8:
        return image
    if not image.is_floating_point():
        raise TypeError(f"image must be float in [0, 1] or uint8, got {image.dtype}")
    return (image.detach().clamp(0, 1) * 255).round().to(torch.uint8)


def pydensecrf_inference(unary: Tensor, image: Tensor, params: CRFParams | None = None) -> Tensor:
    """Mean-field inference by pydensecrf2: ``unary [K, H, W]``, uint8 ``image [3, H, W]`` ->
    ``Q [K, H, W]``. Raises ``ImportError`` (with the install hint) when it is missing."""
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as error:
        raise ImportError(_INSTALL_HINT.split(":")[0]) from error
    params = params or CRFParams()
    k, h, w = unary.shape
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(unary.detach().reshape(k, -1).numpy(), np.float32))
    if params.gaussian_weight > 0:
        crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_weight)
    if params.bilateral_weight > 0:
        rgb = np.ascontiguousarray(_image_uint8(image).permute(1, 2, 0).numpy())
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

    ``objectness [H, W]`` (``pixel_objectness``) turns the plain CRF into the slides' POS-CRF.
    ``backend``: ``"pydensecrf"``, ``"torch"`` (the readable one) or ``"auto"`` (pydensecrf2 when
    it imports, else the readable one with a one-time warning).
    """
    global _warned
    check_float("probs", probs, 3)
    rgb = _image_uint8(image)
    if tuple(rgb.shape[1:]) != tuple(probs.shape[1:]):
        raise ValueError(f"image {list(image.shape)} and probs {list(probs.shape)} must share H, W")
    if backend not in ("auto", "pydensecrf", "torch"):
        raise ValueError(f"backend must be 'auto', 'pydensecrf' or 'torch', got {backend!r}")
    params = params or CRFParams()
    unary = crf_unary(probs.detach().float(), objectness, background_index, objectness_weight)
    if backend == "auto":
        backend = "pydensecrf" if densecrf_available() else "torch"
        if backend == "torch" and not _warned:
            warnings.warn(_INSTALL_HINT, stacklevel=2)
            _warned = True
    if backend == "pydensecrf":
        return pydensecrf_inference(unary, rgb, params)
    return mean_field_crf(unary, rgb.float(), **asdict(params))
