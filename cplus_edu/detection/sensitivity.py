"""Where do the classifier and the box regressor look? Input-gradient sensitivity maps.

The poster's Figure 1 shows "task spatial misalignment": for the same detection, the pixels the
classification score is sensitive to are not the pixels the box is sensitive to (the box cares
about the object's edges and extremities, the score about its most telling parts). We measure it
on the tiny detector with plain input gradients (Simonyan et al. 2014):

- classification map: ``|d p / d x|`` for the detection's score ``p`` (its anchor and class);
- localisation map: ``sum_j |d b_j / d x|`` over the four decoded box coordinates ``b_j``;

each normalised to sum 1 over the image, and summarised by the share of the map that falls on
the object's interior, its boundary band, and the background.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplus_edu.detection.boxes import BoxCoder

__all__ = ["sensitivity_maps", "mask_regions", "sensitivity_shares"]


def sensitivity_maps(
    model: nn.Module, image: Tensor, anchor: int, label: int
) -> tuple[Tensor, Tensor]:
    """``(cls_map [S, S], box_map [S, S])`` for the detection of class ``label`` at ``anchor``
    on ``image [C, S, S]``; both non-negative and summing to 1."""
    model.eval()
    x = image[None].clone().requires_grad_(True)
    _, (cls_logits, box_deltas) = model(x)
    score = torch.sigmoid(cls_logits[0, anchor, label])
    (g_cls,) = torch.autograd.grad(score, x, retain_graph=True)
    box = BoxCoder().decode(box_deltas[0, anchor], model.anchors[anchor])  # [4]
    g_box = torch.zeros_like(x)
    for j in range(4):
        (g,) = torch.autograd.grad(box[j], x, retain_graph=j < 3)
        g_box += g.abs()
    cls_map, box_map = g_cls.abs().sum(dim=(0, 1)), g_box.sum(dim=(0, 1))
    return cls_map / cls_map.sum().clamp(min=1e-12), box_map / box_map.sum().clamp(min=1e-12)


def mask_regions(mask: Tensor, width: int = 2) -> dict[str, Tensor]:
    """Split the image by an object ``mask [S, S]`` into ``interior`` (eroded by ``width``
    pixels), ``boundary`` (dilated minus eroded) and ``outside`` (the rest), bool ``[S, S]``."""
    m = mask[None, None].float()
    k = 2 * width + 1
    dilated = F.max_pool2d(m, k, 1, width)[0, 0].bool()
    eroded = (-F.max_pool2d(-m, k, 1, width))[0, 0].bool()
    return {"interior": eroded, "boundary": dilated & ~eroded, "outside": ~dilated}


def sensitivity_shares(sens_map: Tensor, mask: Tensor, width: int = 2) -> dict[str, float]:
    """Share of a normalised map on the ``interior`` / ``boundary`` / ``outside`` regions."""
    return {
        name: float(sens_map[region].sum()) for name, region in mask_regions(mask, width).items()
    }
