r"""CC-loss: the channel-correlation loss on per-sample channel attention (Song et al. [5]).

Paper: Zeyu Song, Dongliang Chang, Zhanyu Ma, Xiaoxu Li, Zheng-Hua Tan, "CC-Loss: Channel
Correlation Loss for Image Classification", ICPR 2020 (arXiv 2010.05469). Only the slides are
available to us; the equations below are **our reading** of the abstract: "a channel attention
module produces channel attention of the features for each sample; a Euclidean distance matrix
between those attention vectors is used to make the vectors of the same class identical and to
increase the difference between classes". The slides' table trains "VGG16 + CAM" and
"ResNet18 + CAM".

For a batch of attention vectors ``a [N, C]`` (C channels of the last conv features) and labels
``y [N]``, the per-channel mean squared Euclidean distance matrix

.. math:: d_{ij} = \frac{1}{C} \| a_i - a_j \|^2                                      \tag{1}

splits into intra-class pairs :math:`P = \{(i, j): i \ne j, y_i = y_j\}` and inter-class pairs
:math:`Q = \{(i, j): y_i \ne y_j\}` (ordered pairs, as the distance matrix is read):

.. math::

    L_{intra} = \frac{1}{|P|} \sum_{(i,j) \in P} d_{ij},\qquad
    L_{inter} = \frac{1}{|Q|} \sum_{(i,j) \in Q} d_{ij}                                   \tag{2}

    L_{CC} = L_{intra} - L_{inter}\quad\text{("difference")}\qquad\text{or}\qquad
    L_{CC} = L_{intra} + \frac{1}{|Q|} \sum_{(i,j) \in Q} [\mu - d_{ij}]_+\quad\text{("hinge")}
                                                                                        \tag{3}

    L = L_{CE} + \lambda\, L_{CC}                                                         \tag{4}

Readings taken and why:

- the distance is divided by C so that margins do not depend on the width of the network (for SE
  attention in (0, 1), :math:`d_{ij} \in [0, 1]`);
- "difference" is the literal reading of the abstract (bounded for SE attention, whose entries lie
  in (0, 1)); "hinge" (default, margin :math:`\mu`) stops pushing classes apart once they differ
  by :math:`\mu`, the usual contrastive form, and trains more stably;
- the attention is either an **SE block** on the last conv features (``cplus_edu.models.SEBlock``;
  the model returns it as its features, ``ChannelAttentionCNN(features="attention")``), or the
  **CAM channel weights** of the slides' "+ CAM": the contribution of each channel to the
  label's class score, :math:`a_i = \sqrt{C}\, (w_{y_i} \odot f_i) / \| w_{y_i} \odot f_i \|`
  with :math:`f_i = GAP(A_i)` and :math:`w_{y}` the classifier row (``attention="cam"`` with
  ``classifier=model.head``; then the model returns ``f_i``-based embeddings as features);
- degenerate batches: a batch with one class has no inter-class pair, so :math:`L_{inter} = 0`
  (and the hinge term 0); a batch of distinct labels has no intra-class pair, :math:`L_{intra} = 0`.
  The loss stays finite and its gradient is that of the remaining terms.

The SE block is a model part (trained by CE as well, it exists in the CE baseline too), so it
lives in ``cplus_edu.models``; the CAM weights are computed from the classifier inside the loss.

Shapes: ``features [N, C]`` (attention vectors, or GAP features for CAM), ``logits [N, K]``,
``labels [N]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.checks import (
    check_finite,
    check_float,
    check_integer,
    check_logits_target,
    check_range,
    upcast_half,
)


def attention_distances(attention: torch.Tensor) -> torch.Tensor:
    """Eq. (1): ``d [N, N]``, ``d_ij = ||a_i - a_j||^2 / C`` for ``attention [N, C]``."""
    check_float("attention", attention, 2)
    sq = attention.square().sum(1)  # `[N]`
    gram = attention @ attention.t()  # `[N, N]`
    return (sq[:, None] + sq[None, :] - 2 * gram).clamp_min(0.0) / attention.shape[1]


def cam_channel_attention(
    features: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """CAM channel weights ``[N, C]``: ``sqrt(C) * normalize(w_{y_i} * f_i)`` for GAP features
    ``f [N, C]`` and classifier ``weight [K, C]``; the share of each channel in the label's score.
    """
    contribution = features * weight[labels]  # `[N, C]`: w_{y_i, c} f_{i, c}
    return F.normalize(contribution, dim=1) * math.sqrt(features.shape[1])


def intra_inter(distances: torch.Tensor, labels: torch.Tensor, margin: float | None = None):
    """Eq. (2) (and the hinge of eq. (3) when ``margin`` is given): ``(intra, inter)`` means over
    ordered intra-class and inter-class pairs of ``distances [N, N]``; 0 where a set is empty."""
    same = labels[:, None] == labels[None, :]  # `[N, N]`
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    intra_mask = (same & off_diagonal).to(distances.dtype)
    inter_mask = (~same).to(distances.dtype)
    inter_values = distances if margin is None else F.relu(margin - distances)  # eq. (3) hinge
    intra = (distances * intra_mask).sum() / intra_mask.sum().clamp_min(1.0)  # eq. (2)
    inter = (inter_values * inter_mask).sum() / inter_mask.sum().clamp_min(1.0)  # eq. (2)
    return intra, inter


class CCLoss(nn.Module):
    """Eq. (4): ``loss(features, logits, labels) = CE + weight * L_CC`` (``needs_features``).

    ``mode`` is ``"hinge"`` (default, margin ``margin`` on the per-channel distance) or
    ``"difference"``; ``attention`` is ``"se"`` (features are the attention vectors) or ``"cam"``
    (features are GAP features, ``classifier`` the linear head whose rows give the CAM weights).
    After a call ``terms`` holds ``ce``, ``intra``, ``inter`` (the mean inter-class distance) and
    ``cc`` as detached scalars. Samples labelled ``ignore_index`` (-100, as ``F.cross_entropy``)
    leave both terms; labels of any integer dtype are read as int64, half precision as float32.
    """

    needs_features = True

    def __init__(
        self,
        weight: float = 1.0,
        mode: str = "hinge",
        margin: float = 0.5,
        attention: str = "se",
        classifier: nn.Module | None = None,
        ignore_index: int = -100,
    ):
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.weight = check_range("weight", weight, 0.0)
        self.margin = check_range("margin", margin, 0.0)
        if mode not in ("hinge", "difference"):
            raise ValueError(f"mode must be 'hinge' or 'difference', got {mode!r}")
        if attention not in ("se", "cam"):
            raise ValueError(f"attention must be 'se' or 'cam', got {attention!r}")
        if attention == "cam" and getattr(classifier, "weight", None) is None:
            raise ValueError("attention='cam' needs classifier= (a module with weight [K, C])")
        self.mode, self.attention = mode, attention
        self._classifier = [classifier]  # not registered: its weight belongs to the model
        self.terms: dict[str, torch.Tensor] = {}

    def extra_repr(self) -> str:
        return (f"weight={self.weight:g}, mode={self.mode!r}, margin={self.margin:g}, "
                f"attention={self.attention!r}")  # fmt: skip

    def attention_vectors(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``[N, C]``: the features themselves (SE) or their CAM channel weights."""
        if self.attention == "se":
            return features
        return cam_channel_attention(features, self._classifier[0].weight, labels)

    def channel_term(self, features: torch.Tensor, labels: torch.Tensor):
        """``(L_CC, intra, inter)`` of eq. (3) for ``features [N, C]``, ``labels [N]``."""
        distances = attention_distances(self.attention_vectors(features, labels))  # eq. (1)
        intra, inter = intra_inter(distances, labels)
        if self.mode == "difference":
            return intra - inter, intra, inter  # eq. (3), difference
        _, hinge = intra_inter(distances, labels, self.margin)
        return intra + hinge, intra, inter  # eq. (3), hinge

    def forward(self, features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
        logits, labels = check_logits_target(logits, labels, self.ignore_index)
        check_float("features", features, 2)
        check_integer("labels", labels, 1)
        if len(features) != len(labels):
            raise ValueError(f"features must be [{len(labels)}, C] to match labels "
                             f"{list(labels.shape)}, got {list(features.shape)}")  # fmt: skip
        logits, features = upcast_half(logits), upcast_half(features)
        valid = labels != self.ignore_index  # `[N]`: ignored samples leave CE and L_CC alike
        ce = F.cross_entropy(logits, labels, ignore_index=self.ignore_index,
                             reduction="sum") / valid.sum().clamp_min(1)  # fmt: skip
        cc, intra, inter = self.channel_term(features[valid], labels[valid])
        loss = ce + self.weight * cc  # eq. (4)
        check_finite(loss, features=features, logits=logits)
        self.terms = {"ce": ce.detach(), "intra": intra.detach(), "inter": inter.detach(),
                      "cc": cc.detach()}  # fmt: skip
        return loss
