"""Pixel objectness and dense CRF post-processing (Liu & Lew, REFERENCES.md [3]). One concept per
file:

- ``objectness``: object proposals from scikit-image segments and the pixel objectness
  ``pos_j = g_j / G`` (the share of proposals that cover pixel j);
- ``unary``: the slides' CRF unary, ``-log p_j0`` for the background and
  ``-log(p_jk * exp(pos_j))`` for the object labels;
- ``meanfield``: a short, readable mean-field dense CRF in PyTorch (exact Gaussian kernels,
  O(pixels^2) per iteration: for small images and for teaching);
- ``inputs``: what they accept (one image convention: uint8 in 0..255, float in [0, 1]),
  ``CRFParams`` and their checks, which run before pydensecrf2 can crash on a bad value;
- ``dense``: ``dense_crf``, which runs pydensecrf2 (Kraehenbuehl's permutohedral-lattice code) when
  it is installed and falls back to the readable CRF, with a message, when it is not.
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "segment_proposals": "objectness",
    "pixel_objectness": "objectness",
    "crf_unary": "unary",
    "mean_field_crf": "meanfield",
    "CRFParams": "inputs",
    "dense_crf": "dense",
    "densecrf_available": "dense",
    "pydensecrf_inference": "dense",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
