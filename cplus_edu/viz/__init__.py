"""Plots for the notebooks: embeddings, hyperspheres, the simplex, the background probability."""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "plot_embedding_2d": "embedding",
    "plot_history": "embedding",
    "plot_circle": "hypersphere",
    "plot_sphere": "hypersphere",
    "embedding_legend": "hypersphere",
    "facing_view": "hypersphere",
    "plot_umap": "umap_view",
    "plot_background_probability": "probability",
    "plot_nearest_center_distances": "probability",
    "plot_simplex": "simplex",
    "plot_cas_landscape": "simplex",
    "simplex_to_cartesian": "simplex",
    "plot_region_maps": "regions",
    "plot_segmentation_panels": "segmentation",
    "plot_p0_histograms": "segmentation",
    "plot_recall_by_kind": "segmentation",
    "plot_pixel_loss": "segmentation",
    "pixel_loss_grid": "segmentation",
    "plot_learning_curves": "learning_curves",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
