"""cplus_edu: teaching notebooks and readable implementations of losses that treat the
background class differently from the classes of interest.

Public names are imported lazily (see ``cplus_edu._lazy``), so ``import cplus_edu`` is quick;
the library's subpackages ``cplus_edu.losses``, ``cplus_edu.metrics``, ``cplus_edu.data`` and
``cplus_edu.viz`` hold the rest. The course layer, ``cplus_edu.experiments``, holds the chapters'
recipes; the library never imports it.
"""

from cplus_edu._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "seed_everything": "utils",
    "default_device": "utils",
    "Stopwatch": "utils",
    "MLP": "models",
    "SmallCNN": "models",
    "TinyFCN": "models",
    "CosineClassifier": "models",
    "SEBlock": "models",
    "ChannelAttentionCNN": "models",
    "fit": "train",
    "predict": "train",
    "History": "train",
    "group_pixels": "grouping",
    "background_probability": "theory",
    "log_union_bound": "theory",
    "cap_fraction": "theory",
    "log_cap_fraction": "theory",
    "chord_to_angle": "theory",
    "monte_carlo_background_probability": "theory",
    "MonteCarloEstimate": "theory",
    "monte_carlo_resolution": "theory",
    "disjoint_centers": "theory",
    "sample_uniform": "theory",
    "class_radii": "theory",
    "effective_dimension": "theory",
    "compare_with_embedding": "theory",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
