"""The training loss of a VOC run: the main loss on the logits (CE, C+1 or the fused loss) +
``aux_weight`` x CE on the auxiliary head's logits, both upsampled to the label size.

How the cross-entropy terms average over a batch ``[B, H, W]`` of labels (``cfg.ce_average``;
the reasons are in ``config.VOCConfig``)::

    "all"   (mmseg, avg_non_ignore=False):  sum_{i: y_i != 255} CE_i / (B * H * W)
    "valid" (avg_non_ignore=True):          sum_{i: y_i != 255} CE_i / #{i: y_i != 255}

The C+1 loss is the paper's eq. (1), :math:`L_{sep} + \\alpha L_{compact} + \\beta L_{background}`,
with ``L_sep`` that cross-entropy (so ``"all"`` is the C+1 loss as an mmseg loss module computes
it) and the centre terms of ``cplus_edu.losses.cplus_one`` (means over the pixels they concern);
with ``"valid"`` it is exactly ``CPlusOneLoss`` (tested). The fused loss (Liu & Lew) keeps its own
per-valid-pixel mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.voc.config import VOCConfig

LOSSES = ("ce", "cplus1", "fused")
CENTERS = ("moving_average", "learnable", "shared")


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
                  average: str) -> torch.Tensor:  # fmt: skip
    """CE of ``logits [B, K, H, W]`` against ``target [B, H, W]``, void pixels contributing 0,
    divided by all pixels (``average="all"``) or by the non-void ones (``"valid"``; 0, not NaN,
    when every pixel is void)."""
    total = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="sum")
    if average == "all":
        return total / target.numel()
    if average == "valid":
        return total / (target != ignore_index).sum().clamp_min(1)
    raise ValueError(f"average must be 'all' or 'valid', got {average!r}")


def _fused_loss_class():
    try:
        from cplus_edu.losses import FusedLoss
    except (ImportError, AttributeError) as e:
        raise RuntimeError(
            "--loss fused needs cplus_edu.losses.FusedLoss (the fused softmax + positive-sharing "
            "loss of Liu & Lew, chapter 06), which this copy of cplus_edu does not have yet; use "
            "--loss ce or --loss cplus1"
        ) from e
    return FusedLoss


class SegmentationCriterion(nn.Module):
    """Main loss on the logits upsampled to the label size + ``aux_weight`` x CE on the aux head.

    ``loss``: ``"ce"`` (the paper's L_separability baseline), ``"cplus1"`` (eq. (1) on the
    decoder features, centres ``centers``) or ``"fused"`` (``FusedLoss``, Liu & Lew). After a
    call ``terms`` holds every part as a detached float32 scalar.
    """

    def __init__(self, cfg: VOCConfig, loss: str = "ce", centers: str = "moving_average",
                 classifier: nn.Module | None = None):  # fmt: skip
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if centers not in CENTERS:
            raise ValueError(f"centers must be one of {CENTERS}, got {centers!r}")
        self.kind, self.cfg = loss, cfg
        self.ignore_index, self.aux_weight = cfg.ignore_index, cfg.aux_weight
        if loss == "cplus1":
            from cplus_edu.checks import check_range
            from cplus_edu.losses.cplus_one import CenterGeometry

            for name in ("alpha", "beta", "margin"):
                check_range(name, getattr(cfg, name), 0.0)
            self.cplus = CenterGeometry(
                cfg.num_classes, cfg.decoder_channels, background_index=0, centers=centers,
                momentum=cfg.center_momentum, ignore_index=cfg.ignore_index,
                classifier=classifier,
            )  # fmt: skip
        elif loss == "fused":
            self.fused = _fused_loss_class()(cfg.fused_ws, cfg.fused_wp, background_index=0,
                                             ignore_index=cfg.ignore_index)  # fmt: skip
        self.terms: dict[str, torch.Tensor] = {}

    @property
    def centers(self) -> torch.Tensor | None:
        return self.cplus.centers if self.kind == "cplus1" else None

    def set_all_reduce(self, all_reduce) -> None:
        """Sum the moving average's per-class statistics over the processes (DDP)."""
        rep = getattr(getattr(self, "cplus", None), "center_representation", None)
        if rep is not None and hasattr(rep, "all_reduce"):
            rep.all_reduce = all_reduce

    def cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, target, self.ignore_index, self.cfg.ce_average)

    def cplus_one(self, features, logits, target) -> tuple[torch.Tensor, dict]:
        """The C+1 paper's eq. (1) with ``L_sep`` averaged as ``cfg.ce_average`` says."""
        from cplus_edu.losses.cplus_one import background_term, compact_term

        cfg = self.cfg
        self.cplus.check_features(features, target)
        separability = self.cross_entropy(logits, target)
        g = self.cplus.geometry(features, target)  # distances to the centres before this step
        compact, background = compact_term(g), background_term(g, cfg.margin)
        loss = separability + cfg.alpha * compact + cfg.beta * background  # eq. (1)
        self.cplus.update_centers(g)  # moving-average centres, in training mode
        return loss, {"separability": separability.detach(), "compact": compact.detach(),
                      "background": background.detach()}  # fmt: skip

    def forward(self, out, target: torch.Tensor) -> torch.Tensor:
        size = target.shape[1:]
        with torch.autocast(target.device.type, enabled=False):  # the loss in float32
            logits = F.interpolate(out.logits.float(), size=size, mode="bilinear",
                                   align_corners=False)  # fmt: skip
            if self.kind == "ce":
                main = self.cross_entropy(logits, target)
                terms = {"ce": main.detach()}
            elif self.kind == "cplus1":
                main, terms = self.cplus_one(out.features.float(), logits, target)
            else:
                main = self.fused(logits, target)
                terms = dict(getattr(self.fused, "terms", {}) or {"fused": main.detach()})
            terms["main"] = main.detach()
            loss = main
            if out.aux_logits is not None and self.aux_weight > 0:
                aux_logits = F.interpolate(out.aux_logits.float(), size=size, mode="bilinear",
                                           align_corners=False)  # fmt: skip
                aux = self.cross_entropy(aux_logits, target)
                terms["aux_ce"] = aux.detach()
                loss = loss + self.aux_weight * aux
        terms["total"] = loss.detach()
        self.terms = terms
        return loss
