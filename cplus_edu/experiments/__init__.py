"""The course layer: chapter recipes (runs, tables, claim checks) built on the library.

One module per chapter or topic. These modules import the library (``cplus_edu.losses``,
``cplus_edu.metrics``, ``cplus_edu.train`` ...); the library never imports them (a test checks the
direction of imports). Notebooks import the recipes from here.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "PAPER_DETECTION_TABLE": "detection",
    "DETECTION_SETTINGS": "detection",
    "DETECTION_ROWS": "detection",
    "DetectionRun": "detection",
    "ComponentStudy": "detection",
    "run_components": "detection",
    "component_table": "detection",
    "format_component_table": "detection",
    "gamma_sweep": "detection",
    "score_iou_correlation": "detection",
    "misalignment_shares": "detection",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
