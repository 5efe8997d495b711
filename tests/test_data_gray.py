"""Greyscale, MNIST-shaped CIFAR-10 (chapter 02's far unseen background)."""

import os
from pathlib import Path

import pytest
import torch
from torchvision.transforms.functional import resize

from cplus_edu.data import load_cifar10, load_cifar10_gray, to_mnist_format

DATA = Path(os.environ.get("CPLUS_EDU_DATA", "~/.cache/cplus_edu")).expanduser()


def test_to_mnist_format_uses_luma_weights_and_resizes():
    colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.4, 0.6]])
    images = colours[:, :, None, None].expand(4, 3, 32, 32)  # flat colour patches
    grey = to_mnist_format(images)
    assert grey.shape == (4, 1, 28, 28) and grey.dtype == torch.float32
    luma = [0.299, 0.587, 0.114, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6]
    for image, value in zip(grey, luma):
        assert torch.allclose(image, torch.full_like(image, value), atol=1e-3)


def test_to_mnist_format_matches_a_slow_version_and_stays_in_range():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 32, 32)
    slow = torch.stack([0.2989 * im[0] + 0.587 * im[1] + 0.114 * im[2] for im in images])[:, None]
    expected = resize(slow, [14, 14], antialias=True)
    assert torch.allclose(to_mnist_format(images, size=14), expected.clamp(0, 1), atol=1e-6)
    out = to_mnist_format(torch.cat([torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)]))
    assert out.min() >= 0.0 and out.max() <= 1.0
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        to_mnist_format(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="size"):
        to_mnist_format(images, size=0)


@pytest.mark.skipif(
    not (DATA / "cifar10-jpeg" / "test").is_dir(),
    reason=f"the CIFAR-10 JPEG copy is not in the data root {DATA} (CI sets CPLUS_EDU_DATA)",
)
def test_load_cifar10_gray_on_the_offline_copy():
    x, y = load_cifar10_gray("test", classes=[0, 9], n_per_class=3)
    rgb, y_rgb = load_cifar10("test", classes=[0, 9], n_per_class=3)
    assert x.shape == (6, 1, 28, 28) and torch.equal(y, y_rgb)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    assert torch.allclose(x, to_mnist_format(rgb))
