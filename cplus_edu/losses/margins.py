r"""The margin family on the hypersphere: NormFace, CosFace, ArcFace and SphereFace heads.

The CC-loss slides (Song et al. [5]) compare with the softmax losses that put the class weights
and the features on the unit hypersphere and ask the target class to win *by a margin*. With
``theta_{j}`` the angle between the feature ``x_i`` and the class weight ``w_j`` (both ``[D]``),
every head below is a cross-entropy over modified logits, the target logit changed by a margin:

.. math::

    L = -\frac{1}{N} \sum_i \log \frac{e^{s\, \psi(\theta_{y_i})}}
        {e^{s\, \psi(\theta_{y_i})} + \sum_{j \ne y_i} e^{s \cos \theta_j}}

NormFace (Wang, Xiang, Cheng, Yuille, "NormFace: L2 hypersphere embedding for face
verification", ACM MM 2017): no margin, only the scale,

.. math:: \psi(\theta) = \cos\theta                                               \tag{NormFace}

CosFace (Wang et al., "CosFace: Large margin cosine loss for deep face recognition", CVPR 2018,
eq. (4)), an additive margin on the cosine, paper's m = 0.35, s = 64:

.. math:: \psi(\theta) = \cos\theta - m                                            \tag{CosFace}

ArcFace (Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive angular margin loss for deep face
recognition", CVPR 2019, eq. (3)), an additive margin on the angle, in **radians**, m = 0.5,
s = 64; where :math:`\theta + m > \pi` the cosine would increase again, so (as the authors' code
and pytorch-metric-learning do) the target logit falls back to :math:`\cos\theta - m \sin m`:

.. math:: \psi(\theta) = \cos(\theta + m)                                           \tag{ArcFace}

SphereFace / A-softmax (Liu, Wen, Yu, Li, Raj, Song, "SphereFace: Deep hypersphere embedding for
face recognition", CVPR 2017, eq. (6)-(7)), a multiplicative angular margin, integer m = 4; the
class weights are normalised but **the feature is not**, its norm plays the scale:

.. math::

    L = -\frac{1}{N} \sum_i \log \frac{e^{\|x_i\| \psi(\theta_{y_i})}}
        {e^{\|x_i\| \psi(\theta_{y_i})} + \sum_{j \ne y_i} e^{\|x_i\| \cos\theta_j}},
    \qquad
    \psi(\theta) = (-1)^k \cos(m\theta) - 2k,\ \theta \in [\tfrac{k\pi}{m}, \tfrac{(k+1)\pi}{m}]

``psi`` is the monotone continuation of :math:`\cos(m\theta)` to :math:`[0, \pi]`. The paper
trains with the softmax blended in, :math:`f_y = (\lambda \cos\theta + \psi(\theta)) / (1 +
\lambda)` with :math:`\lambda` annealed from about 1000 down to 5: ``lambda_`` here (default 0,
the pure loss, which is what pytorch-metric-learning computes).

Interface: ``head(embeddings [N, D], labels [N])`` returns the mean loss over the labels other
than ``ignore_index`` (-100, as ``F.cross_entropy``; 0 if every label is ignored);
``head.weight`` is ``[num_classes, embedding_size]`` (one row per class, like ``nn.Linear``);
``head.logits(e)`` gives the margin-free logits ``[N, K]`` to predict with,
``head.margin_logits(e, labels)`` the logits the loss sees (margin at the labels). A head holds
the class weights itself, so a model feeding it returns the embedding; ``MarginModel`` makes the
pair fit ``cplus_edu.train.fit``.

pytorch-metric-learning (PML) has all four (``NormalizedSoftmaxLoss``, ``CosFaceLoss``,
``ArcFaceLoss``, ``SphereFaceLoss``); ``tests/test_margins.py`` checks value and gradients
against it. Its conventions differ: its weight ``W`` is ``[D, K]`` (ours transposed); its ArcFace
margin is in **degrees** (default 28.6 = 0.5 rad); its NormFace takes ``temperature = 1 / s``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.checks import (
    check_class_target,
    check_finite,
    check_float,
    check_ignore_index,
    check_integer,
    check_nonempty,
    check_positive_int,
    check_range,
    describe,
    upcast_half,
)

_COS_LIMIT = 1.0 - 1e-7  # acos is not differentiable at +-1: clamp the cosine just inside


class MarginHead(nn.Module):
    """Shared part of the four heads: class weights, cosines, margin at the target, CE."""

    default_margin = 0.0
    default_scale = 64.0

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        margin: float | None = None,
        scale: float | None = None,
        ignore_index: int = -100,
    ):
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes, 2)
        self.embedding_size = check_positive_int("embedding_size", embedding_size)
        margin = self.default_margin if margin is None else margin
        scale = self.default_scale if scale is None else scale
        self.margin = check_range("margin", margin, 0.0)
        self.scale = check_range("scale", scale, 0.0, open_low=True)
        self.ignore_index = check_ignore_index(ignore_index, num_classes)
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_size))  # `[K, D]`

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_size={self.embedding_size}, "
                f"margin={self.margin:g}, scale={self.scale:g}")  # fmt: skip

    def _check(self, embeddings, labels=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The checked inputs: half-precision embeddings as float32, labels as int64."""
        check_float("embeddings", embeddings, 2)
        check_nonempty("embeddings", embeddings)
        if embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"embeddings must be [N, {self.embedding_size}], "
                             f"got {list(embeddings.shape)}")  # fmt: skip
        embeddings = upcast_half(embeddings)  # half precision on either side: float32
        if embeddings.dtype != upcast_half(self.weight).dtype:
            raise TypeError(
                f"embeddings are {describe(embeddings)} but the head's weight is "
                f"{describe(self.weight)}: cast one to the other (e.g. head.to(embeddings.dtype))"
            )
        if labels is not None:
            labels = check_integer("labels", labels, 1)
            if len(labels) != len(embeddings):
                raise ValueError(f"labels must be [{len(embeddings)}] to match embeddings "
                                 f"{list(embeddings.shape)}, got {list(labels.shape)}")  # fmt: skip
            labels = check_class_target(labels, self.num_classes, self.ignore_index, "labels")
        return embeddings, labels

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``cos theta [N, K]`` between each embedding and each class weight."""
        weight = upcast_half(self.weight)  # `[K, D]`
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(weight, dim=1))

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        """``psi(theta_y)`` from ``cos theta_y [N]`` (before the scale)."""
        return cos_target

    def logit_scale(self, embeddings: torch.Tensor) -> torch.Tensor | float:
        """``s`` (``[N, 1]`` for SphereFace, whose scale is the feature norm)."""
        return self.scale

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Margin-free logits ``s cos theta [N, K]``: what a trained head predicts with."""
        embeddings, _ = self._check(embeddings)
        return self.cosine(embeddings) * self.logit_scale(embeddings)

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss's logits ``[N, K]``: ``s psi(theta_y)`` at the label, ``s cos theta_j``
        elsewhere (margin-free on rows whose label is ``ignore_index``)."""
        embeddings, labels = self._check(embeddings, labels)
        cos = self.cosine(embeddings)  # `[N, K]`
        valid = labels != self.ignore_index  # `[N]`
        index = torch.where(valid, labels, 0)[:, None]  # an ignored row reads column 0...
        cos_target = cos.gather(1, index).squeeze(1)  # `[N]`: cos theta_y
        # ...and writes back its own margin-free cosine there
        target = torch.where(valid, self.target_logit(cos_target), cos_target)  # psi(theta_y)
        scale = self.logit_scale(embeddings)
        # one fresh [N, K] tensor, written in place at the labels (mul does not save its output)
        return (cos * scale).scatter_(1, index, target[:, None] * scale)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.margin_logits(embeddings, labels)
        labels = check_integer("labels", labels)
        # mean over the labelled rows; 0 (not NaN) if every row is ignored
        count = (labels != self.ignore_index).sum().clamp_min(1)
        loss = F.cross_entropy(logits, labels, ignore_index=self.ignore_index,
                               reduction="sum") / count  # fmt: skip
        return check_finite(loss, embeddings=embeddings, weight=self.weight)


class NormFaceLoss(MarginHead):
    """NormFace: softmax on ``s cos theta`` (eq. NormFace), no margin (``margin`` must stay 0;
    it is there for the shared signature). PML: ``NormalizedSoftmaxLoss(temperature=1/s)``."""

    default_scale = 16.0

    def __init__(self, num_classes, embedding_size, margin=0.0, scale=None, ignore_index=-100):
        if margin != 0:
            raise ValueError(f"NormFace has no margin: margin must be 0, got {margin!r}")
        super().__init__(num_classes, embedding_size, margin, scale, ignore_index)

    def margin_logits(self, embeddings, labels):
        embeddings, _ = self._check(embeddings, labels)
        return self.cosine(embeddings) * self.scale  # eq. (NormFace): nothing to change at y


class CosFaceLoss(MarginHead):
    """CosFace / large-margin cosine loss: ``psi = cos theta - m`` (eq. CosFace), m = 0.35,
    s = 64. PML: ``CosFaceLoss(margin=m, scale=s)``, the same numbers."""

    default_margin = 0.35

    def target_logit(self, cos_target):
        return cos_target - self.margin  # eq. (CosFace)


class ArcFaceLoss(MarginHead):
    """ArcFace: ``psi = cos(theta + m)`` (eq. ArcFace), m = 0.5 **radians**, s = 64, with the
    fallback ``cos theta - m sin m`` where ``theta > pi - m``. PML's ``ArcFaceLoss`` takes the
    margin in **degrees**: ``ArcFaceLoss(margin=math.degrees(m))`` is this head. ``margin`` must
    be below pi: from pi on, every angle takes the fallback and ``- m sin m`` turns into a bonus
    (the loss fell to 0 at ``margin=10``)."""

    default_margin = 0.5

    def __init__(self, num_classes, embedding_size, margin=None, scale=None, ignore_index=-100):
        super().__init__(num_classes, embedding_size, margin, scale, ignore_index)
        if self.margin >= math.pi:  # theta > pi - m everywhere: the fallback would be all there is
            raise ValueError(
                f"ArcFace's margin is an angle in radians and must be < pi (the paper's is 0.5), "
                f"got margin={margin!r}"
            )

    def target_logit(self, cos_target):
        theta = torch.acos(cos_target.clamp(-_COS_LIMIT, _COS_LIMIT))
        m = self.margin
        return torch.where(theta <= math.pi - m,
                           torch.cos(theta + m),  # eq. (ArcFace)
                           cos_target - m * math.sin(m))  # fmt: skip


class SphereFaceLoss(MarginHead):
    """SphereFace / A-softmax: ``||x|| psi(theta)`` with ``psi = (-1)^k cos(m theta) - 2k``,
    integer m = 4; the scale is the feature norm times ``scale`` (default 1). ``lambda_`` blends
    in the plain cosine as the paper's training does: ``(lambda cos + psi) / (1 + lambda)``.
    PML: ``SphereFaceLoss(margin=m, scale=s)`` (it computes ``cos(m theta)`` by the
    multiple-angle formula; the same values)."""

    default_margin = 4
    default_scale = 1.0

    def __init__(self, num_classes, embedding_size, margin=None, scale=None, lambda_=0.0,
                 ignore_index=-100):  # fmt: skip
        super().__init__(num_classes, embedding_size, margin, scale, ignore_index)
        if self.margin != int(self.margin) or self.margin < 1:
            raise ValueError(f"SphereFace's margin m must be a positive integer, got {margin!r}")
        self.margin = int(self.margin)
        self.lambda_ = check_range("lambda_", lambda_, 0.0)

    def target_logit(self, cos_target):
        m = self.margin
        theta = torch.acos(cos_target.clamp(-_COS_LIMIT, _COS_LIMIT))
        k = torch.floor(theta * m / math.pi).detach()  # theta in [k pi / m, (k + 1) pi / m]
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (-1)^k
        psi = sign * torch.cos(m * theta) - 2.0 * k  # eq. (6)
        return (self.lambda_ * cos_target + psi) / (1.0 + self.lambda_)

    def logit_scale(self, embeddings):
        return self.scale * embeddings.norm(dim=1, keepdim=True)  # `[N, 1]`: s ||x_i||


class MarginModel(nn.Module):
    """``backbone`` (returning ``(embedding, logits)``) with a margin ``head`` on top, for ``fit``.

    ``forward(x)`` returns ``(embedding [N, D], head.logits(embedding) [N, K])``: the backbone's
    own classifier is not used, the head's class weights are. Train with
    ``fit(model, model.loss, ...)``: ``model.loss`` asks ``fit`` for the features
    (``needs_features``), ignores the logits and returns ``head(embedding, labels)``.
    """

    def __init__(self, backbone: nn.Module, head: MarginHead):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.loss = _HeadLoss(head)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, _ = self.backbone(x)
        return embedding, self.head.logits(embedding)


class _HeadLoss(nn.Module):
    """``loss(features, logits, labels) = head(features, labels)`` (the head's weight is a
    model parameter, so this module has none of its own)."""

    needs_features = True

    def __init__(self, head: MarginHead):
        super().__init__()
        self._head = [head]  # a list: not registered, so fit does not optimise it twice

    def forward(self, features, logits, labels):
        return self._head[0](features, labels)
