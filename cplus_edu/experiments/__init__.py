"""The course layer: chapter recipes (runs, tables, claim checks) built on the library.

One module per chapter or topic. These modules import the library (``cplus_edu.losses``,
``cplus_edu.metrics``, ``cplus_edu.train`` ...); the library never imports them (a test checks the
direction of imports). Notebooks import the recipes from here.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "MARGIN_HEADS": "margin_family",
    "MARGIN_GRID": "margin_family",
    "FAMILY_HEADS": "margin_family",
    "load_margin_data": "margin_family",
    "train_head": "margin_family",
    "summarize_heads": "margin_family",
    "format_head_summary": "margin_family",
    "draw_circle": "margin_family",
    "draw_sphere": "margin_family",
    "digit_legend": "margin_family",
    "angular_stats": "margin_family",
    "CC_LOSSES": "channel_corr",
    "CC_PAPER": "channel_corr",
    "FocalLoss": "channel_corr",
    "run_losses": "channel_corr",
    "summarize_runs": "channel_corr",
    "format_runs": "channel_corr",
    "paired_gain": "channel_corr",
    "class_separation": "channel_corr",
    "class_heatmap": "channel_corr",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
