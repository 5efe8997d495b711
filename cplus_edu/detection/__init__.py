"""Detection (the detection poster, REFERENCES.md [4]): boxes, anchors, IAC anchor assignment,
the DC loss, CL-balanced NMS and a tiny one-stage detector. Boxes are ``xyxy`` pixels throughout;
torchvision.ops supplies IoU, NMS, focal and GIoU losses, and these modules add only what the
poster adds."""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "check_boxes": "boxes",
    "box_centers": "boxes",
    "box_sizes": "boxes",
    "intersection_over_min_area": "boxes",
    "BoxCoder": "boxes",
    "make_anchors": "anchors",
    "iac_score": "assignment",
    "assign_anchors": "assignment",
    "class_prob_per_gt": "assignment",
    "Assignment": "assignment",
    "dynamic_coefficients": "dc_loss",
    "DCLoss": "dc_loss",
    "cl_balanced_nms": "nms",
    "nms_clusters": "nms",
    "TinyDetector": "detector",
    "DetectorOutput": "detector",
    "DetectionCriterion": "train",
    "train_detector": "train",
    "detect_raw": "train",
    "apply_nms": "train",
    "detection_map": "evaluate",
    "sensitivity_maps": "sensitivity",
    "sensitivity_shares": "sensitivity",
    "mask_regions": "sensitivity",
    "draw_boxes": "plots",
    "plot_detections": "plots",
    "plot_anchor_labels": "plots",
    "plot_nms_clusters": "plots",
    "plot_sensitivity": "plots",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
