"""The data layer: one root, offline errors that say what is missing, deterministic subsets."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cplus_edu.data import (
    DataNotFoundError,
    data_root,
    load_cifar10,
    load_cifar100,
    load_digits_fallback,
    load_fashion_mnist,
    load_mnist,
    make_cplus_one_data,
    to_cplus_one_labels,
)
from cplus_edu.data.vision import select

SHARED = Path(os.environ.get("CPLUS_EDU_DATA", "~/.cache/cplus_edu")).expanduser()
HAS_MNIST = (SHARED / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
# Skipped only on a machine without the files; under CI (env CI set) a missing copy fails instead.
needs_mnist = pytest.mark.skipif(
    not HAS_MNIST and not os.environ.get("CI"),
    reason=f"real MNIST is not in the data root {SHARED} (CI sets CPLUS_EDU_DATA)",
)


def test_data_root_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("CPLUS_EDU_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("CPLUS_EDU_DATA")
    assert data_root() == Path("~/.cache/cplus_edu").expanduser()
    assert data_root(tmp_path / "x") == tmp_path / "x"


@pytest.mark.parametrize(
    "loader, folder", [(load_mnist, "MNIST"), (load_fashion_mnist, "FashionMNIST")]
)
def test_missing_idx_files_name_the_expected_paths(empty_data_root, loader, folder):
    with pytest.raises(DataNotFoundError) as err:
        loader()
    msg = str(err.value)
    assert str(empty_data_root / folder / "raw" / "train-images-idx3-ubyte") in msg
    assert "download=True" in msg and "CPLUS_EDU_DATA" in msg


@pytest.mark.parametrize(
    "loader, folder", [(load_cifar10, "cifar-10-batches-py"), (load_cifar100, "cifar-100-python")]
)
def test_missing_cifar_names_the_expected_paths(empty_data_root, loader, folder):
    with pytest.raises(DataNotFoundError, match=str(empty_data_root / folder)):
        loader("test")


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


@needs_mnist
def test_real_mnist_counts_and_range():
    x, y = load_mnist("train")
    assert x.shape == (60000, 1, 28, 28) and y.shape == (60000,)
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() == 1.0
    xt, yt = load_mnist("test")
    assert len(xt) == 10000 and set(yt.tolist()) == set(range(10))
    xf, _ = load_fashion_mnist("test")
    assert xf.shape == (10000, 1, 28, 28)


@needs_mnist
def test_subset_is_deterministic_and_filtered():
    a, ya = load_mnist("train", classes=[3, 5], n_per_class=50, seed=7)
    b, yb = load_mnist("train", classes=[3, 5], n_per_class=50, seed=7)
    c, _ = load_mnist("train", classes=[3, 5], n_per_class=50, seed=8)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    assert sorted(ya.tolist()) == [3] * 50 + [5] * 50


@pytest.mark.skipif(
    not (SHARED / "cifar10-jpeg").exists() and not os.environ.get("CI"),
    reason="no CIFAR-10 JPEG copy in the data root",
)
def test_cifar10_jpeg_layout():
    x, y = load_cifar10("test", classes=[0, 9], n_per_class=4)
    assert x.shape == (8, 3, 32, 32) and sorted(y.tolist()) == [0] * 4 + [9] * 4
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05


def _write_fake_cifar100(root: Path, n_train=30, n_test=20):
    """CIFAR-100's real on-disk format: pickled dicts with b'data' [N, 3072] and b'fine_labels'."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [("train", n_train), ("test", n_test)]:
        entry = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "fine_labels": [i % 100 for i in range(n)],
            "coarse_labels": [0] * n,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)
    return folder


def test_cifar100_through_torchvision_on_generated_files(empty_data_root, monkeypatch):
    import torchvision

    _write_fake_cifar100(empty_data_root)
    # the generated files cannot match torchvision's MD5 sums; everything else is the real reader
    monkeypatch.setattr(torchvision.datasets.CIFAR100, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: True)
    x, y = load_cifar100("test")
    assert x.shape == (20, 3, 32, 32) and y.tolist() == list(range(20))
    x, y = load_cifar100("train", classes=[1, 2], n_per_class=1)
    assert y.tolist() == [1, 2]


def test_select_errors_name_the_argument():
    labels = torch.tensor([0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="classes"):
        select(labels, [7], None, 0)
    with pytest.raises(ValueError, match="n_per_class"):
        select(labels, None, 3, 0)
    with pytest.raises(ValueError, match="n_per_class"):
        select(labels, None, 0, 0)


def test_digits_fallback_shapes():
    x, y = load_digits_fallback(classes=[0, 1], n_per_class=10)
    assert x.shape == (20, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert sorted(y.tolist()) == [0] * 10 + [1] * 10


def test_to_cplus_one_labels():
    out = to_cplus_one_labels(torch.tensor([3, 7, 1, 7]), [7, 3])
    assert out.tolist() == [2, 1, 0, 1]
    with pytest.raises(ValueError, match="classes_of_interest"):
        to_cplus_one_labels(torch.tensor([1]), [1, 1])
    with pytest.raises(TypeError, match="labels"):
        to_cplus_one_labels(torch.tensor([1.0]), [1])


def test_synthetic_generator_layout_and_determinism():
    d = make_cplus_one_data(num_classes=3, n_per_class=50, n_background=90, dim=2, seed=1)
    assert d.x.shape == (240, 2) and d.num_classes == 4
    assert d.y.bincount().tolist() == [90, 50, 50, 50]
    assert d.style[d.y == 0].bincount().tolist() == [0, 30, 30, 30]
    assert torch.allclose(d.centers.norm(dim=1), torch.ones(3))
    # classes of interest are compact around their centres; uniform background keeps away
    for k in range(3):
        assert (d.x[d.y == k + 1] - d.centers[k]).norm(dim=1).mean() < 3 * d.cluster_std
    uniform = d.x[d.style == 1]
    assert torch.cdist(uniform, d.centers).min() > 4 * d.cluster_std
    e = make_cplus_one_data(num_classes=3, n_per_class=50, n_background=90, dim=2, seed=1)
    assert torch.equal(d.x, e.x)


def test_synthetic_novel_style_is_new_and_near_the_classes():
    d = make_cplus_one_data(num_classes=4, dim=8, seed=0)
    novel = d.novel_background(300, seed=2)
    assert novel.shape == (300, 8)
    # closer to the class centres than any training background style is on average
    near_novel = torch.cdist(novel, d.centers).min(dim=1).values.mean()
    near_train_bg = torch.cdist(d.x[d.y == 0], d.centers).min(dim=1).values.mean()
    assert near_novel < near_train_bg


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"dim": 1}, "dim"),
        ({"cluster_std": 0.0}, "cluster_std"),
    ],
)
def test_synthetic_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_cplus_one_data(**kwargs)
