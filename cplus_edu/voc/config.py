"""The two run configurations: the paper's VOC recipe and a CPU smoke test of the same code.

``paper-voc-20k`` is mmsegmentation's ``deeplabv3plus_r50-d8_512x512_20k_voc12aug`` (the recipe
behind seed 000's Table 1 baseline, 75.93 mIoU), field by field:

- model: DeepLabV3+ on a ResNet-50 at output stride 8 (layer3 dilation 2, layer4 dilation 4),
  ASPP with 512 channels and rates 12/24/36, a 48-channel low-level skip from layer1, an auxiliary
  FCN head on layer3 with loss weight 0.4, SyncBatchNorm under DDP;
- optimiser: SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly schedule power 0.9 down to 1e-4;
- 20,000 iterations at a global batch of 16 (4 GPUs x 4 images in mmseg; any split works);
- train pipeline: random rescale 0.5-2.0 of (2048, 512) keeping the ratio, 512x512 random crop
  (the most frequent class at most 75 % of the crop, 10 tries), horizontal flip 0.5, photometric
  distortion, ImageNet mean/std, pad to the crop with 0 / 255;
- test: resize to (2048, 512) keeping the ratio, whole-image inference, prediction resized back.

``cpu-smoke`` keeps every step but shrinks the sizes: a ResNet-18 backbone (still output stride
8), 64-channel ASPP and decoder, 32x32 crops from (64, 32), a batch of 2 and 4 iterations; it
finishes in seconds on a laptop CPU and is what the tests and chapter 10 run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class VOCConfig:
    name: str
    # model
    backbone: str = "resnet50"  # torchvision constructor name
    aspp_channels: int = 512
    aspp_rates: tuple[int, ...] = (12, 24, 36)
    decoder_channels: int = 512  # also the C+1 feature dimension D
    skip_channels: int = 48
    aux_weight: float = 0.4
    dropout: float = 0.1
    num_classes: int = 21
    ignore_index: int = 255
    # optimisation
    lr: float = 0.01
    min_lr: float = 1e-4
    power: float = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    iterations: int = 20_000
    global_batch: int = 16
    # data
    img_scale: tuple[int, int] = (2048, 512)  # (long edge, short edge) bounds, as mmseg
    ratio_range: tuple[float, float] = (0.5, 2.0)
    crop_size: int = 512
    cat_max_ratio: float = 0.75
    flip_prob: float = 0.5
    photometric: bool = True
    train_split: str = "trainaug"  # "trainaug" (VOC train + SBD, 10,582) or "train" (1,464)
    val_split: str = "val"
    num_workers: int = 4
    # C+1 loss (seed 000: alpha 0.1, beta 1e-4, moving-average centres of normalised features)
    alpha: float = 0.1
    beta: float = 1e-4
    margin: float = 1.0
    center_momentum: float = 0.9
    # fused loss (seed 002)
    fused_ws: float = 0.5
    fused_wp: float = 0.5
    # bookkeeping
    checkpoint_every: int = 2000
    eval_every: int = 2000
    log_every: int = 50
    eval_images: int | None = None  # None: the whole val split

    def replace(self, **changes) -> VOCConfig:
        """A copy with some fields changed (``None`` values leave a field as it is)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CONFIGS = {
    "paper-voc-20k": VOCConfig(name="paper-voc-20k"),
    "cpu-smoke": VOCConfig(
        name="cpu-smoke",
        backbone="resnet18",
        aspp_channels=64,
        aspp_rates=(2, 4, 6),
        decoder_channels=64,
        skip_channels=16,
        iterations=4,
        global_batch=2,
        img_scale=(64, 32),
        crop_size=32,
        train_split="train",
        num_workers=0,
        checkpoint_every=2,
        eval_every=4,
        log_every=1,
    ),
}


def get_config(name: str) -> VOCConfig:
    """The configuration called ``name`` (one of ``CONFIGS``)."""
    if name not in CONFIGS:
        raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {name!r}")
    return CONFIGS[name]
