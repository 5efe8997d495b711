r"""The C+1 loss: separability + compactness + background margin (REFERENCES.md [1]).

Paper: "C + 1 Loss: learn to classify C classes of interest and the background class
differentially", anonymous authors, ICLR 2021 submission (OpenReview). A *C+1 problem* has C
semantically deterministic classes of interest (CoIs) and one background class that is everything
else. The paper asks three properties of a C+1 classifier and one loss term for each:

.. math::

    L_{C+1} = L_{separability} + \alpha\, L_{compact} + \beta\, L_{background}        \tag{1}

    L_{background} = \frac{1}{N} \sum_i \mathbb{1}(y_i = C+1)\, \frac{1}{C} \sum_{k=1}^{C}
                     \left[ m_b - d(f(x_i), c_k) \right]_+                              \tag{2}

with :math:`L_{separability}` the cross-entropy over all C+1 classes, :math:`L_{compact}` the
centre loss (Wen et al. 2016) over the CoIs only, :math:`c_k` the centre of CoI ``k`` (there is
no background centre, see ``centers.py``) and :math:`m_b` the background margin.

Readings taken where the paper is unclear (GUIDE.md section 4):

- features ``f`` are L2-normalised when ``normalize=True`` (the paper's best setting), and so are
  the centres; then :math:`m_b \in [0, 2]`;
- :math:`L_{compact} = \operatorname{mean}_{i: y_i \in CoI} \|f_i - c_{y_i}\|^2` (no 1/2);
- :math:`d` in eq. (2) is the Euclidean (not squared) distance, and :math:`N` counts the
  background samples, so eq. (2) is a mean over background samples of the mean over centres;
- every term is a mean over the samples it concerns (ignored samples left out); a batch without
  such samples contributes 0, so degenerate batches give a finite loss;
- the background is class ``background_index`` (VOC numbers it 0; the paper writes C+1).

Shapes: classification ``features [N, D]``, ``logits [N, C+1]``, ``target [N]``; segmentation
``features [B, D, h, w]``, ``logits [B, C+1, H, W]``, ``target [B, H, W]``. The feature map may be
coarser than the labels (DeepLab's head features are 1/8 of the image); the target is then
resized to ``h x w`` by nearest neighbour for the two centre terms.

Never materialising the normalised features: for unit centres,
:math:`\|f/|f| - c\|^2 = 2 - 2\langle f, c\rangle / |f|`, so the loss needs only the norms
``[B, P]`` and one product with the centres ``[B, C, P]``; this keeps the loss near the cost of
a single ``F.normalize`` over the features (``benchmarks/loss_overhead.py``). Its backward is
differentiable, so second derivatives (``create_graph=True``, gradient penalties) are exact.
Half-precision features and logits are computed in float32; targets of any integer dtype are read
as int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.checks import (
    check_class_index,
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
from cplus_edu.losses.centers import make_centers

_EPS = 1e-12  # as F.normalize: |f| is clamped at eps before dividing


class UnitCosine(torch.autograd.Function):
    r"""``cos[b, k, p] = <f[b, :, p], c_k> / max(|f[b, :, p]|, eps)`` and ``1 / max(|f|, eps)``.

    ``f [B, D, P]``, ``centers [C, D]`` -> ``([B, C, P], [B, P])``. The same numbers as
    ``centers @ F.normalize(f, dim=1)``, but the normalised ``[B, D, P]`` features are never stored:
    forward reads ``f`` twice (norms, one batched product), and backward writes the gradient with
    one product and one in-place ``addcmul_``, using
    :math:`\partial \cos_k / \partial f = c_k / |f| - \cos_k\, f / |f|^2` and
    :math:`\partial |f|^{-1} / \partial f = -f / |f|^3` (both 0 where ``|f|`` was clamped).
    The backward is written in differentiable operations on the saved inputs and outputs, so
    autograd differentiates it again for second derivatives (``create_graph=True``).
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, centers: torch.Tensor):
        norms = f.square().sum(1).sqrt()  # `[B, P]` (faster here than a strided vector_norm)
        inv_norm = norms.clamp_min(_EPS).reciprocal()
        # a batched product keeps `f` in place (matmul would fold it into a copied [B*P, D])
        cosines = torch.bmm(centers.expand(f.shape[0], -1, -1), f).mul_(inv_norm[:, None])
        ctx.save_for_backward(f, centers, inv_norm, cosines)
        ctx.set_materialize_grads(False)  # no zero [B, P] gradient for an unused 1 / |f|
        return cosines, inv_norm

    @staticmethod
    def backward(ctx, grad_cos: torch.Tensor | None, grad_inv: torch.Tensor | None):
        f, centers, inv_norm, cosines = ctx.saved_tensors
        if grad_cos is None:
            grad_cos = torch.zeros_like(cosines)
        grad_dots = grad_cos * inv_norm[:, None]  # `[B, C, P]`: dL/d<f_i, c_k>
        grad_f = grad_centers = None
        if ctx.needs_input_grad[0]:
            # sum_k G_k cos_k / |f|^2 (+ G_inv / |f|^3), zero where |f| was clamped
            radial = (grad_cos * cosines).sum(1) * inv_norm.square()
            if grad_inv is not None:
                radial = radial + grad_inv * inv_norm.pow(3)
            radial = radial * (inv_norm < 1.0 / _EPS)
            c_t = centers.t().expand(f.shape[0], -1, -1)  # `[B, D, C]`
            grad_f = torch.bmm(c_t, grad_dots).addcmul_(f, radial[:, None], value=-1.0)
        if ctx.needs_input_grad[1]:
            grad_centers = torch.bmm(grad_dots, f.transpose(1, 2)).sum(0)  # `[C, D]`
        return grad_f, grad_centers


