"""The two run configurations: the paper's VOC recipe and a CPU smoke test of the same code.

``paper-voc-20k`` is mmsegmentation's ``deeplabv3plus_r50-d8_512x512_20k_voc12aug`` (the recipe
behind the C+1 paper's Table 1 baseline, 75.93 mIoU), field by field:

- model: mmseg's DeepLabV3+ R50-D8 (``model``): ResNetV1c-50 at output stride 8 (deep stem,
  ``contract_dilation``), the depthwise-separable ASPP head with 512 channels and rates 12/24/36,
  a 48-channel low-level skip from layer1, an auxiliary FCN head (256 channels) on layer3 with
  loss weight 0.4, dropout 0.1, SyncBatchNorm under DDP; ImageNet weights for the backbone
  (``open-mmlab://resnet50_v1c``; ``weights``);
- loss: cross-entropy averaged as mmseg's ``CrossEntropyLoss(avg_non_ignore=False)``, what mmseg
  did when 75.93 was trained and still its default: ``ce_average="all"`` (see ``VOCConfig``);
- optimiser: SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly schedule power 0.9 down to 1e-4;
- 20,000 iterations at a global batch of 16 (4 GPUs x 4 images in mmseg; any split works);
- train pipeline: random rescale 0.5-2.0 of (2048, 512) keeping the ratio, 512x512 random crop
  (the most frequent class at most 75 % of the crop, 10 tries), horizontal flip 0.5, photometric
  distortion, ImageNet mean/std, pad to the crop with 0 / 255;
- test: resize to (2048, 512) keeping the ratio, whole-image inference, prediction resized back.

``cpu-smoke`` keeps every step but shrinks the sizes: a ResNetV1c-18 backbone (still output
stride 8, contract-dilated), 64-channel separable ASPP and decoder, 32x32 crops from (64, 32), a
batch of 2 and 4 iterations, random initialisation; it finishes in seconds on a laptop CPU and is
what the tests and chapter 10 run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: the fields that define the model (a checkpoint resumes only into the same model)
MODEL_FIELDS = ("backbone", "aspp_channels", "aspp_rates", "decoder_channels", "skip_channels",
                "aux_channels", "num_classes")  # fmt: skip
CE_AVERAGES = ("all", "valid")
_POSITIVE = ("iterations", "global_batch", "checkpoint_every", "eval_every", "log_every",
             "crop_size")  # fmt: skip


@dataclass(frozen=True)
class VOCConfig:
    """One run's recipe. ``ce_average`` says how the cross-entropy terms (the main CE, C+1's
    L_separability, the auxiliary CE) average over the pixels of a batch:

    - ``"all"``: the sum over non-void pixels divided by **all** pixels of the batch, void (255)
      and crop padding included: mmseg's ``CrossEntropyLoss`` with ``avg_non_ignore=False``, the
      default behind the paper's 75.93. The paper config uses it so that a run takes the
      gradient steps mmseg took (on VOC crops, where ~10 % of pixels are void or padding, the
      per-valid mean's steps are ~1.1x larger, and they change with each batch's void share);
    - ``"valid"``: the mean over non-void pixels (``F.cross_entropy(..., ignore_index=255)``,
      mmseg's ``avg_non_ignore=True``), the more common reading elsewhere, for other runs.

    The C+1 centre terms stay means over the pixels they concern (``CPlusOneLoss``).
    ``backbone_weights_required``: the run refuses to start from random weights unless told so
    (``--backbone-weights none``).
    """

    name: str
    # model
    backbone: str = "resnet50_v1c"  # ``model.BACKBONES``
    aspp_channels: int = 512
    aspp_rates: tuple[int, ...] = (12, 24, 36)
    decoder_channels: int = 512  # also the C+1 feature dimension D
    skip_channels: int = 48
    aux_channels: int = 256
    aux_weight: float = 0.4
    dropout: float = 0.1
    num_classes: int = 21
    ignore_index: int = 255
    backbone_weights_required: bool = True
    ce_average: str = "all"  # "all" (mmseg, avg_non_ignore=False) or "valid"
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
    # C+1 loss (the paper's alpha 0.1, beta 1e-4, moving-average centres of normalised features)
    alpha: float = 0.1
    beta: float = 1e-4
    margin: float = 1.0
    center_momentum: float = 0.9
    # fused loss (Liu & Lew)
    fused_ws: float = 0.5
    fused_wp: float = 0.5
    # bookkeeping
    checkpoint_every: int = 2000
    eval_every: int = 2000
    log_every: int = 50
    eval_images: int | None = None  # None: the whole val split

    def __post_init__(self):
        for name in _POSITIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.eval_images is not None and (not isinstance(self.eval_images, int)
                                             or self.eval_images < 1):  # fmt: skip
            raise ValueError(f"eval_images must be None or a positive integer, "
                             f"got {self.eval_images!r}")  # fmt: skip
        if self.ce_average not in CE_AVERAGES:
            raise ValueError(f"ce_average must be one of {CE_AVERAGES}, got {self.ce_average!r}")

    def replace(self, **changes) -> VOCConfig:
        """A copy with some fields changed (``None`` values leave a field as it is)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def model_summary(self) -> str:
        """The model in a few words (what ``--resume`` compares with the checkpoint's)."""
        rates = "/".join(map(str, self.aspp_rates))
        return (f"DeepLabV3+ {self.backbone}, ASPP {self.aspp_channels} ch rates {rates}, "
                f"decoder {self.decoder_channels} ch, skip {self.skip_channels}, aux "
                f"{self.aux_channels}, {self.num_classes} classes")  # fmt: skip

    @classmethod
    def from_dict(cls, saved: dict) -> VOCConfig:
        """The configuration a checkpoint or ``config.json`` stored (JSON lists -> tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


CONFIGS = {
    "paper-voc-20k": VOCConfig(name="paper-voc-20k"),
    "cpu-smoke": VOCConfig(
        name="cpu-smoke",
        backbone="resnet18_v1c",
        aspp_channels=64,
        aspp_rates=(2, 4, 6),
        decoder_channels=64,
        skip_channels=16,
        aux_channels=64,
        backbone_weights_required=False,
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
