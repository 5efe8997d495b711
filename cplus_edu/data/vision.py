"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 as tensors, with deterministic class subsets.

Each loader returns ``(images, labels)``: ``images`` float32 in [0, 1] of shape ``[N, 1, 28, 28]``
(MNIST, Fashion-MNIST, ``load_cifar10_gray``) or ``[N, 3, 32, 32]`` (CIFAR), ``labels`` int64
``[N]`` with the dataset's own label numbers. ``classes`` keeps only those labels;
``n_per_class`` draws that many samples of each kept class with a seeded permutation, so the same
arguments always give the same subset.

Reading uses torchvision's datasets on their standard layouts under the data root (see
``cplus_edu.data.root``). Nothing is downloaded unless ``download=True``; then torchvision fetches
the files only when they are missing. When the files are missing and cannot be fetched, a
``DataNotFoundError`` says which files were expected where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cplus_edu.data.root import DataNotFoundError, data_root, missing_data_message

_MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def _check_split(split: str) -> bool:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split == "train"


def select(
    labels: torch.Tensor, classes: Sequence[int] | None, n_per_class: int | None, seed: int
) -> torch.Tensor:
    """Indices of the samples to keep: only ``classes`` and, per class, ``n_per_class`` of them.

    Deterministic: a seeded permutation per class picks the samples, returned in ascending order.
    """
    labels = torch.as_tensor(labels)
    present = torch.unique(labels).tolist()
    if classes is None:
        classes = present
    else:
        classes = [int(c) for c in classes]
        unknown = sorted(set(classes) - set(present))
        if unknown:
            raise ValueError(f"classes {unknown} are not in this dataset's labels {present}")
    if n_per_class is not None and (not isinstance(n_per_class, int) or n_per_class < 1):
        raise ValueError(f"n_per_class must be a positive int or None, got {n_per_class!r}")
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for c in classes:
        idx = torch.nonzero(labels == c).flatten()
        if n_per_class is not None:
            if n_per_class > len(idx):
                raise ValueError(
                    f"n_per_class={n_per_class} but class {c} has only {len(idx)} samples"
                )
            idx = idx[torch.randperm(len(idx), generator=generator)[:n_per_class]]
        keep.append(idx)
    return torch.sort(torch.cat(keep)).values


def _idx_dataset(
    cls_name: str, folder: str, split: str, classes, n_per_class, seed, download, root
):
    import torchvision

    train = _check_split(split)
    root = data_root(root)
    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True ..."
        expected = expected_mnist_files(root, folder)
        hint = (
            f"Call with download=True to fetch it with torchvision, or copy the four "
            f"uncompressed IDX files into {root / folder / 'raw'}."
        )
        raise DataNotFoundError(missing_data_message(cls_name, expected, hint)) from err
    except OSError as err:  # download failed: no network
        raise DataNotFoundError(f"{cls_name} could not be downloaded into {root}: {err}") from err
    keep = select(ds.targets, classes, n_per_class, seed)
    images = ds.data[keep].unsqueeze(1).float().div_(255.0)
    return images, ds.targets[keep].long()


def load_mnist(split="train", classes=None, n_per_class=None, seed=0, download=False, root=None):
    """MNIST digits: ``(images [N, 1, 28, 28] in [0, 1], labels [N])``; 60,000 / 10,000."""
    return _idx_dataset("MNIST", "MNIST", split, classes, n_per_class, seed, download, root)


def load_fashion_mnist(
    split="train", classes=None, n_per_class=None, seed=0, download=False, root=None
):
    """Fashion-MNIST clothes, same shapes and counts as MNIST."""
    return _idx_dataset(
        "FashionMNIST", "FashionMNIST", split, classes, n_per_class, seed, download, root
    )


