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


def _free_spot(x: float, y: float, taken: list, step: float, size: float) -> float:
    """``y`` moved by ``step`` until no label in ``taken`` starts within ``size`` pixels."""
    while any(abs(x - tx) < size and abs(y - ty) < abs(step) * 0.9 for tx, ty in taken):
        y += step
    taken.append((x, y))
    return y


def plot_detections(ax, image, detections, gt_boxes, gt_labels, names, min_score=0.3, title=""):
    """Ground truth (red, dashed, its class under the box) and the detections with score above
    ``min_score`` (orange, ``class score`` above the box), labels moved apart so none is drawn
    over another. ``detections``: ``{"boxes", "scores", "labels"}`` of one image."""
    ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    size = image.shape[-1]
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    taken: list = []
    draw_boxes(ax, gt_boxes, color="tab:red", lw=1.2, ls="--")
    for b, y in zip(gt_boxes.tolist(), gt_labels.tolist()):
        ty = _free_spot(b[0] - 0.5, b[3] + 0.5, taken, 5.0, 12.0)
        ax.text(b[0] - 0.5, ty, names[int(y)], color="tab:red", fontsize=8, va="top")
    keep = detections["scores"] > min_score
    boxes, scores = detections["boxes"][keep], detections["scores"][keep]
    draw_boxes(ax, boxes, color="tab:orange", lw=1.5)
    for b, y, sc in zip(boxes.tolist(), detections["labels"][keep].tolist(), scores.tolist()):
        ty = _free_spot(b[0] - 0.5, b[1] - 1.0, taken, -5.0, 12.0)
        ax.text(b[0] - 0.5, ty, f"{names[int(y)]} {sc:.2f}", color="tab:orange", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


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
    cluster = nms_clusters(boxes, labels, leaders, iou_threshold)
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