@dataclass
class Geometry:
    """Distances from every sample to every centre, and who is who, flattened to ``[B, *, P]``.

    ``P`` is the number of positions per image (``h * w``); classification uses ``B = 1, P = N``.
    """

    sq_distances: torch.Tensor  # `[B, C, P]`: ||f - c_k||^2 (f normalised if normalize)
    coi_index: torch.Tensor  # `[B, P]` long: index of the sample's centre (0 where not a CoI)
    is_coi: torch.Tensor  # `[B, P]` float: 1 for a class-of-interest sample
    is_background: torch.Tensor  # `[B, P]` float: 1 for a background sample
    scale: torch.Tensor  # `[B, P]`: 1 / max(|f|, eps) if normalize else 1
    features: torch.Tensor  # `[B, D, P]` (a view of the input)


def compact_term(g: Geometry) -> torch.Tensor:
    """:math:`L_{compact}`: mean over CoI samples of :math:`\\|f_i - c_{y_i}\\|^2`."""
    own = g.sq_distances.gather(1, g.coi_index[:, None]).squeeze(1)  # `[B, P]`: ||f_i - c_{y_i}||^2
    return (own * g.is_coi).sum() / g.is_coi.sum().clamp_min(1.0)


def background_term(g: Geometry, margin: float) -> torch.Tensor:
    """:math:`L_{background}`, eq. (2): mean over background samples of the mean hinge."""
    distances = g.sq_distances.clamp_min(_EPS).sqrt()  # `[B, C, P]`: Euclidean d(f_i, c_k)
    hinge = F.relu(margin - distances).mean(1)  # eq. (2): (1/C) sum_k [m_b - d(f_i, c_k)]_+
    return (hinge * g.is_background).sum() / g.is_background.sum().clamp_min(1.0)  # eq. (2): 1/N


