r"""The positive-sharing loss and the fused loss (Liu & Lew, REFERENCES.md [3]).

Slides: Yu Liu and Michael S. Lew, "Improving the Discrimination Between Foreground and Background
for Semantic Segmentation" (Leiden University). An FCN trained with softmax cross-entropy loses
object pixels to the background, small and thin objects most. The fix: add a second loss in which
*all object classes share one positive*, against the background as the negative (the
"positive-sharing" idea of DeepContour, Shen et al. CVPR 2015, turned around: there a two-class
problem became multi-class, here a multi-class problem is also read as two-class).

With softmax probabilities :math:`p_{j,k} = e^{s_{j,k}} / \sum_l e^{s_{j,l}}` over the background
(class 0) and the :math:`C` object classes, for pixel :math:`j` of image :math:`i`:

.. math::

    \mathcal{L}_0 = -\frac{1}{N}\sum_{i}\sum_{j}\sum_{k=0}^{C} h(y_j = k) \log p_{j,k}     \tag{1}

    \mathcal{L}_1 = -\frac{1}{N}\sum_{i}\sum_{j}\Big(h(y_j = 0)\log p_{j,0}
                    + \sum_{k=1}^{C} h(y_j = k)\log(1 - p_{j,0})\Big)                      \tag{2}

    \mathcal{L} = W_s\,\mathcal{L}_0 + W_p\,\mathcal{L}_1                                 \tag{3}

and the slides' gradient with respect to the softmax input :math:`s` (the backward pass below is
exactly this, written per pixel; ``tests/test_positive_sharing.py`` checks it against autograd):

.. math::

    \frac{\partial\mathcal{L}}{\partial s_{j,0}} = \frac{1}{N}\Big[(W_s + W_p) h(y_j = 0)
        (p_{j,0} - 1) + (W_s + W_p)\sum_{k=1}^{C} h(y_j = k)\, p_{j,0}\Big]               \tag{4}

    \frac{\partial\mathcal{L}}{\partial s_{j,l}} = \frac{1}{N}\Big[(W_s + W_p h(y_j = 0))
        p_{j,l} - W_s h(y_j = l) - W_p \sum_{k=1}^{C} h(y_j = k)
        \frac{p_{j,0}\, p_{j,l}}{1 - p_{j,0}}\Big]                                        \tag{5}

Readings taken here (GUIDE.md section 4):

- :math:`N` is the number of non-ignored pixels (the slides write "mini-batch size" but sum over
  pixels; a mean over pixels keeps the loss's scale independent of the image size, as
  ``F.cross_entropy`` does). A batch whose pixels are all ignored gives 0 and a zero gradient.
- The background is class ``background_index`` (0 in VOC and in the slides); every other class is
  an object class.
- :math:`\log(1 - p_0)` is never computed as ``log(1 - softmax)`` (it is ``-inf`` once
  :math:`p_0` rounds to 1, which happens for a confident background guess on an object pixel):
  it is :math:`\operatorname{LSE}_{k \ne 0}(s_k) - \operatorname{LSE}_k(s_k)
  = -\operatorname{softplus}(s_0 - \operatorname{LSE}_{k \ne 0}(s_k))`, the log-sum-exp over the
  object classes shifted by their maximum.
- The slides study :math:`W_s + W_p = 1`; the weights here are free (non-negative, finite).
- Half-precision logits are computed in float32 (as ``F.cross_entropy`` under autocast); integer
  targets of any dtype are read as int64. Second derivatives (``create_graph=True``) are exact:
  the backward is written in differentiable operations (see ``_FusedParts``).

Shapes: logits ``[N, K]`` with target ``[N]``, or ``[B, K, H, W]`` with ``[B, H, W]``;
``K = C + 1``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cplus_edu.checks import (
    check_class_index,
    check_finite,
    check_ignore_index,
    check_logits_target,
    check_positive_int,
    check_range,
    check_reduction,
    upcast_half,
)


def _softmax_parts(logits: Tensor, background_index: int):
    r"""What the forward and the backward share, from ``logits [B, K, P]``.

    Returns ``e [B, K, P]`` (:math:`e^{s_k - m}` for the object classes, :math:`m` their maximum,
    0 in the background channel), ``sum_e [B, P]`` (in ``[1, C]``), and :math:`\log p_0`,
    :math:`\log(1 - p_0)` and :math:`\operatorname{LSE}_k(s_k)`, each ``[B, P]``. With
    :math:`\operatorname{LSE}_{obj} = m + \log \sum_{k \ne 0} e^{s_k - m}` and
    :math:`d = s_0 - \operatorname{LSE}_{obj}`:
    :math:`\log(1 - p_0) = -\operatorname{softplus}(d)` and
    :math:`\log p_0 = -\operatorname{softplus}(-d)`, with
    :math:`\operatorname{softplus}(d) = \max(d, 0) + \log(1 + e^{-|d|})` written with ``exp`` and
    ``log`` (``log1p`` and ``logaddexp`` are not vectorised on this CPU build: 10x slower; ``log``
    rounds :math:`\log(1 + t)` to 0 only below :math:`t` = machine epsilon). Differentiable by
    autograd (no in-place operation on a tensor autograd saves): the backward calls it again for
    second derivatives.
    """
    bg = background_index
    if bg == 0:
        objects = logits[:, 1:]  # a view: no copy
    elif bg == logits.shape[1] - 1:
        objects = logits[:, :-1]
    else:
        objects = logits.index_fill(1, torch.tensor([bg], device=logits.device), -torch.inf)
    m = objects.amax(1, keepdim=True)  # `[B, 1, P]`
    shifted = logits - m  # `[B, K, P]`
    shifted[:, bg] = -torch.inf  # e^{-inf} = 0: the background is no object
    e = shifted.exp_()
    sum_e = e.sum(1)  # `[B, P]`, in [1, C]
    d = logits[:, bg] - (m[:, 0] + sum_e.log())  # s_0 - LSE_obj
    soft = torch.log(1.0 + torch.exp(-d.abs()))  # log(1 + e^{-|d|})
    log_not_bg = -(d.clamp_min(0.0) + soft)  # log(1 - p_0), stable
    log_p_bg = d.clamp_max(0.0) - soft  # log p_0 = d + log(1 - p_0)
    lse = logits[:, bg] - log_p_bg  # log sum_k exp(s_k)
    return e, sum_e, log_p_bg, log_not_bg, lse


class _FusedParts(torch.autograd.Function):
    r"""``(ce [B, P], ps [B, P])`` from ``logits [B, K, P]``, with the slides' gradient as backward.

    Forward: ``_softmax_parts``, then :math:`\log p_y = s_y - \operatorname{LSE}`.

    Backward, per pixel, with upstream gradients ``a = dL/d ce`` and ``b = dL/d ps``:
    ``dL/ds = (a + b) p - a onehot(y) - b t``, where ``t = onehot(0)`` on a background pixel and
    ``t_l = p_l / (1 - p_0)`` for the object classes (``t_0 = 0``) on an object pixel: eqs. (4)-(5)
    with ``a = W_s / N`` and ``b = W_p / N``. For an object class ``l`` both ``p_l`` and ``t_l``
    are ``e_l / sum_e`` times a per-pixel factor, so the whole gradient is one product with the
    ``e`` saved by the forward pass, written into ``e``'s own buffer (no new ``[B, K, P]``
    tensor). A second backward through the graph (``retain_graph=True``) computes ``e`` again, and
    so does a backward with ``create_graph=True``, from the logits with autograd on: the formula
    is written in differentiable operations, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, logits, target, background_index: int, ignore_index: int):
        bg = background_index
        valid = target != ignore_index  # `[B, P]`
        safe_target = torch.where(valid, target, bg)
        is_bg = safe_target == bg
        e, sum_e, log_p_bg, log_not_bg, lse = _softmax_parts(logits, bg)
        log_p_y = logits.gather(1, safe_target[:, None])[:, 0] - lse
        ce = torch.where(valid, -log_p_y, 0.0)  # eq. (1): -log p_{j, y_j}
        ps = torch.where(valid, -torch.where(is_bg, log_p_bg, log_not_bg), 0.0)  # eq. (2)
        ctx.background_index = bg
        ctx.e = e  # not saved for backward: the first backward overwrites it with the gradient
        ctx.save_for_backward(logits, sum_e, log_p_bg, log_not_bg, valid, is_bg, safe_target)
        return ce, ps

    @staticmethod
    def backward(ctx, grad_ce, grad_ps):
        logits, sum_e, log_p_bg, log_not_bg, valid, is_bg, safe_target = ctx.saved_tensors
        bg = ctx.background_index
        if torch.is_grad_enabled():  # create_graph=True: every part again, tracked by autograd
            e, sum_e, log_p_bg, log_not_bg, _ = _softmax_parts(logits, bg)
        else:  # e, or e again if a first backward (retain_graph=True) already used its buffer
            e = ctx.e if ctx.e is not None else _softmax_parts(logits, bg)[0]
            ctx.e = None
        a = grad_ce * valid  # `[B, P]`: dL/d ce, zero at ignored pixels
        b = grad_ps * valid  # `[B, P]`: dL/d ps
        # eq. (5), object classes l: (a + b) p_l - b h(y obj) p_l / (1 - p_0), with
        # p_l = (1 - p_0) e_l / sum_e and p_l / (1 - p_0) = e_l / sum_e
        factor = ((a + b) * log_not_bg.exp() - b * ~is_bg) / sum_e
        grad = e * factor[:, None] if torch.is_grad_enabled() else e.mul_(factor[:, None])
        grad[:, bg] = (a + b) * log_p_bg.exp() - b * is_bg  # eq. (4), before the -a h(y = 0)
        grad.scatter_add_(1, safe_target[:, None], -a[:, None])  # eqs. (4)-(5): -W_s h(y_j = l)
        return grad, None, None, None


