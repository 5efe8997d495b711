"""mmseg's two heads of ``deeplabv3plus_r50-d8``: ``DepthwiseSeparableASPPHead`` (DeepLabV3+'s
ASPP and decoder, Chen et al., ECCV 2018) and the auxiliary ``FCNHead``.

:class:`SeparableASPPDecoder`, with ResNet-50 widths and 512 channels::

    c4 [B, 2048, H/8, W/8]
      image pool: global average -> 1x1 ConvBNReLU 2048->512 -> broadcast to H/8 x W/8 ─┐
      1x1 ConvBNReLU 2048->512                                                          │ concat
      separable 3x3 ConvBNReLU 2048->512 at dilation 12, 24, 36 (three branches)        ┘ 2560
      bottleneck: a full 3x3 ConvBNReLU 2560->512 -> bilinear x2 to H/4 ─┐
    c1 [B, 256, H/4, W/4] -> skip: 1x1 ConvBNReLU 256->48 ────────────────┘ concat 560
      decoder: separable 3x3 ConvBNReLU 560->512, separable 3x3 ConvBNReLU 512->512
      -> features [B, 512, H/4, W/4]

(mmseg names: ``image_pool``, ``aspp_modules``, ``bottleneck``, ``c1_bottleneck``,
``sep_bottleneck``; ours: ``image_pool``, ``aspp``, ``bottleneck``, ``skip``, ``decoder``.) The
dropout (``Dropout2d`` 0.1) and the 1x1 classifier that mmseg's head applies last
(``cls_seg``) sit in the model, after the features the C+1 loss uses.

:class:`FCNHead` (``num_convs=1``, ``concat_input=False``): 3x3 ConvBNReLU 1024->256,
``Dropout2d`` 0.1, 1x1 classifier, on layer3's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.voc.layers import ConvBNReLU, SeparableConvBNReLU


class SeparableASPPDecoder(nn.Module):
    """``forward(c1, c4)`` -> features ``[B, channels, H/4, W/4]`` (before dropout/classifier)."""

    def __init__(self, in_channels: int = 2048, low_channels: int = 256, channels: int = 512,
                 rates: tuple[int, ...] = (12, 24, 36), skip_channels: int = 48,
                 decoder_channels: int = 512):  # fmt: skip
        super().__init__()
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                        ConvBNReLU(in_channels, channels, 1))  # fmt: skip
        self.aspp = nn.ModuleList(
            [ConvBNReLU(in_channels, channels, 1)]
            + [SeparableConvBNReLU(in_channels, channels, 3, dilation=r) for r in rates]
        )
        self.bottleneck = ConvBNReLU((len(rates) + 2) * channels, channels, 3)
        self.skip = ConvBNReLU(low_channels, skip_channels, 1)
        self.decoder = nn.Sequential(
            SeparableConvBNReLU(channels + skip_channels, decoder_channels, 3),
            SeparableConvBNReLU(decoder_channels, decoder_channels, 3),
        )

    def forward(self, c1: torch.Tensor, c4: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pool(c4)  # `[B, 512, 1, 1]`
        branches = [F.interpolate(pooled, size=c4.shape[2:], mode="bilinear", align_corners=False)]
        branches += [branch(c4) for branch in self.aspp]  # 4 x `[B, 512, H/8, W/8]`
        context = self.bottleneck(torch.cat(branches, 1))  # `[B, 512, H/8, W/8]`
        context = F.interpolate(context, size=c1.shape[2:], mode="bilinear", align_corners=False)
        return self.decoder(torch.cat([context, self.skip(c1)], 1))  # `[B, 512, H/4, W/4]`


class FCNHead(nn.Sequential):
    """``[B, in, h, w] -> [B, K, h, w]``: 3x3 ConvBNReLU to ``channels``, dropout, 1x1 conv."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, dropout: float = 0.1):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
