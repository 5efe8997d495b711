"""Paper-scale PASCAL VOC segmentation (the C+1 paper's Tables 1-2): DeepLabV3+ R50, CE vs C+1.

Run as ``python -m cplus_edu.voc train|eval`` or ``torchrun --nproc_per_node N -m cplus_edu.voc
train``; ``config`` (the mmseg recipe and a CPU smoke size), ``data`` (VOC / SBD and mmseg's
transforms), ``engine`` (DDP, AMP, checkpoints, log), ``evaluate``,
``criterion`` (CE / C+1 / fused + aux CE, mmseg's averaging), ``model`` (mmseg's DeepLabV3+
R50-D8: ``backbone``, ``heads``, ``layers``), ``weights`` (ImageNet backbone weights),
``checkpoints``, ``runs`` (reading a run directory back).
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "VOCConfig": "config",
    "CONFIGS": "config",
    "get_config": "config",
    "VOC_CLASSES": "data",
    "list_samples": "data",
    "VOCTrainSet": "data",
    "VOCEvalSet": "data",
    "CorruptDataError": "data",
    "DeepLabV3Plus": "model",
    "build_model": "model",
    "ResNetV1c": "backbone",
    "load_backbone_weights": "weights",
    "SegmentationCriterion": "criterion",
    "TrainOptions": "engine",
    "train": "engine",
    "load_checkpoint": "checkpoints",
    "CorruptCheckpointError": "checkpoints",
    "evaluate": "evaluate",
    "confusion_matrix": "evaluate",
    "metrics_from_confusion": "evaluate",
    "format_table": "evaluate",
    "write_voc_tree": "synthetic",
    "run_cli": "cli",
    "count_step": "estimates",
    "gpu_estimate": "estimates",
    "read_run": "runs",
    "Run": "runs",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
