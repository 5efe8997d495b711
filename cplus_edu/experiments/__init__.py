"""The course layer: chapter recipes (runs, tables, claim checks) built on the library.

One module per chapter or topic. These modules import the library (``cplus_edu.losses``,
``cplus_edu.metrics``, ``cplus_edu.train`` ...); the library never imports them (a test checks the
direction of imports). Notebooks import the recipes from here.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # summaries of repeated runs (every chapter)
    "mean_std": "tables",
    "summarize": "tables",
    "paired_differences": "tables",
    "format_table": "tables",
    "format_paired": "tables",
    "text_table": "tables",
    # chapter 01: C+1 geometry on the circle and sphere
    "train_embedding": "hypersphere",
    "EmbeddingRun": "hypersphere",
    "embedding_report": "hypersphere",
    # chapter 02: open-set background on MNIST
    "OPEN_SET_METRICS": "open_set",
    "CONFIDENCE_METRICS": "open_set",
    "INSIDE_METRICS": "open_set",
    "UNSEEN_KEYS": "open_set",
    "DigitSplit": "open_set",
    "DEFAULT_SPLIT": "open_set",
    "draw_digit_split": "open_set",
    "coi_confidence": "open_set",
    "confident_share": "open_set",
    "class_predictions": "open_set",
    "run_split_study": "open_set",
    "plot_confident_gallery": "open_set",
    "plot_confidence_histogram": "open_set",
    "plot_paired_differences": "open_set",
    "CIFAR10_CLASSES": "open_set",
    "PAPER_VOC_MIOU": "open_set",
    "OpenSetData": "open_set",
    "make_mnist_open_set": "open_set",
    "relabel": "open_set",
    "center_distances": "open_set",
    "evaluate_open_set": "open_set",
    "run_open_set": "open_set",
    "plot_open_set": "open_set",
    # chapter 04: the CAS loss's claimed properties
    "region_means": "cas_properties",
    "sparsity": "cas_properties",
    "distinct_corners": "cas_properties",
    "descriptor_snapshot": "cas_properties",
    "DescriptorSnapshot": "cas_properties",
    "cas_two_region_landscape": "cas_properties",
    "gradient_share": "cas_properties",
    # chapter 06: the fused loss, CRF and POS-CRF
    "FusedConfig": "fused",
    "FusedResults": "fused",
    "run_fused_experiment": "fused",
    "results_table": "fused",
    "example_columns": "fused",
    "segmentation_scores": "fused",
    "train_segmenter": "fused",
    "predict_probs": "fused",
    "crf_labels": "fused",
    "objectness_maps": "fused",
    "SLIDES_IOU": "fused",
    "SLIDES_RECALL": "fused",
    # chapter 08: the margin family on the hypersphere
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
    # chapter 09: CC-loss on MNIST and CIFAR-10
    "CC_LOSSES": "channel_corr",
    "CC_PAPER": "channel_corr",
    "FocalLoss": "channel_corr",
    "run_losses": "channel_corr",
    "summarize_runs": "channel_corr",
    "format_runs": "channel_corr",
    "paired_gain": "channel_corr",
    "class_separation": "channel_corr",
    "class_heatmap": "channel_corr",
    # chapter 10: PASCAL VOC at paper scale (the runner in cplus_edu.voc)
    "PAPER_TABLE1": "voc_runs",
    "PAPER_TABLE2": "voc_runs",
    "smoke_runs": "voc_runs",
    "comparison_table": "voc_runs",
    "plot_loss_terms": "voc_runs",
    "plot_per_class_iou": "voc_runs",
    "paper_tables": "voc_runs",
    "gpu_estimates": "voc_runs",
    # chapter 07: detection (seed 003)
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
