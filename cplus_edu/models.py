"""Tiny models that return ``(features, logits)``, so a loss can look at the embedding.

Every model here ends in an embedding of a chosen dimension ``D`` (2 or 3 to draw it, larger to
learn well) and a classifier ``head`` with ``head.weight`` of shape ``[K, D]``:

- plain: ``logits = W f + b`` (``nn.Linear``);
- normalised (``normalize=True``): features are put on the unit sphere and the head is a cosine
  classifier, ``logits_k = s * cos(f, w_k)`` (NormFace; the C+1 paper's best setting uses
  L2-normalised features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.checks import check_positive_int


class CosineClassifier(nn.Module):
    """``logits[n, k] = scale * <f_n / |f_n|, w_k / |w_k|>``; ``weight`` is ``[K, D]``."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 16.0):
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.weight = nn.Parameter(torch.randn(num_classes, in_features) / in_features**0.5)
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: `[N, D]` -> logits `[N, K]`
        return self.scale * F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))


class _EmbeddingClassifier(nn.Module):
    """Shared tail: an embedding layer, optional L2 normalisation, and the classifier head."""

    def __init__(self, num_classes: int, embedding_dim: int, normalize: bool, scale: float):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("embedding_dim", embedding_dim)
        self.normalize = normalize
        self.head = (
            CosineClassifier(embedding_dim, num_classes, scale)
            if normalize
            else nn.Linear(embedding_dim, num_classes)
        )

    def classify(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = F.normalize(embedding, dim=1) if self.normalize else embedding
        return features, self.head(features)


class MLP(_EmbeddingClassifier):
    """``x [N, in_features] -> (features [N, D], logits [N, K])`` through ReLU hidden layers."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        embedding_dim: int = 2,
        hidden: tuple[int, ...] = (64, 64),
        normalize: bool = False,
        scale: float = 16.0,
    ):
        super().__init__(num_classes, embedding_dim, normalize, scale)
        check_positive_int("in_features", in_features)
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, embedding_dim))
        self.body = nn.Sequential(*layers)
        self.in_features = in_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have {self.in_features} features per sample, got shape {tuple(x.shape)}"
            )
        return self.classify(self.body(x))


class SmallCNN(_EmbeddingClassifier):
    """Two conv blocks and a linear embedding, for 28x28 (MNIST) or 32x32 (CIFAR) images.

    ``x [N, in_channels, H, W] -> (features [N, D], logits [N, K])``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        embedding_dim: int = 2,
        normalize: bool = False,
        scale: float = 16.0,
        width: int = 32,
    ):
        super().__init__(num_classes, embedding_dim, normalize, scale)
        check_positive_int("in_channels", in_channels)
        self.in_channels = in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, 128), nn.ReLU(),
            nn.Linear(128, embedding_dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        return self.classify(self.body(x))


class TinyFCN(nn.Module):
    """A fully-convolutional net that keeps the resolution (dilated 3x3 convs, no pooling).

    ``x [B, in_channels, H, W] -> (features [B, D, H, W], logits [B, M, H, W])``; the logits are a
    1x1 conv of the features, so a per-pixel loss can use either.
    """

    def __init__(
        self, in_channels: int = 3, num_outputs: int = 3, embedding_dim: int = 16, width: int = 32
    ):
        super().__init__()
        for name, value in [
            ("in_channels", in_channels),
            ("num_outputs", num_outputs),
            ("embedding_dim", embedding_dim),
            ("width", width),
        ]:
            check_positive_int(name, value)
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        c = in_channels
        for dilation in (1, 2, 4, 8):
            layers += [
                nn.Conv2d(c, width, 3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            c = width
        layers.append(nn.Conv2d(width, embedding_dim, 1))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(embedding_dim, num_outputs, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [B, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        features = self.body(x)
        return features, self.head(features)


class SEBlock(nn.Module):
    """Squeeze-and-excitation channel attention (Hu, Shen, Sun, CVPR 2018) on ``[N, C, H, W]``.

    ``a = sigmoid(W_2 relu(W_1 GAP(A)))`` ``[N, C]``, one weight in (0, 1) per channel and sample;
    the CC-loss (``cplus_edu.losses.channel_corr``) works on these vectors.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("reduction", reduction)
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(maps.mean((2, 3))))  # `[N, C]`


class ChannelAttentionCNN(nn.Module):
    """A small CNN whose last conv features pass an SE block, for the CC-loss chapter.

    ``x [N, in_channels, H, W]`` -> ``blocks`` conv blocks (conv 3x3, batch norm, ReLU, max-pool 2;
    widths ``width, 2 width, 4 width, ...``) -> ``A [N, Cc, h, w]`` (``Cc = 2^(blocks-1) width``) ->
    ``a = SE(A) [N, Cc]`` -> embedding ``e = GAP(A) * a`` ``[N, Cc]`` -> ``logits = W e + b``.
    ``forward`` returns ``(features, logits)`` with ``features`` the embedding
    (``features="embedding"``, for CE, focal or a margin head) or the attention vector ``a``
    (``features="attention"``, what the CC-loss with SE attention needs); ``parts(x)`` returns
    all of ``(pooled, attention, embedding, logits)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 16,
        features: str = "embedding",
        reduction: int = 4,
        blocks: int = 3,
    ):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        check_positive_int("width", width)
        check_positive_int("blocks", blocks)
        if features not in ("embedding", "attention"):
            raise ValueError(f"features must be 'embedding' or 'attention', got {features!r}")
        self.in_channels, self.features = in_channels, features
        layers: list[nn.Module] = []
        c = in_channels
        for out in (width * 2**k for k in range(blocks)):
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2)]  # fmt: skip
            c = out
        self.body = nn.Sequential(*layers)
        self.channels = c
        self.attention = SEBlock(c, reduction)
        self.head = nn.Linear(c, num_classes)

    def parts(self, x: torch.Tensor):
        """``(pooled GAP(A) [N, Cc], attention [N, Cc], embedding [N, Cc], logits [N, K])``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        maps = self.body(x)  # `[N, Cc, h, w]`
        attention = self.attention(maps)
        pooled = maps.mean((2, 3))
        embedding = pooled * attention  # GAP(A * a) = GAP(A) * a
        return pooled, attention, embedding, self.head(embedding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, attention, embedding, logits = self.parts(x)
        return (attention if self.features == "attention" else embedding), logits
