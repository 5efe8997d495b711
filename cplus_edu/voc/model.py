"""DeepLabV3+ (Chen et al., ECCV 2018) at output stride 8, written to be read.

::

    image [B, 3, H, W]
      stem + layer1 ──────────────── low-level [B, 256, H/4, W/4] ── 1x1 conv -> 48 ─┐
      layer2                                                                            │
      layer3 (dilation 2) ── aux FCN head -> aux logits [B, K, H/8, W/8]                │
      layer4 (dilation 4) -> [B, 2048, H/8, W/8] -> ASPP (rates 12/24/36) -> 512 ─ x2 up ┤ concat
                                         two 3x3 convs -> features [B, 512, H/4, W/4]
                                         dropout + 1x1 classifier -> logits [B, K, H/4, W/4]

The backbone is torchvision's ResNet (ImageNet weights with ``pretrained=True``), with the strides
of layer3 and layer4 replaced by dilations 2 and 4 in *every* block, as mmseg's ResNet does
(``contract_dilation=False``). torchvision's own ``replace_stride_with_dilation`` does that for
Bottleneck ResNets only and keeps the first block of each stage at the previous dilation, so we
change the convolutions in place (``dilate_``), which also works for ResNet-18's BasicBlock.

The ASPP is torchvision's (``torchvision.models.segmentation.deeplabv3.ASPP``): image pooling, a
1x1 branch and three 3x3 atrous branches, then a 1x1 projection with dropout 0.5. mmseg's
``DepthwiseSeparableASPPHead`` uses depthwise-separable atrous convs (and separable decoder
convs) and dropout 0.1: fewer FLOPs, a slightly different model. The auxiliary head is
torchvision's ``FCNHead`` (3x3 conv to in/4 channels, BN, ReLU, dropout 0.1, 1x1 classifier) on
layer3, which is mmseg's ``FCNHead(num_convs=1, channels=256)`` for ResNet-50.

``forward`` returns ``SegmentationOutput(features, logits, aux_logits)``: ``features`` are the
decoder's last features before the classifier (the C+1 loss's ``[B, D, h, w]``, D =
``decoder_channels``), ``logits`` and ``aux_logits`` at 1/4 and 1/8 of the input; the engine
upsamples logits to the label size. ``aux_logits`` is ``None`` in eval mode.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class SegmentationOutput(NamedTuple):
    features: torch.Tensor  # `[B, D, H/4, W/4]`
    logits: torch.Tensor  # `[B, K, H/4, W/4]`
    aux_logits: torch.Tensor | None  # `[B, K, H/8, W/8]` in training, else None


def dilate_(layer: nn.Sequential, dilation: int) -> None:
    """Replace the stride 2 of a ResNet stage by ``dilation`` in all its 3x3 convolutions."""
    for module in layer.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)  # the first block's strided conv and its 1x1 downsample
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            module.dilation, module.padding = (dilation, dilation), (dilation, dilation)


def conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def load_imagenet_weights(backbone: nn.Module, name: str) -> None:
    """torchvision's ImageNet weights for ``name``; a clear error when they cannot be had."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).IMAGENET1K_V1
    try:
        state = weights.get_state_dict(progress=False)
    except Exception as e:  # URLError, socket errors, ... offline
        raise RuntimeError(
            f"--pretrained: could not get torchvision's ImageNet weights for {name} "
            f"({weights.url}): {e}. Offline? Put the file in $TORCH_HOME/hub/checkpoints/ "
            "(default ~/.cache/torch/hub/checkpoints/) or train without --pretrained."
        ) from e
    backbone.load_state_dict(state)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ with a torchvision ResNet at output stride 8 and an auxiliary FCN head."""

    def __init__(
        self,
        num_classes: int = 21,
        backbone: str = "resnet50",
        aspp_channels: int = 512,
        aspp_rates: tuple[int, ...] = (12, 24, 36),
        decoder_channels: int = 512,
        skip_channels: int = 48,
        dropout: float = 0.1,
        pretrained: bool = False,
    ):
        super().__init__()
        import torchvision
        from torchvision.models.segmentation.deeplabv3 import ASPP
        from torchvision.models.segmentation.fcn import FCNHead

        resnet = torchvision.models.get_model(backbone, weights=None)
        if pretrained:
            load_imagenet_weights(resnet, backbone)
        dilate_(resnet.layer3, 2)
        dilate_(resnet.layer4, 4)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        low_channels = resnet.layer1[-1].conv1.in_channels  # 256 for ResNet-50, 64 for ResNet-18
        c3 = resnet.layer3[-1].conv1.in_channels  # 1024 / 256
        c4 = resnet.fc.in_features  # 2048 / 512

        self.aspp = ASPP(c4, list(aspp_rates), aspp_channels)
        self.skip = conv_bn_relu(low_channels, skip_channels, 1)  # the 48-channel low-level skip
        self.decoder = nn.Sequential(
            conv_bn_relu(aspp_channels + skip_channels, decoder_channels, 3),
            conv_bn_relu(decoder_channels, decoder_channels, 3),
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)  # `[K, D, 1, 1]` weight
        self.aux_head = FCNHead(c3, num_classes)  # 3x3 conv c3 -> c3/4 (256), 1x1 -> K
        self.num_classes, self.feat_dim = num_classes, decoder_channels

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        low = self.layer1(self.stem(x))  # `[B, 256, H/4, W/4]`
        c3 = self.layer3(self.layer2(low))  # `[B, 1024, H/8, W/8]`
        c4 = self.layer4(c3)  # `[B, 2048, H/8, W/8]`
        context = self.aspp(c4)  # `[B, 512, H/8, W/8]`
        context = F.interpolate(context, size=low.shape[2:], mode="bilinear", align_corners=False)
        features = self.decoder(torch.cat([context, self.skip(low)], 1))  # `[B, D, H/4, W/4]`
        logits = self.classifier(self.dropout(features))  # `[B, K, H/4, W/4]`
        aux = self.aux_head(c3) if self.training else None  # `[B, K, H/8, W/8]`
        return SegmentationOutput(features, logits, aux)


def build_model(cfg, pretrained: bool = False) -> DeepLabV3Plus:
    """The model of a ``VOCConfig``."""
    return DeepLabV3Plus(
        num_classes=cfg.num_classes, backbone=cfg.backbone, aspp_channels=cfg.aspp_channels,
        aspp_rates=cfg.aspp_rates, decoder_channels=cfg.decoder_channels,
        skip_channels=cfg.skip_channels, dropout=cfg.dropout,
        pretrained=pretrained,
    )  # fmt: skip
