"""The course layer: chapter recipes (runs, tables, claim checks) built on the library.

One module per chapter or topic. These modules import the library (``cplus_edu.losses``,
``cplus_edu.metrics``, ``cplus_edu.train`` ...); the library never imports them (a test checks the
direction of imports). Notebooks import the recipes from here.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FusedConfig": "fused",
    "FusedResults": "fused",
    "run_fused_experiment": "fused",
    "results_table": "fused",
    "format_table": "fused",
    "example_columns": "fused",
    "segmentation_scores": "fused",
    "train_segmenter": "fused",
    "predict_probs": "fused",
    "crf_labels": "fused",
    "objectness_maps": "fused",
    "SLIDES_IOU": "fused",
    "SLIDES_RECALL": "fused",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
