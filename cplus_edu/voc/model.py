"""DeepLabV3+ R50-D8 exactly as mmsegmentation's ``deeplabv3plus_r50-d8_512x512_20k_voc12aug``,
written to be read.

::

    image [B, 3, H, W]
      backbone: ResNetV1c-50, output stride 8 (``backbone``)
        c1 = layer1 ───────────────────────────────────────── [B,  256, H/4, W/4] ──┐
        c3 = layer3 (dilation 2) ── aux FCN head -> aux logits [B, K, H/8, W/8]      │
        c4 = layer4 (dilation 4) ───────────────────────────── [B, 2048, H/8, W/8] ─┤
      head: separable ASPP (rates 12/24/36) + decoder with the 48-channel c1 skip (``heads``)
        -> features [B, 512, H/4, W/4]    (the C+1 loss's features, D = 512)
      Dropout2d 0.1 + 1x1 classifier -> logits [B, K, H/4, W/4]

For 21 classes: 43.6 M parameters (backbone 23.5 M, head 17.7 M with its 11.8 M full 3x3
bottleneck, auxiliary head 2.4 M), as mmseg's model. Where mmseg's parts live here:

==========================================  ===============================================
mmseg / mmcv                                here
==========================================  ===============================================
``ResNetV1c(depth=50, strides=(1, 2, 1,     ``backbone.ResNetV1c(50)``: deep stem 3->32->32->64,
1), dilations=(1, 1, 2, 4),                 layer3 dilation 1 then 2, layer4 2 then 4
contract_dilation=True)``
``DepthwiseSeparableASPPHead`` (``channels  ``heads.SeparableASPPDecoder`` + ``dropout`` +
512, dilations (1, 12, 24, 36), c1 256->48, ``classifier``
dropout 0.1)``
``FCNHead(1024, channels=256, num_convs=1,  ``heads.FCNHead`` (``aux_head``), loss weight 0.4 in
dropout 0.1)``                              ``engine.SegmentationCriterion``
``ConvModule`` / ``DepthwiseSeparable-      ``layers.ConvBNReLU`` / ``layers.SeparableConvBNReLU``
ConvModule`` (BN + ReLU after depthwise
and pointwise)
SyncBN                                      BatchNorm, converted to SyncBatchNorm under DDP on GPUs
mmcv init (Kaiming fan_out, BN 1/0,         ``init_weights`` (the same)
``conv_seg`` normal std 0.01,
``zero_init_residual``)
``open-mmlab://resnet50_v1c``               ``weights.load_backbone_weights("open-mmlab")``
==========================================  ===============================================

``forward`` returns ``SegmentationOutput(features, logits, aux_logits)``: ``features`` are the
decoder's last features before dropout and classifier (the C+1 loss's ``[B, D, h, w]``, D =
``decoder_channels``), ``logits`` and ``aux_logits`` at 1/4 and 1/8 of the input; the criterion
upsamples logits to the label size. ``aux_logits`` is ``None`` in eval mode.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from cplus_edu.voc.backbone import ResNetV1c
from cplus_edu.voc.heads import FCNHead, SeparableASPPDecoder
from cplus_edu.voc.layers import init_like_mmcv

#: backbone name -> ResNetV1c depth
BACKBONES = {"resnet18_v1c": 18, "resnet50_v1c": 50, "resnet101_v1c": 101}


class SegmentationOutput(NamedTuple):
    features: torch.Tensor  # `[B, D, H/4, W/4]`
    logits: torch.Tensor  # `[B, K, H/4, W/4]`
    aux_logits: torch.Tensor | None  # `[B, K, H/8, W/8]` in training, else None


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ on a ResNetV1c at output stride 8 with mmseg's separable ASPP head and an
    auxiliary FCN head on layer3; freshly initialised as mmseg initialises it."""

    def __init__(
        self,
        num_classes: int = 21,
        backbone: str = "resnet50_v1c",
        aspp_channels: int = 512,
        aspp_rates: tuple[int, ...] = (12, 24, 36),
        decoder_channels: int = 512,
        skip_channels: int = 48,
        aux_channels: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        self.backbone = ResNetV1c(BACKBONES[backbone])
        c1, _, c3, c4 = self.backbone.channels  # 256, 512, 1024, 2048 for ResNet-50
        self.head = SeparableASPPDecoder(c4, c1, aspp_channels, tuple(aspp_rates), skip_channels,
                                         decoder_channels)  # fmt: skip
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)  # `[K, D, 1, 1]` weight
        self.aux_head = FCNHead(c3, aux_channels, num_classes, dropout)
        self.num_classes, self.feat_dim = num_classes, decoder_channels
        self.init_weights()

    def init_weights(self) -> None:
        """mmseg's from-scratch initialisation (the backbone's ImageNet weights, when wanted,
        are loaded over it by ``weights.load_backbone_weights``)."""
        self.backbone.init_weights()
        init_like_mmcv(self.head)
        init_like_mmcv(self.aux_head)
        for classifier in (self.classifier, self.aux_head.classifier):  # mmseg's conv_seg
            nn.init.normal_(classifier.weight, std=0.01)
            nn.init.zeros_(classifier.bias)

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        c1, _, c3, c4 = self.backbone(x)
        features = self.head(c1, c4)  # `[B, D, H/4, W/4]`
        logits = self.classifier(self.dropout(features))  # `[B, K, H/4, W/4]`
        aux = self.aux_head(c3) if self.training else None  # `[B, K, H/8, W/8]`
        return SegmentationOutput(features, logits, aux)


def build_model(cfg) -> DeepLabV3Plus:
    """The (freshly initialised) model of a ``VOCConfig``."""
    return DeepLabV3Plus(
        num_classes=cfg.num_classes, backbone=cfg.backbone, aspp_channels=cfg.aspp_channels,
        aspp_rates=cfg.aspp_rates, decoder_channels=cfg.decoder_channels,
        skip_channels=cfg.skip_channels, aux_channels=cfg.aux_channels, dropout=cfg.dropout,
    )  # fmt: skip