def _decode_jpegs(paths: list[str]) -> torch.Tensor:
    """Decode image files to ``[N, 3, H, W]`` float in [0, 1] with Pillow."""
    from PIL import Image

    if not paths:
        return torch.zeros(0, 3, 32, 32)
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def load_cifar10(split="train", classes=None, n_per_class=None, seed=0, download=False, root=None):
    """CIFAR-10: ``(images [N, 3, 32, 32] in [0, 1], labels [N])``; 50,000 train / 10,000 test.

    Reads torchvision's ``cifar-10-batches-py`` when present, else the JPEG folder layout
    ``cifar10-jpeg/{train,test}/<class>/*.jpg`` (class order = sorted folder names, which is
    CIFAR-10's own label order), decoding only the selected files.
    """
    train = _check_split(split)
    root = data_root(root)
    jpeg_dir = root / "cifar10-jpeg" / split
    if not (root / "cifar-10-batches-py").exists() and jpeg_dir.is_dir():
        from torchvision.datasets import ImageFolder

        folder = ImageFolder(str(jpeg_dir))
        labels = torch.tensor(folder.targets)
        keep = select(labels, classes, n_per_class, seed)
        return _decode_jpegs([folder.samples[i][0] for i in keep.tolist()]), labels[keep]
    return _cifar_pickles(
        "CIFAR10",
        "cifar-10-batches-py",
        train,
        classes,
        n_per_class,
        seed,
        download,
        root,
        extra=[jpeg_dir / "<class>" / "NNNN.jpg"],
    )


def to_mnist_format(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """RGB images ``[N, 3, H, W]`` in [0, 1] -> greyscale ``[N, 1, size, size]`` in [0, 1], the
    shape of an MNIST digit (torchvision's ``rgb_to_grayscale``, luma 0.299 R + 0.587 G + 0.114 B,
    then an antialiased bilinear ``resize``). Brightness is not inverted: MNIST digits are light
    on black, natural images are not, which is part of what makes them *far* from the digits."""
    from torchvision.transforms.functional import resize, rgb_to_grayscale

    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be a [N, 3, H, W] tensor, got {shape}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    grey = rgb_to_grayscale(images.float(), num_output_channels=1)
    return resize(grey, [size, size], antialias=True).clamp_(0.0, 1.0)


def load_cifar10_gray(
    split="test", classes=None, n_per_class=None, seed=0, size=28, download=False, root=None
):
    """CIFAR-10 as MNIST-shaped greyscale images: ``(images [N, 1, size, size] in [0, 1],
    labels [N])``; the same subsets as ``load_cifar10`` (a far-away background for MNIST models)."""
    images, labels = load_cifar10(split, classes, n_per_class, seed, download, root)
    return to_mnist_format(images, size), labels


def load_cifar100(split="train", classes=None, n_per_class=None, seed=0, download=False, root=None):
    """CIFAR-100, fine labels: ``(images [N, 3, 32, 32] in [0, 1], labels [N])``; 50k / 10k."""
    train = _check_split(split)
    return _cifar_pickles(
        "CIFAR100", "cifar-100-python", train, classes, n_per_class, seed, download, data_root(root)
    )


def _cifar_pickles(cls_name, folder, train, classes, n_per_class, seed, download, root, extra=()):
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError as err:  # "Dataset not found or corrupted. You can use download=True ..."
        files = [name for name, _ in (cls.train_list if train else cls.test_list)]
        expected = [root / folder / f for f in files] + list(extra)
        hint = f"Call with download=True to fetch it with torchvision ({cls.url})."
        raise DataNotFoundError(missing_data_message(cls_name, expected, hint)) from err
    except OSError as err:
        raise DataNotFoundError(f"{cls_name} could not be downloaded into {root}: {err}") from err
    labels = torch.tensor(ds.targets)
    keep = select(labels, classes, n_per_class, seed)
    images = torch.from_numpy(np.ascontiguousarray(ds.data[keep.numpy()])).permute(0, 3, 1, 2)
    return images.float() / 255.0, labels[keep]


def load_digits_fallback(classes=None, n_per_class=None, seed=0):
    """scikit-learn's bundled 8x8 digits (1,797 images), upsampled to ``[N, 1, 28, 28]``.

    For a learner with no network and no MNIST copy: it ships inside scikit-learn, so it always
    loads. It is a much smaller and easier set than MNIST; say so wherever it stands in.
    """
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = torch.from_numpy(bunch.target).long()
    keep = select(labels, classes, n_per_class, seed)
    images = torch.from_numpy(bunch.images[keep.numpy()]).float().unsqueeze(1) / 16.0
    images = F.pad(
        F.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False), (4,) * 4
    )
    return images.clamp_(0, 1), labels[keep]


def expected_mnist_files(root=None, folder: str = "MNIST") -> list[Path]:
    """Where the MNIST (or ``folder="FashionMNIST"``) IDX files are read from."""
    return [data_root(root) / folder / "raw" / f for f in _MNIST_FILES]
