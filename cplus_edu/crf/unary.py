r"""The slides' CRF unary with pixel objectness (Liu & Lew, REFERENCES.md [3]).

.. math::

    \theta_k(x_j) = \begin{cases} -\log p_{j,0} & k = 0 \\
                    -\log\big(p_{j,k} \cdot e^{pos_j}\big) = -\log p_{j,k} - pos_j
                    & 1 \le k \le C \end{cases}

The objectness :math:`pos_j \in [0, 1]` lowers the energy of every object label at pixel j by the
same amount, so it never changes which object class wins, only how object labels fare against the
background: an object label gains a factor of at most :math:`e` in probability over the
background. Without objectness (``objectness=None``) this is the plain unary
:math:`-\log p_{j,k}` of DeepLab's CRF.

``probs`` must be probabilities (finite, >= 0, summing to 1 over K) and ``objectness`` finite in
[0, 1] (``cplus_edu.crf.inputs``): logits or NaN are refused, not turned into energies.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cplus_edu.checks import check_class_index
from cplus_edu.crf.inputs import check_objectness, check_probs, finite_number

_TINY = 1e-8  # probabilities are clamped here before the log (a 0 would give an infinite energy)


def crf_unary(
    probs: Tensor, objectness: Tensor | None = None, background_index: int = 0, weight: float = 1.0
) -> Tensor:
    """Unary energies ``[K, H, W]`` from softmax ``probs [K, H, W]`` and ``objectness [H, W]``.

    ``weight`` (finite, >= 0) scales the objectness term (1 is the slides' form; 0 is the plain
    unary). Half-precision ``probs`` give float32 energies.
    """
    check_probs(probs)
    if probs.dtype in (torch.float16, torch.bfloat16):
        probs = probs.float()
    check_class_index("background_index", background_index, probs.shape[0])
    weight = finite_number("objectness_weight", weight, positive=False)
    unary = -probs.clamp_min(_TINY).log()  # -log p_{j,k}
    if objectness is not None:
        check_objectness(objectness, probs.shape[1:])
        is_object = torch.ones(probs.shape[0], 1, 1, dtype=probs.dtype, device=probs.device)
        is_object[background_index] = 0.0
        unary = unary - weight * is_object * objectness.to(probs)  # -log(p_jk exp(pos_j)), k >= 1
    return unary
