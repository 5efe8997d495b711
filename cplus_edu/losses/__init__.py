"""Loss functions, one concept per file; each module docstring carries the paper's equations.

- ``cplus_one``: C+1 loss = CE + alpha * centre loss + beta * background margin ([1])
- ``centers``: the three centre representations of the C+1 paper
- ``class_agnostic``: CAS loss (uniformer - discriminator) and class-agnostic CE (Sharma et al. [2])
- ``positive_sharing``: positive-sharing loss and the fused loss (softmax CE + positive-sharing,
  Liu & Lew, [3])
- ``discriminative``: De Brabandere et al. (2017) discriminative loss, the metric-learning baseline
- ``margins``: NormFace / CosFace / ArcFace / SphereFace heads on the hypersphere
- ``channel_corr``: CC-loss, the channel-correlation loss on channel attention (Song et al., [5])
"""

from cplus_edu._lazy import lazy_exports

_EXPORTS = {
    "CPlusOneLoss": "cplus_one",
    "CenterLoss": "cplus_one",
    "BackgroundMarginLoss": "cplus_one",
    "LearnableCenters": "centers",
    "MovingAverageCenters": "centers",
    "SharedCenters": "centers",
    "CASLoss": "class_agnostic",
    "ClassAgnosticCELoss": "class_agnostic",
    "cas_bounds": "class_agnostic",
    "DiscriminativeLoss": "discriminative",
    "PositiveSharingLoss": "positive_sharing",
    "FusedLoss": "positive_sharing",
    "MarginHead": "margins",
    "NormFaceLoss": "margins",
    "CosFaceLoss": "margins",
    "ArcFaceLoss": "margins",
    "SphereFaceLoss": "margins",
    "MarginModel": "margins",
    "CCLoss": "channel_corr",
    "cam_channel_attention": "channel_corr",
    "attention_distances": "channel_corr",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
