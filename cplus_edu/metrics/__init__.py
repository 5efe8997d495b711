"""Metrics, in one place: open-set background, embedding geometry, saliency and regions.

- ``open_set``: accuracy on the classes of interest, background recall, the softmax background
  score and its AUROC (the C+1 paper, REFERENCES.md [1]);
- ``embedding``: class means, intra-class spread, distance to the nearest centre, ball radius
  (what each term of the C+1 loss does to an embedding);
- ``saliency``: salient-channel choice, adaptive binarisation, F-beta and MAE (CAS paper);
- ``regions``: the adjusted Rand index of a segmentation against region labels, and the renaming
  of predicted region ids that best matches them (the CAS paper).
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "coi_accuracy": "open_set",
    "background_recall": "open_set",
    "background_score": "open_set",
    "background_auroc": "open_set",
    "center_index": "embedding",
    "class_means": "embedding",
    "intra_class_spread": "embedding",
    "nearest_center_distance": "embedding",
    "outside_margin_rate": "embedding",
    "ball_radius": "embedding",
    "channel_correlations": "saliency",
    "choose_salient_channel": "saliency",
    "binarize_saliency": "saliency",
    "f_beta": "saliency",
    "mean_absolute_error": "saliency",
    "evaluate_saliency": "saliency",
    "adjusted_rand_index": "regions",
    "match_region_ids": "regions",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
