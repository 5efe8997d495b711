"""Whole-image evaluation as mmsegmentation does it, and the three VOC numbers.

For each validation image: resize into ``img_scale`` keeping the ratio (``data.test_transform``),
run the model on the whole image, upsample the logits bilinearly to the resized image and then
to the original size (mmseg's ``whole_inference`` with ``rescale=True``), take the argmax, and
add the image to a ``[K, K]`` confusion matrix (rows: truth, columns: prediction; void pixels
left out). From the summed matrix, in per cent as the paper's tables:

- ``IoU_k = TP_k / (TP_k + FP_k + FN_k)``, ``mIoU`` its mean over classes (a class that appears
  neither in the labels nor in the predictions is NaN and left out, as mmseg's nanmean);
- ``Acc_k = TP_k / (TP_k + FN_k)``, ``mAcc`` its mean over classes with labelled pixels;
- ``aAcc = sum_k TP_k / labelled pixels``.

Under DDP each process evaluates every ``world_size``-th image and the matrices are summed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cplus_edu.utils import progress_bar
from cplus_edu.voc.data import IGNORE_INDEX, VOC_CLASSES


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """``[K, K]`` int64 counts of (true class, predicted class) over the non-void pixels."""
    keep = target != ignore_index
    index = target[keep] * num_classes + pred[keep]
    return torch.bincount(index, minlength=num_classes**2).view(num_classes, num_classes)


def metrics_from_confusion(cm: torch.Tensor, class_names=VOC_CLASSES) -> dict:
    """``mIoU``, ``mAcc``, ``aAcc`` (per cent) and ``per_class_iou`` / ``per_class_acc``
    (lists of K values, ``None`` where undefined) from a ``[K, K]`` confusion matrix."""
    cm = cm.double()
    tp = cm.diag()
    labelled, predicted = cm.sum(1), cm.sum(0)
    iou = tp / (labelled + predicted - tp)  # NaN where the class is nowhere
    acc = tp / labelled  # NaN where the class has no labelled pixel
    total = labelled.sum()

    def listed(values):
        return [None if math.isnan(v) else 100.0 * v for v in values.tolist()]

    return {
        "mIoU": 100.0 * float(iou.nanmean()),
        "mAcc": 100.0 * float(acc.nanmean()),
        "aAcc": 100.0 * float(tp.sum() / total) if total > 0 else float("nan"),
        "per_class_iou": listed(iou),
        "per_class_acc": listed(acc),
        "class_names": list(class_names)[: cm.shape[0]],
        "pixels": int(total),
    }


@torch.no_grad()
def predict_whole(model, image: torch.Tensor, out_size: tuple[int, int], amp: bool = False):
    """``image [1, 3, h, w]`` (resized, normalised) -> ``[H, W]`` predicted classes at
    ``out_size``, the original image size."""
    device_type = image.device.type
    with torch.autocast(device_type, enabled=amp, dtype=_amp_dtype(device_type)):
        logits = model(image).logits.float()
    logits = F.interpolate(logits, size=image.shape[2:], mode="bilinear", align_corners=False)
    logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
    return logits.argmax(1)[0]


def _amp_dtype(device_type: str) -> torch.dtype:
    return torch.float16 if device_type == "cuda" else torch.bfloat16


@torch.no_grad()
def evaluate(model, dataset, *, num_classes: int = 21, device="cpu", rank: int = 0,
             world_size: int = 1, amp: bool = False, limit: int | None = None,
             progress: bool = False) -> dict:  # fmt: skip
    """Metrics of ``model`` on ``dataset`` (a ``VOCEvalSet``); the first ``limit`` images only if
    given. Every process calls it; all return the same (summed) metrics."""
    was_training = model.training
    model.eval()
    n = len(dataset) if limit is None else min(limit, len(dataset))
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    indices = range(rank, n, world_size)
    for i in progress_bar(indices, desc="evaluating", show=progress, leave=False):
        image, label = dataset[i]
        pred = predict_whole(model, image[None].to(device), tuple(label.shape), amp)
        cm += confusion_matrix(pred, label.to(device), num_classes)
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(cm)
    model.train(was_training)
    return metrics_from_confusion(cm.cpu())


def format_table(metrics: dict) -> str:
    """The per-class IoU / accuracy table and the three summary numbers, as text."""
    lines = [f"{'class':<14}{'IoU':>8}{'Acc':>8}"]
    for name, iou, acc in zip(metrics["class_names"], metrics["per_class_iou"],
                              metrics["per_class_acc"]):  # fmt: skip
        fmt = lambda v: f"{v:8.2f}" if v is not None else f"{'-':>8}"  # noqa: E731
        lines.append(f"{name:<14}{fmt(iou)}{fmt(acc)}")
    lines.append(f"mIoU {metrics['mIoU']:.2f}  mAcc {metrics['mAcc']:.2f}  "
                 f"aAcc {metrics['aAcc']:.2f}  ({metrics['pixels']} labelled pixels)")  # fmt: skip
    return "\n".join(lines)
