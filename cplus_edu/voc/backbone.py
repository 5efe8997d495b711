"""ResNetV1c (He et al., "Bag of Tricks for Image Classification", CVPR 2019), as mmseg's
``ResNetV1c`` with ``strides=(1, 2, 1, 1)``, ``dilations=(1, 1, 2, 4)``, ``contract_dilation=True``:
the backbone of ``deeplabv3plus_r50-d8_512x512_20k_voc12aug``.

::

    image [B, 3, H, W]
      stem: 3x3 conv 3->32 stride 2, 3x3 32->32, 3x3 32->64 (each + BN + ReLU), 3x3 max pool s2
      layer1 (stride 1)                          -> [B,  256, H/4, W/4]   (ResNet-50 widths)
      layer2 (stride 2)                          -> [B,  512, H/8, W/8]
      layer3 (dilation 2; its first block 1)     -> [B, 1024, H/8, W/8]
      layer4 (dilation 4; its first block 2)     -> [B, 2048, H/8, W/8]

"V1c" is the deep stem (three 3x3 convolutions instead of one 7x7); the stride sits in the 3x3
conv of a bottleneck ("pytorch" style), and the 1x1 ``downsample`` shortcut is a strided conv + BN.
Output stride 8: layer3 and layer4 keep the resolution and dilate their 3x3 convolutions instead.
``contract_dilation`` gives the *first* block of a dilated stage half the dilation (layer3: 1,
layer4: 2), so a stage starts at the dilation the previous one ended with.

Names follow mmseg's (``stem``, ``layer1.0.conv1``, ``bn1``, ``downsample.0`` ...), except the
stem, which is three ``ConvBNReLU`` here (``stem.0.conv`` for mmseg's ``stem.0``; see ``weights``).
"""

from __future__ import annotations

import torch
from torch import nn

from cplus_edu.voc.layers import ConvBNReLU


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34): ``[B, cin, H, W] -> [B, planes, H/stride, W/stride]``."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)  # mmseg: not dilated
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride, dilation), 1x1 expand x4 (ResNet-50/101)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


#: depth -> (block, blocks per stage), as mmseg's ``ResNet.arch_settings``
ARCHS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3)),
         101: (Bottleneck, (3, 4, 23, 3))}  # fmt: skip


def res_layer(block, cin: int, planes: int, blocks: int, stride: int, dilation: int,
              contract_dilation: bool) -> nn.Sequential:  # fmt: skip
    """One stage (mmseg's ``ResLayer``): a 1x1 strided conv + BN shortcut where the shape
    changes; the first block at ``dilation // 2`` when ``contract_dilation`` and dilated."""
    cout = planes * block.expansion
    downsample = None
    if stride != 1 or cin != cout:
        downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout))  # fmt: skip
    first = dilation // 2 if contract_dilation and dilation > 1 else dilation
    layers = [block(cin, planes, stride, first, downsample)]
    layers += [block(cout, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetV1c(nn.Module):
    """``forward(x)`` returns the four stages' outputs ``(c1, c2, c3, c4)``."""

    def __init__(self, depth: int = 50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                 contract_dilation: bool = True, stem_channels: int = 64):  # fmt: skip
        super().__init__()
        if depth not in ARCHS:
            raise ValueError(f"depth must be one of {sorted(ARCHS)}, got {depth!r}")
        block, stage_blocks = ARCHS[depth]
        half = stem_channels // 2
        self.stem = nn.Sequential(
            ConvBNReLU(3, half, 3, stride=2),  # mmseg stem.0 / stem.1
            ConvBNReLU(half, half, 3),  # stem.3 / stem.4
            ConvBNReLU(half, stem_channels, 3),  # stem.6 / stem.7
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem_channels
        for i, (blocks, stride, dilation) in enumerate(zip(stage_blocks, strides, dilations)):
            planes = 64 * 2**i
            self.add_module(f"layer{i + 1}", res_layer(block, cin, planes, blocks, stride,
                                                       dilation, contract_dilation))  # fmt: skip
            cin = planes * block.expansion
        self.channels = tuple(64 * 2**i * block.expansion for i in range(4))

    def init_weights(self) -> None:
        """mmseg's initialisation from scratch: mmcv's Kaiming convs and unit BN, and the last BN
        of every residual block at zero (``zero_init_residual``), so each block starts as the
        identity."""
        from cplus_edu.voc.layers import init_like_mmcv

        init_like_mmcv(self)
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.stem(x))  # `[B, 64, H/4, W/4]`
        c1 = self.layer1(x)  # `[B, 256, H/4, W/4]`
        c2 = self.layer2(c1)  # `[B, 512, H/8, W/8]`
        c3 = self.layer3(c2)  # `[B, 1024, H/8, W/8]`
        c4 = self.layer4(c3)  # `[B, 2048, H/8, W/8]`
        return c1, c2, c3, c4