class CenterGeometry(nn.Module):
    """What the centre terms share: the centres of the C classes of interest and the distances.

    ``num_classes`` counts all C+1 classes; ``centers`` is one of ``"learnable"``,
    ``"moving_average"``, ``"shared"`` (then pass ``classifier=``, e.g. ``model.head``).
    """

    def __init__(
        self,
        num_classes: int,
        feat_dim: int,
        background_index: int = 0,
        centers: str = "moving_average",
        momentum: float = 0.9,
        normalize: bool = True,
        ignore_index: int = -100,
        classifier: nn.Module | None = None,
    ):
        super().__init__()
        check_positive_int("num_classes (C+1)", num_classes, minimum=2)
        check_positive_int("feat_dim", feat_dim)
        check_class_index("background_index", background_index, num_classes)
        check_ignore_index(ignore_index, num_classes)
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.background_index = background_index
        self.ignore_index = ignore_index
        self.normalize = normalize
        self.center_representation = make_centers(
            centers, num_classes - 1, feat_dim, normalize=normalize, momentum=momentum,
            classifier=classifier, background_index=background_index,
        )  # fmt: skip

    @property
    def centers(self) -> torch.Tensor:
        """``[C, D]``: centres of the classes of interest in ascending class order, no bg row."""
        return self.center_representation.centers

    def check_features(self, features, target) -> tuple[torch.Tensor, torch.Tensor]:
        """The checked inputs: half-precision features as float32, the target as int64."""
        check_float("features", features, (2, 4))
        target = check_integer("target", target, (1, 3))
        check_nonempty("target", target)
        if features.shape[1] != self.feat_dim:
            raise ValueError(
                f"features must have feat_dim={self.feat_dim} channels (dim 1), "
                f"got {describe(features)}"
            )
        if target.ndim != features.ndim - 1 or target.shape[0] != features.shape[0]:
            raise ValueError(
                f"target must be [N] for features [N, D] or [B, H, W] for features [B, D, h, w]; "
                f"got target {describe(target)} and features {describe(features)}"
            )
        check_class_target(target, self.num_classes, self.ignore_index)
        return upcast_half(features), target

    def geometry(self, features: torch.Tensor, target: torch.Tensor) -> Geometry:
        """Squared distances ``[B, C, P]`` from each (normalised) feature to each centre, without
        forming the normalised features: ||f/|f| - c||^2 = 1 + |c|^2 - 2 <f, c> / |f|."""
        if features.ndim == 2:  # `[N, D]` -> `[1, D, N]` (a view), target `[N]` -> `[1, N]`
            f, y = features.t()[None], target[None]
        else:  # `[B, D, h, w]` -> `[B, D, h*w]`; target resized to the feature map if coarser
            if target.shape[1:] != features.shape[2:]:
                target = F.interpolate(target[:, None].float(), size=features.shape[2:],
                                       mode="nearest")[:, 0].long()  # fmt: skip
            f, y = features.flatten(2), target.flatten(1)
        centers = self.centers.to(f.dtype)  # `[C, D]`
        if self.normalize:  # |f_i / |f_i||^2 = 1 (0 for a zero feature, which F.normalize keeps 0)
            cosines, scale = UnitCosine.apply(f, centers)  # `[B, C, P]`, `[B, P]`: 1 / |f_i|
            self_sq = (scale < 1.0 / _EPS).to(f.dtype)
            products = cosines  # <f_i / |f_i|, c_k>
        else:
            scale = torch.ones_like(f[:, 0])
            self_sq = f.square().sum(1)  # `[B, P]`: |f_i|^2
            products = torch.matmul(centers, f)  # `[B, C, P]`: <f_i, c_k>
        # ||f_i - c_k||^2 = |f_i|^2 + |c_k|^2 - 2 <f_i, c_k>
        sq_distances = self_sq[:, None] + centers.square().sum(1)[:, None] - 2 * products
        b = self.background_index
        valid = y != self.ignore_index
        return Geometry(
            sq_distances=sq_distances.clamp_min(0.0),
            coi_index=(y - (y > b).long()).clamp(0, self.num_classes - 2),  # class -> centre row
            is_coi=(valid & (y != b)).to(f.dtype),
            is_background=(y == b).to(f.dtype),
            scale=scale,
            features=f,
        )

    def update_centers(self, g: Geometry) -> None:
        """After a training-mode call: give the moving average this batch's per-class sums."""
        rep = self.center_representation
        if not (self.training and rep.updates_from_features):
            return
        with torch.no_grad():
            weights = torch.zeros_like(g.sq_distances)  # `[B, C, P]`: scale of f_i in its class row
            weights.scatter_(1, g.coi_index[:, None], (g.is_coi * g.scale)[:, None])
            sums = torch.bmm(weights, g.features.detach().transpose(1, 2)).sum(0)  # `[C, D]`
            counts = torch.zeros_like(g.sq_distances[0, :, 0])
            counts.index_add_(0, g.coi_index.flatten(), g.is_coi.flatten())  # `[C]`
            rep.update(sums, counts)


