"""The two building blocks of mmseg's heads (mmcv's ``ConvModule`` and
``DepthwiseSeparableConvModule``), and mmcv's weight initialisation.

- :class:`ConvBNReLU`: convolution (no bias: BN follows), BatchNorm, ReLU. Its children are
  named ``conv``, ``bn``, ``relu`` as in ``ConvModule``, so a state dict reads the same.
- :class:`SeparableConvBNReLU`: a depthwise 3x3 ``ConvBNReLU`` (one filter per channel,
  ``groups=in``) then a pointwise 1x1 ``ConvBNReLU``: BN and ReLU after *each* of the two, as
  mmcv's ``DepthwiseSeparableConvModule`` with ``norm_cfg`` and ``act_cfg`` set. Its weights:
  ``in * 9 + in * out`` instead of a full 3x3 conv's ``in * out * 9``.
"""

from __future__ import annotations

from torch import nn


class ConvBNReLU(nn.Sequential):
    """``[B, cin, H, W] -> [B, cout, H', W']``: conv (``kernel``, ``stride``, ``dilation``,
    'same' padding), BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 groups: int = 1):  # fmt: skip
        padding = dilation * (kernel // 2)
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise ``kernel x kernel`` conv + BN + ReLU, then pointwise 1x1 conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, dilation: int = 1):
        super().__init__()
        self.depthwise = ConvBNReLU(cin, cin, kernel, dilation=dilation, groups=cin)
        self.pointwise = ConvBNReLU(cin, cout, 1)


def init_like_mmcv(module: nn.Module) -> None:
    """mmcv's defaults: Kaiming-normal convs (fan_out, ReLU gain), BN weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
