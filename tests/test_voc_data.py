"""cplus_edu.voc.data: the VOC / SBD / SegmentationClassAug layouts and mmseg's transforms."""

import numpy as np
import pytest
import torch
from PIL import Image

from cplus_edu.data import DataNotFoundError
from cplus_edu.voc import CorruptDataError, get_config, list_samples, write_voc_tree
from cplus_edu.voc.data import (
    IterationSampler,
    VOCTrainSet,
    random_crop,
    read_label,
    read_sample,
    rescale_factor,
    resize,
    train_transform,
)

SMOKE = get_config("cpu-smoke")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_voc_tree(tmp_path_factory.mktemp("voc"), n_train=6, n_val=3, sbd=True)


def test_splits_follow_torchvision_layouts(tree):
    from torchvision.datasets import VOCSegmentation

    train, val = list_samples("train", tree), list_samples("val", tree)
    ref = VOCSegmentation(str(tree), year="2012", image_set="train")
    assert [str(s.image) for s in train] == ref.images and len(val) == 3
    # trainaug = VOC train + SBD (train + val) - VOC val; a VOC image keeps VOC's PNG label
    aug = list_samples("trainaug", tree)
    stems = [s.image.stem for s in aug]
    assert len(stems) == len(set(stems)) == 6 + 4
    assert not set(stems) & {s.image.stem for s in val}
    assert sum(s.label.suffix == ".mat" for s in aug) == 4
    image, label = read_sample(aug[-1])
    assert image.shape[:2] == label.shape and set(np.unique(label)) <= {0, 1, 8, 15}


def test_segmentation_class_aug_is_preferred(tmp_path):
    root = write_voc_tree(tmp_path, n_train=3, n_val=2, aug=True)
    aug = list_samples("trainaug", root)
    assert len(aug) == 3 + 4
    assert sum("SegmentationClassAug" in str(s.label) for s in aug) == 4


def test_palette_labels_keep_void_borders(tree):
    sample = list_samples("train", tree)[0]
    with Image.open(sample.label) as im:
        assert im.mode == "P"
    label = read_label(sample.label)
    assert 255 in label and 0 in label


def test_missing_data_names_what_was_expected(tmp_path):
    with pytest.raises(DataNotFoundError, match="VOC2012"):
        list_samples("train", tmp_path)
    root = write_voc_tree(tmp_path / "t", n_train=2, n_val=1)
    with pytest.raises(DataNotFoundError, match="SBD"):
        list_samples("trainaug", root)
    sample = list_samples("train", root)[0]
    sample.image.unlink()
    with pytest.raises(DataNotFoundError, match=sample.image.name):
        read_sample(sample)


def test_corrupt_files_are_named(tmp_path):
    root = write_voc_tree(tmp_path, n_train=2, n_val=1)
    image_sample, label_sample = list_samples("train", root)
    image_sample.image.write_bytes(b"\xff\xd8\xff garbage, not a JPEG")
    with pytest.raises(CorruptDataError, match=image_sample.image.name):
        read_sample(image_sample)
    Image.new("RGB", (8, 8)).save(label_sample.label)
    with pytest.raises(CorruptDataError, match=f"{label_sample.label.name}.*mode RGB"):
        read_sample(label_sample)
    Image.fromarray(np.full((8, 8), 40, np.uint8)).save(label_sample.label)
    with pytest.raises(CorruptDataError, match="outside"):
        read_label(label_sample.label)


def test_rescale_matches_mmcv():
    # mmseg's VOC test resize: a 500x375 image into (2048, 512) -> short edge 512
    assert rescale_factor(375, 500, (2048, 512)) == pytest.approx(512 / 375)
    # a very wide image is bounded by the long edge instead
    assert rescale_factor(100, 1000, (2048, 512)) == pytest.approx(2.048)
    image, label = resize(np.zeros((375, 500, 3), np.uint8), np.zeros((375, 500), np.uint8),
                          512 / 375)  # fmt: skip
    assert image.shape == (512, 683, 3) and label.shape == (512, 683)


def test_random_crop_avoids_one_class_crops():
    label = np.zeros((100, 100), np.uint8)
    label[:, 80:] = 7  # only crops reaching x >= 80 hold two classes
    rng = np.random.default_rng(0)
    ok = 0
    for _ in range(50):
        _, crop = random_crop(np.zeros((100, 100, 3)), label, 40, 0.75, rng)
        values, counts = np.unique(crop, return_counts=True)
        ok += len(values) > 1 and counts.max() / counts.sum() < 0.75
    assert ok >= 40  # a single draw would succeed 1 time in 61 (offsets 51..60 of 0..60)


def test_train_transform_shapes_values_and_determinism(tree):
    image, label = read_sample(list_samples("train", tree)[0])
    x, y = train_transform(image, label, SMOKE, np.random.default_rng([0, 1, 2]))
    x2, y2 = train_transform(image, label, SMOKE, np.random.default_rng([0, 1, 2]))
    crop = SMOKE.crop_size
    assert x.shape == (3, crop, crop) and x.dtype == torch.float32 and y.shape == (crop, crop)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert set(y.unique().tolist()) <= {0, 1, 8, 15, 255}


def test_iteration_sampler_is_a_function_of_the_iteration():
    def batches(**kw):
        return [b for b in IterationSampler(10, 2, seed=3, **kw)]

    full = batches(start=0, stop=10, rank=0, world_size=2)
    assert batches(start=4, stop=10, rank=0, world_size=2) == full[4:]
    # the stream of global positions (iteration, rank, slot) visits every image once an epoch
    per_rank = [batches(start=0, stop=3, rank=r, world_size=2) for r in (0, 1)]
    stream = [i for it in range(3) for r in (0, 1) for i, _ in per_rank[r][it]]
    assert sorted(stream[:10]) == list(range(10)) and len(set(stream[10:])) == 2
    assert batches(start=0, stop=1, rank=0, world_size=2) != batches(
        start=0, stop=1, rank=1, world_size=2
    )


def test_train_set_reads_through_the_sampler(tree):
    ds = VOCTrainSet(list_samples("train", tree), SMOKE)
    (index, seed), *_ = next(iter(IterationSampler(len(ds), 2, seed=0, start=0, stop=1)))
    x, y = ds[(index, seed)]
    assert x.shape == (3, SMOKE.crop_size, SMOKE.crop_size)