class CenterLoss(CenterGeometry):
    """:math:`L_{compact}` on its own: ``loss(features, target)`` with features ``[N, D]`` or
    ``[B, D, h, w]``; mean squared distance of class-of-interest samples to their centre."""

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features, target = self.check_features(features, target)
        g = self.geometry(features, target)
        loss = compact_term(g)
        check_finite(loss, features=features)
        self.update_centers(g)
        return loss


class BackgroundMarginLoss(CenterGeometry):
    """:math:`L_{background}`, eq. (2), on its own: ``loss(features, target)``; background samples
    closer than ``margin`` to a centre are pushed out."""

    def __init__(self, num_classes: int, feat_dim: int, margin: float = 1.0, **kwargs):
        super().__init__(num_classes, feat_dim, **kwargs)
        self.margin = check_range("margin", margin, 0.0)

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features, target = self.check_features(features, target)
        g = self.geometry(features, target)
        loss = background_term(g, self.margin)
        check_finite(loss, features=features)
        self.update_centers(g)
        return loss


class CPlusOneLoss(CenterGeometry):
    """The C+1 loss, eq. (1): ``loss(features, logits, target)`` returns the scalar
    :math:`L_{sep} + \\alpha L_{compact} + \\beta L_{background}`.

    After each call ``terms`` holds the three unweighted parts (``"separability"``,
    ``"compact"``, ``"background"``) as detached scalars. The call uses the centres as they were
    before it; moving-average centres update afterwards, only in training mode, only for the classes
    present in the batch.
    """

    needs_features = True

    def __init__(
        self,
        num_classes: int,
        feat_dim: int,
        background_index: int = 0,
        alpha: float = 0.1,
        beta: float = 1e-4,
        margin: float = 1.0,
        centers: str = "moving_average",
        momentum: float = 0.9,
        normalize: bool = True,
        ignore_index: int = -100,
        classifier: nn.Module | None = None,
    ):
        super().__init__(num_classes, feat_dim, background_index, centers, momentum, normalize,
                         ignore_index, classifier)  # fmt: skip
        self.alpha = check_range("alpha", alpha, 0.0)
        self.beta = check_range("beta", beta, 0.0)
        self.margin = check_range("margin", margin, 0.0)
        self.terms: dict[str, torch.Tensor] = {}

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, feat_dim={self.feat_dim}, alpha={self.alpha}, "
                f"beta={self.beta}, margin={self.margin}, normalize={self.normalize}")  # fmt: skip

    def forward(
        self, features: torch.Tensor, logits: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        features, target = self.check_features(features, target)
        check_float("logits", logits, features.ndim)
        logits = upcast_half(logits)
        expected = (target.shape[0], self.num_classes, *target.shape[1:])
        if tuple(logits.shape) != expected:
            raise ValueError(f"logits must be {list(expected)} for target {describe(target)}, "
                             f"got {describe(logits)}")  # fmt: skip
        # separability: cross-entropy over all C+1 classes, mean over non-ignored samples
        n_valid = (target != self.ignore_index).sum().clamp_min(1)
        separability = F.cross_entropy(logits, target, ignore_index=self.ignore_index,
                                       reduction="sum") / n_valid  # fmt: skip
        g = self.geometry(features, target)
        compact = compact_term(g)
        background = background_term(g, self.margin)
        loss = separability + self.alpha * compact + self.beta * background  # eq. (1)
        check_finite(loss, features=features, logits=logits)
        self.terms = {"separability": separability.detach(), "compact": compact.detach(),
                      "background": background.detach()}  # fmt: skip
        self.update_centers(g)
        return loss
