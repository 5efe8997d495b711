"""COCO-style mAP, AP50 and AP75 through ``torchmetrics.detection.MeanAveragePrecision``.

Not hand-written: torchmetrics runs the COCO protocol (101-point interpolated precision, IoU
thresholds 0.50:0.05:0.95, at most 100 detections per image). Backend ``faster_coco_eval``: the
same COCO evaluation as ``pycocotools`` with its matching in C++, several times faster, and
maintained; torchmetrics supports both.

Exactly COCOeval's numbers (issue 16, GUIDE.md section 6): torchmetrics builds its default IoU
and recall thresholds with float32 ``torch.linspace``, and a recall of exactly ``k/100`` then
falls on the other side of a threshold, moving AP by up to 6e-4; the thresholds are passed here
as pycocotools builds them, float64 ``np.linspace`` (a test compares with COCOeval directly).
"""

from __future__ import annotations

import numpy as np
import torch

from cplus_edu.checks import check_float, check_integer, describe
from cplus_edu.detection.boxes import check_boxes

__all__ = ["detection_map", "COCO_IOU_THRESHOLDS", "COCO_RECALL_THRESHOLDS"]

# as pycocotools.cocoeval.Params.setDetParams builds them
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1).tolist()
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1).tolist()


def _check_image(kind: str, i: int, item, with_scores: bool) -> None:
    if not isinstance(item, dict):
        raise TypeError(f"{kind}[{i}] must be a dict, got {describe(item)}")
    keys = ("boxes", "scores", "labels") if with_scores else ("boxes", "labels")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{kind}[{i}] lacks {missing} (needs {list(keys)})")
    check_boxes(f"{kind}[{i}]['boxes']", item["boxes"])
    check_integer(f"{kind}[{i}]['labels']", item["labels"], 1)
    lengths = {"boxes": len(item["boxes"]), "labels": len(item["labels"])}
    if with_scores:
        scores = check_float(f"{kind}[{i}]['scores']", item["scores"], 1)
        if scores.numel() and not bool(torch.isfinite(scores).all()):
            raise ValueError(f"{kind}[{i}]['scores'] contains NaN or Inf")
        lengths["scores"] = len(scores)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{kind}[{i}] has entries of different lengths: {lengths}")


def detection_map(
    preds: list[dict], targets: list[dict], backend: str = "faster_coco_eval"
) -> dict[str, float]:
    """``{"map", "map_50", "map_75"}`` (in [0, 1]) of ``preds`` (dicts with ``boxes`` ``xyxy``,
    ``scores``, ``labels``) against ``targets`` (``boxes``, ``labels``), one dict per image;
    equal to pycocotools' ``COCOeval`` (``stats[0:3]``). Raises if no image has a ground-truth
    box (COCOeval would report -1: AP is undefined)."""
    from torchmetrics.detection import MeanAveragePrecision

    if len(preds) != len(targets):
        raise ValueError(f"preds has {len(preds)} images but targets has {len(targets)}")
    for i, (p, t) in enumerate(zip(preds, targets)):
        _check_image("preds", i, p, with_scores=True)
        _check_image("targets", i, t, with_scores=False)
    if sum(len(t["boxes"]) for t in targets) == 0:
        raise ValueError("targets hold no ground-truth box: AP is undefined")
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        backend=backend,
        iou_thresholds=list(COCO_IOU_THRESHOLDS),
        rec_thresholds=list(COCO_RECALL_THRESHOLDS),
    )
    # float64 boxes: torchmetrics converts them to COCO's x, y, w, h in their own dtype
    wide = [{k: v.double() if v.is_floating_point() else v for k, v in d.items()}
            for d in (*preds, *targets)]  # fmt: skip
    metric.update(wide[: len(preds)], wide[len(preds) :])
    result = metric.compute()
    return {k: float(result[k]) for k in ("map", "map_50", "map_75")}
