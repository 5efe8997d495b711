"""COCO-style mAP, AP50 and AP75 through ``torchmetrics.detection.MeanAveragePrecision``.

Not hand-written: torchmetrics runs the COCO protocol (101-point interpolated precision, IoU
thresholds 0.50:0.05:0.95, at most 100 detections per image). Backend ``faster_coco_eval``: the
same COCO evaluation as ``pycocotools`` (a test checks that both give the same numbers here)
with its matching in C++, several times faster, and maintained; torchmetrics supports both.
"""

from __future__ import annotations

__all__ = ["detection_map"]


def detection_map(
    preds: list[dict], targets: list[dict], backend: str = "faster_coco_eval"
) -> dict[str, float]:
    """``{"map", "map_50", "map_75"}`` (in [0, 1]) of ``preds`` (dicts with ``boxes`` ``xyxy``,
    ``scores``, ``labels``) against ``targets`` (``boxes``, ``labels``), one dict per image."""
    from torchmetrics.detection import MeanAveragePrecision

    if len(preds) != len(targets):
        raise ValueError(f"preds has {len(preds)} images but targets has {len(targets)}")
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=backend)
    metric.update(preds, targets)
    result = metric.compute()
    return {k: float(result[k]) for k in ("map", "map_50", "map_75")}
