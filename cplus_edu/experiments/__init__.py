"""The course layer: chapter recipes (runs, tables, claim checks) built on the library.

One module per chapter or topic. These modules import the library (``cplus_edu.losses``,
``cplus_edu.metrics``, ``cplus_edu.train`` ...); the library never imports them (a test checks the
direction of imports). Notebooks import the recipes from here.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # chapter 10: PASCAL VOC at paper scale (the runner in cplus_edu.voc)
    "PAPER_TABLE1": "voc_runs",
    "PAPER_TABLE2": "voc_runs",
    "smoke_runs": "voc_runs",
    "comparison_table": "voc_runs",
    "plot_loss_terms": "voc_runs",
    "plot_per_class_iou": "voc_runs",
    "paper_tables": "voc_runs",
    "gpu_estimates": "voc_runs",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