def _flatten(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``[N, K], [N]`` or ``[B, K, H, W], [B, H, W]`` -> ``[B, K, P], [B, P]``."""
    if logits.ndim == 2:
        return logits.t()[None], target[None]
    return logits.flatten(2), target.flatten(1)


class FusedLoss(nn.Module):
    r"""Eq. (3): :math:`W_s\,\mathcal{L}_0 + W_p\,\mathcal{L}_1`, softmax CE plus positive-sharing.

    ``logits`` ``[N, K]`` or ``[B, K, H, W]``, integer ``target`` ``[N]`` or ``[B, H, W]`` with
    values in ``[0, K - 1]`` or ``ignore_index``; ``K >= 2`` (the background and at least one
    object class). ``reduction="mean"`` averages over the non-ignored pixels (0 when there is
    none), ``"sum"`` sums, ``"none"`` returns the per-pixel loss (0 at ignored pixels). After a
    call, ``terms`` holds the detached means of both parts: ``{"softmax": L0, "positive_sharing":
    L1}``.
    """

    def __init__(
        self,
        ws: float = 0.5,
        wp: float = 0.5,
        background_index: int = 0,
        ignore_index: int = -100,
        reduction: str = "mean",
    ):
        super().__init__()
        self.ws = check_range("ws", ws, 0.0)
        self.wp = check_range("wp", wp, 0.0)
        self.background_index = check_positive_int("background_index", background_index, 0)
        self.ignore_index = int(ignore_index)
        self.reduction = check_reduction(reduction)
        self.terms: dict[str, Tensor] = {}

    def parts(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Per-pixel ``(L0, L1)`` maps shaped like ``target`` (0 at ignored pixels), after the
        input checks."""
        return self._parts(*self._check(logits, target))

    def _check(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """The checked inputs: half-precision logits as float32, the target as int64."""
        logits, target = check_logits_target(logits, target, self.ignore_index)
        num_classes = logits.shape[1]
        if num_classes < 2:
            raise ValueError(
                f"logits must have at least 2 classes (background + objects), got {num_classes}"
            )
        check_class_index("background_index", self.background_index, num_classes)
        check_ignore_index(self.ignore_index, num_classes)
        return upcast_half(logits), target

    def _parts(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        flat_logits, flat_target = _flatten(logits, target)
        ce, ps = _FusedParts.apply(
            flat_logits, flat_target, self.background_index, self.ignore_index
        )
        return ce.reshape(target.shape), ps.reshape(target.shape)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, target = self._check(logits, target)
        ce, ps = self._parts(logits, target)
        per_pixel = self.ws * ce + self.wp * ps  # eq. (3)
        count = (target != self.ignore_index).sum().clamp_min(1)
        self.terms = {
            "softmax": ce.detach().sum() / count,
            "positive_sharing": ps.detach().sum() / count,
        }
        if self.reduction == "none":
            loss = per_pixel
        elif self.reduction == "sum":
            loss = per_pixel.sum()
        else:
            loss = per_pixel.sum() / count  # 1/N over the non-ignored pixels
        return check_finite(loss, logits=logits)


class PositiveSharingLoss(FusedLoss):
    r"""Eq. (2) alone: :math:`-\log p_0` on background pixels, :math:`-\log(1 - p_0)` on every
    object pixel, whatever its class (``FusedLoss`` with ``ws=0, wp=1``)."""

    def __init__(self, background_index: int = 0, ignore_index: int = -100, reduction="mean"):
        super().__init__(0.0, 1.0, background_index, ignore_index, reduction)
