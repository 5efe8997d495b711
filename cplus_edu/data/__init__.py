"""Datasets: one data root, torchvision loaders with deterministic subsets, synthetic generators."""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "data_root": "root",
    "DataNotFoundError": "root",
    "load_mnist": "vision",
    "load_fashion_mnist": "vision",
    "load_cifar10": "vision",
    "load_cifar100": "vision",
    "load_cifar10_gray": "vision",
    "to_mnist_format": "vision",
    "load_digits_fallback": "vision",
    "make_cplus_one_data": "synthetic",
    "SyntheticCPlusOne": "synthetic",
    "make_texture_mosaics": "regions",
    "make_saliency_scenes": "regions",
    "flip_region_labels": "regions",
    "TextureMosaics": "regions",
    "SaliencyScenes": "regions",
    "to_cplus_one_labels": "labels",
    "make_segmentation_scenes": "scenes",
    "SegmentationScenes": "scenes",
    "DetectionScenes": "detection_scenes",
    "make_shape_scenes": "detection_scenes",
    "make_digit_scenes": "detection_scenes",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
