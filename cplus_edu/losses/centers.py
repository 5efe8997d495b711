r"""The three centre representations of the C+1 loss (C+1 paper, Sec. 3.2).

The C+1 paper ("C + 1 Loss: learn to classify C classes of interest and the background class
differentially", anonymous ICLR submission) keeps one centre :math:`c_k` per *class of interest*
and none for the background, "because it has no deterministic and unique definition". The centres
feed the centre loss :math:`L_{compact}` and the background margin :math:`L_{background}`. The
paper defines three ways to represent them:

1. a learnable weight vector per class (``LearnableCenters``);
2. a moving average of the features of the class (``MovingAverageCenters``; the paper's best,
   Table 2, with L2-normalised features);
3. the classifier's weight vector of the class, sharing parameters with the logit layer and
   ignoring the background row (``SharedCenters``).

Every representation exposes ``centers``: the ``[C, D]`` tensor of the classes of interest in
ascending class-index order. Readings taken where the paper is silent (see GUIDE.md section 4):

- with ``normalize=True`` the centres are put on the unit sphere, like the features they are
  compared with;
- moving average: after each training step, for every class ``k`` present in the batch,
  :math:`c_k \leftarrow \mathrm{normalize}(m\,c_k + (1 - m)\,\bar f_k)` with :math:`\bar f_k` the
  batch mean of the (normalised) class-``k`` features, momentum ``m = 0.9``; the centres start as
  random unit vectors. ``centers`` returns a copy, so the in-place update after a forward pass never
  invalidates a graph that used the old centres. Under data parallelism (``cplus_edu.voc``) pass
  ``all_reduce=torch.distributed.all_reduce``: the batch's per-class sums and counts are then
  summed over the processes before the update, so every process moves its centres by the global
  batch's class means and all hold the same centres.
- learnable and shared centres take their gradient from every term that uses them (autograd on
  eq. (1)); the moving average has none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CENTER_KINDS = ("learnable", "moving_average", "shared")


class Centers(nn.Module):
    """Base class: ``centers`` is ``[C, D]``; ``update`` runs after a training-mode loss call."""

    #: whether ``update`` needs the per-class feature sums (only the moving average does)
    updates_from_features = False

    def __init__(self, normalize: bool = True):
        super().__init__()
        self.normalize = normalize

    @property
    def centers(self) -> torch.Tensor:
        raise NotImplementedError

    def update(self, class_sums: torch.Tensor, class_counts: torch.Tensor) -> None:
        """Per-class sums ``[C, D]`` and counts ``[C]`` of this batch's features; default: no-op."""


def _random_directions(num_centers: int, feat_dim: int) -> torch.Tensor:
    # `[C, D]` unit vectors from torch's global generator (seeded by `seed_everything`)
    return F.normalize(torch.randn(num_centers, feat_dim), dim=1)


class LearnableCenters(Centers):
    """Representation 1: an ``nn.Parameter`` ``weight [C, D]``, normalised on use if asked."""

    def __init__(self, num_centers: int, feat_dim: int, normalize: bool = True):
        super().__init__(normalize)
        self.weight = nn.Parameter(_random_directions(num_centers, feat_dim))

    @property
    def centers(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=1) if self.normalize else self.weight


class MovingAverageCenters(Centers):
    """Representation 2: a buffer ``running_centers [C, D]`` updated with momentum, no gradient."""

    updates_from_features = True

    def __init__(
        self,
        num_centers: int,
        feat_dim: int,
        momentum: float = 0.9,
        normalize: bool = True,
        all_reduce=None,
    ):
        super().__init__(normalize)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = momentum
        #: ``None`` (one process) or a function summing a tensor in place over the processes
        #: (``torch.distributed.all_reduce``); it is given the ``[C, D + 1]`` sums and counts
        self.all_reduce = all_reduce
        self.register_buffer("running_centers", _random_directions(num_centers, feat_dim))

    @property
    def centers(self) -> torch.Tensor:
        # a snapshot: `update` changes the buffer in place after the loss was computed from it
        return self.running_centers.clone()

    @torch.no_grad()
    def update(self, class_sums: torch.Tensor, class_counts: torch.Tensor) -> None:
        if self.all_reduce is not None:  # one collective for both: `[C, D + 1]`
            stats = torch.cat([class_sums, class_counts[:, None].to(class_sums.dtype)], 1)
            self.all_reduce(stats)
            class_sums, class_counts = stats[:, :-1], stats[:, -1]
        present = class_counts > 0  # `[C]`: only classes seen in this batch move
        batch_means = class_sums[present] / class_counts[present, None]
        old = self.running_centers[present]
        new = self.momentum * old + (1.0 - self.momentum) * batch_means.to(old.dtype)
        self.running_centers[present] = F.normalize(new, dim=1) if self.normalize else new


class SharedCenters(Centers):
    """Representation 3: the classifier's weight rows of the classes of interest.

    ``classifier.weight`` is ``[C+1, D]`` (``nn.Linear``, a cosine classifier) or
    ``[C+1, D, 1, 1]`` (a 1x1 conv head); the background row is dropped. The classifier is held by
    reference, not registered as a submodule, so its parameters belong to the model alone (an
    optimiser over ``model.parameters()`` and ``loss.parameters()`` sees them once).
    """

    def __init__(self, classifier: nn.Module, background_index: int = 0, normalize: bool = True):
        super().__init__(normalize)
        weight = getattr(classifier, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
            raise TypeError(
                "classifier must have a `weight` tensor of shape [C+1, D] (or [C+1, D, 1, 1]), "
                f"got {type(classifier).__name__} with weight {type(weight).__name__}"
            )
        if weight.ndim > 2 and any(s != 1 for s in weight.shape[2:]):
            raise ValueError(
                f"classifier.weight must be [C+1, D] or [C+1, D, 1, 1], got {tuple(weight.shape)}"
            )
        if not 0 <= background_index < weight.shape[0]:
            raise ValueError(
                f"background_index must be in [0, {weight.shape[0] - 1}], got {background_index}"
            )
        self._classifier = (classifier,)  # a tuple hides it from nn.Module's registration
        self.background_index = background_index

    @property
    def classifier(self) -> nn.Module:
        return self._classifier[0]

    @property
    def centers(self) -> torch.Tensor:
        weight = self.classifier.weight.flatten(1)  # `[C+1, D]`
        b = self.background_index
        rows = torch.cat([weight[:b], weight[b + 1 :]])  # `[C, D]`, background row ignored
        return F.normalize(rows, dim=1) if self.normalize else rows


def make_centers(
    kind: str,
    num_centers: int,
    feat_dim: int,
    *,
    normalize: bool = True,
    momentum: float = 0.9,
    classifier: nn.Module | None = None,
    background_index: int = 0,
) -> Centers:
    """Build the representation named ``kind`` (one of ``CENTER_KINDS``)."""
    if kind == "learnable":
        return LearnableCenters(num_centers, feat_dim, normalize)
    if kind == "moving_average":
        return MovingAverageCenters(num_centers, feat_dim, momentum, normalize)
    if kind == "shared":
        if classifier is None:
            raise ValueError("centers='shared' needs classifier= (e.g. classifier=model.head)")
        shared = SharedCenters(classifier, background_index, normalize)
        if shared.centers.shape != (num_centers, feat_dim):
            raise ValueError(
                f"classifier.weight gives centres of shape {tuple(shared.centers.shape)}, "
                f"expected ({num_centers}, {feat_dim}) (num_classes - 1, feat_dim)"
            )
        return shared
    raise ValueError(f"centers must be one of {CENTER_KINDS}, got {kind!r}")
