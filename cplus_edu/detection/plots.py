"""Plots for chapter 07: scenes with boxes, anchor labels, NMS clusters, sensitivity maps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from cplus_edu.detection.nms import cl_balanced_nms, nms_clusters

__all__ = [
    "draw_boxes",
    "plot_detections",
    "plot_anchor_labels",
    "plot_nms_clusters",
    "plot_sensitivity",
]


def draw_boxes(ax, boxes, color="tab:red", lw=1.5, ls="-", alpha=1.0, labels=None, names=None):
    """Draw ``xyxy`` boxes on ``ax`` (pixel coordinates of an ``imshow``)."""
    for k, b in enumerate(boxes.tolist()):
        ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False,
                               ec=color, lw=lw, ls=ls, alpha=alpha))  # fmt: skip
        if labels is not None and names is not None:
            ax.text(b[0] - 0.5, b[1] - 1.5, names[int(labels[k])], color=color, fontsize=8)


_DARK = {"facecolor": "black", "alpha": 0.6, "pad": 0.4, "linewidth": 0}  # labels stay readable


def _free_spot(x: float, y: float, taken: list, step: float, width: float = 14.0) -> float:
    """``y`` moved by ``step`` until no label in ``taken`` starts within ``width`` pixels."""
    while any(abs(x - tx) < width and abs(y - ty) < abs(step) * 0.9 for tx, ty in taken):
        y += step
    taken.append((x, y))
    return y


def plot_detections(ax, image, detections, gt_boxes, gt_labels, names, min_score=0.3, title=""):
    """Ground truth (red, dashed, its class under the box) and what the detector says about it:
    for each object the best-scored detection above ``min_score`` that overlaps it (IoU > 0.5;
    orange, ``class score`` above the box), and detections that overlap no object (orange,
    dotted). Further overlapping detections are counted in the x label, not drawn, so no label
    is drawn over another. ``detections``: ``{"boxes", "scores", "labels"}`` of one image.
    Returns the number of detections not drawn."""
    from torchvision.ops import box_iou

    ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
    size = image.shape[-1]
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    keep = detections["scores"] > min_score
    boxes, scores = detections["boxes"][keep], detections["scores"][keep]
    labels = detections["labels"][keep]
    iou = box_iou(gt_boxes, boxes) if len(boxes) and len(gt_boxes) else torch.zeros(0, len(boxes))
    best = {int(torch.where(row > 0.5, scores, -1.0).argmax()) for row in iou if (row > 0.5).any()}
    stray = [k for k in range(len(boxes)) if not (iou[:, k] > 0.5).any()]
    taken: list = []
    draw_boxes(ax, gt_boxes, color="tab:red", lw=1.2, ls="--")
    for b, y in zip(gt_boxes.tolist(), gt_labels.tolist()):
        ty = _free_spot(b[0] - 0.5, b[3] + 0.5, taken, 5.0)
        ax.text(b[0] - 0.5, ty, names[int(y)], color="tab:red", fontsize=8, va="top", bbox=_DARK)
    for k in sorted(best) + stray:
        b = boxes[k].tolist()
        draw_boxes(ax, boxes[k : k + 1], color="tab:orange", lw=1.5, ls="-" if k in best else ":")
        ty = _free_spot(b[0] - 0.5, max(b[1] - 1.0, 3.0), taken, -5.0)
        ax.text(b[0] - 0.5, ty, f"{names[int(labels[k])]} {float(scores[k]):.2f}",
                color="tab:orange", fontsize=8, bbox=_DARK)  # fmt: skip
    hidden = len(boxes) - len(best) - len(stray)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{hidden} lower-scored overlapping detection(s) not drawn" if hidden else "",
                  fontsize=7)  # fmt: skip
    ax.set_title(title, fontsize=9)
    return hidden


def _image(ax, image, title):
    ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    size = image.shape[-1]
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")


def plot_anchor_labels(ax, image, anchors, assignment, gt_boxes, title=""):
    """Anchor centres coloured by their eq. (5) label; positives by IoU as green boxes, positives
    only by the IAC score as orange boxes; ground truth in red."""
    _image(ax, image, title)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2 - 0.5
    lab = assignment.labels
    ax.scatter(*centres[lab == 0].T, s=2, c="tab:blue", alpha=0.3, label="negative (0)")
    ax.scatter(*centres[lab == -1].T, s=6, c="yellow", alpha=0.6, label="ignored (-1)")
    by_iou = (lab == 1) & ~assignment.by_score
    draw_boxes(ax, anchors[by_iou], color="lime", lw=1)
    draw_boxes(ax, anchors[assignment.by_score], color="orange", lw=1.5, ls="--")
    draw_boxes(ax, gt_boxes, color="tab:red", lw=2)
    ax.plot([], [], c="lime", label=f"positive by IoU ({int(by_iou.sum())})")
    ax.plot(
        [],
        [],
        c="orange",
        ls="--",
        label=f"positive by IAC score ({int(assignment.by_score.sum())})",
    )
    ax.plot([], [], c="tab:red", label="ground truth")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)


def plot_nms_clusters(ax, image, raw, gamma, iou_threshold=0.5, min_score=0.2, title=""):
    """Raw detections above ``min_score`` thin, coloured by greedy-NMS cluster; the box each
    cluster keeps under CL-balanced NMS with ``gamma`` thick; the plain-NMS choice dotted white."""
    _image(ax, image, title)
    keep = raw["scores"] > min_score
    boxes, scores, labels = raw["boxes"][keep], raw["scores"][keep], raw["labels"][keep]
    if len(boxes) == 0:
        return
    from torchvision.ops import batched_nms

    leaders = batched_nms(boxes, scores, labels, iou_threshold)
    cluster = nms_clusters(boxes, labels, leaders, iou_threshold, scores=scores)  # ties in order
    kept = cl_balanced_nms(boxes, scores, labels, iou_threshold, gamma)
    colours = plt.cm.tab10(torch.arange(len(leaders)) % 10)
    for i, b in enumerate(boxes.tolist()):
        ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False,
                               ec=colours[int(cluster[i])], lw=0.6, alpha=0.45))  # fmt: skip
    draw_boxes(ax, boxes[leaders], color="white", lw=1.5, ls=":")
    for i in kept.tolist():
        draw_boxes(ax, boxes[i : i + 1], color=colours[int(cluster[i])], lw=2.5)
    ax.plot([], [], c="gray", ls=":", lw=1.5, label="plain NMS keeps (top score)")
    ax.plot([], [], c="k", lw=2.5, label=f"CL-NMS keeps (gamma={gamma:g})")
    ax.plot([], [], c="k", lw=0.6, alpha=0.45, label=f"raw detections > {min_score:g}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)


def plot_sensitivity(axes, image, cls_map, box_map, box=None, mask=None, title=""):
    """Three panels: the image (with the detection's box), the classification map and the
    localisation map (each map normalised to sum 1; brighter = more sensitive), with the
    object's outline in cyan when ``mask`` is given."""
    _image(axes[0], image, title or "image and detection")
    if box is not None:
        draw_boxes(axes[0], box[None], color="tab:red")
    for ax, m, name in ((axes[1], cls_map, "classification |d score / d x|"),
                        (axes[2], box_map, "localisation sum |d box / d x|")):  # fmt: skip
        im = ax.imshow(m, cmap="magma")
        if mask is not None:
            ax.contour(mask.float(), levels=[0.5], colors="cyan", linewidths=0.7)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("x (pixels)")
        plt.colorbar(im, ax=ax, fraction=0.046, label="share of sensitivity")
