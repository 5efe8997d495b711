r"""A readable mean-field dense CRF in PyTorch (the model of Kraehenbuehl & Koltun, NIPS 2011).

The energy of a labelling :math:`x` of the pixels is

.. math::

    E(x) = \sum_j \theta_{x_j}(j) + \sum_{i < j} \mu(x_i, x_j)\,\big[
        w_g\, k_g(i, j) + w_b\, k_b(i, j)\big],
    \qquad \mu = \text{Potts}: \mu(a, b) = [a \ne b],

with a Gaussian *smoothness* kernel on the positions and a *bilateral* (appearance) kernel on
positions and colours,

.. math::

    k_g(i, j) = \exp\Big(-\frac{|p_i - p_j|^2}{2\sigma_g^2}\Big), \qquad
    k_b(i, j) = \exp\Big(-\frac{|p_i - p_j|^2}{2\sigma_{xy}^2}
                          - \frac{|I_i - I_j|^2}{2\sigma_{rgb}^2}\Big).

Mean field keeps a factorised :math:`Q_j(k)`, starts from :math:`Q = \mathrm{softmax}(-\theta)`
and repeats

.. math::

    Q_j(k) \propto \exp\Big(-\theta_k(j) + \sum_m w_m \sum_i \tilde{k}_m(j, i)\, Q_i(k)\Big),

(Potts: a pixel's neighbours vote for their own labels; the constant part of the penalty cancels
in the normalisation). As in Kraehenbuehl's code and pydensecrf's default
(``NORMALIZE_SYMMETRIC``), each kernel is normalised symmetrically,
:math:`\tilde{k} = D^{-1/2} k D^{-1/2}` with :math:`D_j = \sum_i k(j, i)`, the sum including
:math:`i = j`.

The C++ code filters with a permutohedral lattice in O(pixels) time, an approximation of the
Gaussian sums; here the sums are exact, O(pixels^2) per iteration, computed in blocks of rows so
a 128x128 image (16,384 pixels) fits in memory (images up to 64x64 keep the kernel matrix
between iterations). Squared feature distances are summed from differences (not as
``|a|^2 + |b|^2 - 2ab``, which cancels badly for narrow kernels). Float64 unaries are filtered in
float64 (for the tests), others in float32. That is fine for the small images of the chapter and
for reading; ``cplus_edu.crf.dense_crf`` uses the fast code when it is installed.

**Size limit.** ``MAX_PIXELS = 16,384`` (128x128): here 64x64 takes about 2 s and 128x128 one to
several minutes with one thread; larger images are refused (use pydensecrf2, milliseconds).

**Image** ``[3, H, W]``: uint8 (or any integer dtype) in 0..255, or float in [0, 1]
(``cplus_edu.crf.inputs``); out-of-range colours, NaN and Inf are refused.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cplus_edu.checks import check_all_finite, check_float, check_nonempty
from cplus_edu.crf.inputs import CRFParams, check_params, check_size, image_255

MAX_PIXELS = 128 * 128  # the readable CRF refuses larger images (O(pixels^2) per iteration)
_BLOCK_ELEMENTS = 1 << 22  # kernel entries computed at once when streaming (4M)
_CACHE_ELEMENTS = 1 << 24  # kernels up to this size (a 64x64 image) are computed once and kept


def _features(image: Tensor, sxy: float, srgb: float | None, dtype) -> Tensor:
    """``[H * W, 2]`` positions / ``sxy`` (and ``[H * W, 5]`` with colours / ``srgb``)."""
    _, h, w = image.shape
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij"
    )
    feats = [xx.reshape(-1, 1) / sxy, yy.reshape(-1, 1) / sxy]
    if srgb is not None:
        feats.append(image.reshape(3, -1).t().to(dtype) / srgb)
    return torch.cat(feats, dim=1)


def _gaussian_rows(rows: Tensor, features: Tensor) -> Tensor:
    """``exp(-|f_j - f_i|^2 / 2)`` for the pixels ``j`` of ``rows [r, d]`` and all ``i``:
    ``[r, N]`` (distances from coordinate differences: exact also for narrow kernels)."""
    distance = torch.cdist(rows, features, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.exp(-0.5 * distance.square_())


class _Kernel:
    """One symmetrically normalised Gaussian kernel: ``apply(Q) = D^-1/2 k D^-1/2 Q``, exact.

    Small images keep the ``[N, N]`` kernel matrix; larger ones recompute it in row blocks at
    every call (O(N^2) time, O(N) memory).
    """

    def __init__(self, features: Tensor):
        self.features = features
        n = features.shape[0]
        self.matrix = _gaussian_rows(features, features) if n * n <= _CACHE_ELEMENTS else None
        ones = torch.ones(n, 1, dtype=features.dtype)
        self.norm = self._filter(ones).rsqrt()  # `[N, 1]`: D^{-1/2}, D_j = sum_i k(j, i)

    def _filter(self, values: Tensor) -> Tensor:
        """``sum_i k(j, i) values_i`` for every pixel ``j``: ``[N, K]`` -> ``[N, K]``."""
        if self.matrix is not None:
            return self.matrix @ values
        n = self.features.shape[0]
        block = max(1, _BLOCK_ELEMENTS // n)
        out = torch.empty(n, values.shape[1], dtype=values.dtype)
        for start in range(0, n, block):
            rows = self.features[start : start + block]
            out[start : start + block] = _gaussian_rows(rows, self.features) @ values
        return out

    def apply(self, q: Tensor) -> Tensor:
        return self.norm * self._filter(self.norm * q)


def mean_field_crf(
    unary: Tensor,
    image: Tensor,
    *,
    iterations: int = 5,
    gaussian_sxy: float = 3.0,
    gaussian_weight: float = 3.0,
    bilateral_sxy: float = 10.0,
    bilateral_srgb: float = 20.0,
    bilateral_weight: float = 5.0,
) -> Tensor:
    """Mean-field inference; returns ``Q [K, H, W]`` (each pixel's label distribution).

    ``unary [K, H, W]`` finite energies (e.g. from ``crf_unary``); ``image [3, H, W]``, uint8
    (0..255) or float in [0, 1]; ``bilateral_srgb`` is in 0..255 colour units, as in pydensecrf.
    Weights of 0 switch a kernel off; ``iterations=0`` returns ``softmax(-unary)``. Parameters
    are checked as in ``dense_crf``; images above ``MAX_PIXELS`` (128x128) are refused.
    """
    check_float("unary", unary, 3)
    check_nonempty("unary", unary)
    colours = image_255(image)
    if tuple(colours.shape[1:]) != tuple(unary.shape[1:]):
        raise ValueError(
            f"image {list(image.shape)} and unary {list(unary.shape)} must share H and W"
        )
    check_all_finite("unary", unary)
    params = check_params(
        CRFParams(iterations, gaussian_sxy, gaussian_weight, bilateral_sxy, bilateral_srgb,
                  bilateral_weight), *unary.shape[1:]
    )  # fmt: skip
    check_size("the readable mean-field CRF", *unary.shape[1:], MAX_PIXELS,
               "install pydensecrf2 (pip install pydensecrf2) and use dense_crf, whose "
               "permutohedral lattice takes milliseconds")  # fmt: skip

    k, h, w = unary.shape
    dtype = torch.float64 if unary.dtype == torch.float64 else torch.float32
    theta = unary.detach().reshape(k, -1).t().to(dtype)  # `[N, K]`
    kernels = []
    if params.gaussian_weight > 0:
        features = _features(colours, params.gaussian_sxy, None, dtype)
        kernels.append((params.gaussian_weight, _Kernel(features)))
    if params.bilateral_weight > 0:
        features = _features(colours, params.bilateral_sxy, params.bilateral_srgb, dtype)
        kernels.append((params.bilateral_weight, _Kernel(features)))
    q = torch.softmax(-theta, dim=1)  # Q = softmax(-unary)
    for _ in range(params.iterations):
        message = sum(weight * kernel.apply(q) for weight, kernel in kernels)  # neighbours' votes
        q = torch.softmax(-theta + message, dim=1)  # Potts: -unary + sum_m w_m k~_m Q
    return q.t().reshape(k, h, w).to(unary.dtype)
