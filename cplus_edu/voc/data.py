"""PASCAL VOC 2012 + SBD ("trainaug") on their standard layouts, with mmsegmentation's transforms.

Layouts (under the data root ``$CPLUS_EDU_DATA``, see ``cplus_edu.data.data_root``):

- VOC 2012, torchvision's ``VOCSegmentation`` layout: ``VOCdevkit/VOC2012/JPEGImages/<id>.jpg``,
  ``SegmentationClass/<id>.png`` (palette PNGs: the pixel value is the class, 255 = void) and
  ``ImageSets/Segmentation/{train,val,trainval}.txt``;
- SBD, torchvision's ``SBDataset`` layout: ``SBD/img/<id>.jpg``, ``SBD/cls/<id>.mat``
  (``GTcls.Segmentation``) and ``SBD/{train,val}.txt``;
- or mmsegmentation's converted SBD: ``VOCdevkit/VOC2012/SegmentationClassAug/<id>.png``
  (with ``ImageSets/Segmentation/aug.txt`` if mmseg's ``voc_aug.py`` wrote it); it is preferred
  when present.

``trainaug`` is VOC ``train`` plus every SBD image (train and val), minus VOC ``val``: 10,582
images on the real data. A VOC image keeps VOC's own label. Void (255) is ignored everywhere.
A missing file is a ``DataNotFoundError`` naming it; an unreadable or wrong file is a
``CorruptDataError`` naming it.

The training transforms are mmseg's, in its order, each drawing from one ``numpy`` generator
seeded by ``(seed, iteration, slot)`` (so a resumed run sees exactly the same crops):
random rescale of ``img_scale`` by a ratio in ``ratio_range`` keeping the aspect ratio, random crop
(the most frequent class at most ``cat_max_ratio`` of the crop), horizontal flip, photometric
distortion (brightness, contrast, saturation, hue, as ``PhotoMetricDistortion``), normalisation
with ImageNet's mean/std and padding to the crop (image 0, label 255). One difference: mmcv goes
through OpenCV's 8-bit HSV (hue in 180 steps); we use PIL's (hue in 256 steps, the shift of
+-18 OpenCV steps = +-36 degrees rescaled), to need no OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cplus_edu.data.root import DataNotFoundError, data_root

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
IGNORE_INDEX = 255
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # ImageNet, RGB, as mmseg
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
SPLITS = ("train", "val", "trainval", "trainaug")


class CorruptDataError(ValueError):
    """A dataset file exists but cannot be read, or holds something a VOC file cannot hold."""


@dataclass(frozen=True)
class Sample:
    image: Path  # a JPEG
    label: Path  # a palette/grey PNG or an SBD .mat


def voc_dir(root=None) -> Path:
    """``<data root>/VOCdevkit/VOC2012``."""
    return data_root(root) / "VOCdevkit" / "VOC2012"


def sbd_dir(root=None) -> Path:
    """``<data root>/SBD`` (torchvision ``SBDataset`` layout)."""
    return data_root(root) / "SBD"


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise DataNotFoundError(f"split list {path} does not exist")
    return [line.strip().split()[0] for line in path.read_text().splitlines() if line.strip()]


def _voc_samples(root, split: str) -> list[Sample]:
    """VOC's own split, through torchvision's ``VOCSegmentation`` (which knows the layout)."""
    from torchvision.datasets import VOCSegmentation

    voc = voc_dir(root)
    expected = [voc / "JPEGImages", voc / "SegmentationClass", voc / "ImageSets" / "Segmentation"]
    missing = [p for p in expected if not p.is_dir()]
    if missing:
        raise DataNotFoundError(
            f"PASCAL VOC 2012 was not found: missing {', '.join(map(str, missing))}. Put the "
            f"VOCtrainval_11-May-2012 tree at {voc} (data root from $CPLUS_EDU_DATA)."
        )
    _read_ids(voc / "ImageSets" / "Segmentation" / f"{split}.txt")  # names the list if missing
    ds = VOCSegmentation(str(data_root(root)), year="2012", image_set=split, download=False)
    return [Sample(Path(i), Path(t)) for i, t in zip(ds.images, ds.targets)]


def _aug_samples(root) -> list[Sample]:
    """The SBD images: mmseg's ``SegmentationClassAug`` if present, else the SBD layout."""
    voc = voc_dir(root)
    aug = voc / "SegmentationClassAug"
    if aug.is_dir():
        aug_list = voc / "ImageSets" / "Segmentation" / "aug.txt"
        ids = (
            _read_ids(aug_list) if aug_list.is_file() else sorted(p.stem for p in aug.glob("*.png"))
        )
        return [Sample(voc / "JPEGImages" / f"{i}.jpg", aug / f"{i}.png") for i in ids]
    sbd = sbd_dir(root)
    if not (sbd / "img").is_dir() or not (sbd / "cls").is_dir():
        raise DataNotFoundError(
            f"the SBD augmentation was not found: expected {aug} (mmseg) or {sbd}/img, "
            f"{sbd}/cls and {sbd}/train.txt, {sbd}/val.txt (torchvision SBDataset layout). "
            "Use --config ... with train_split='train' to train on VOC's 1,464 images only."
        )
    from torchvision.datasets import SBDataset

    samples = []
    for split in ("train", "val"):
        _read_ids(sbd / f"{split}.txt")
        ds = SBDataset(str(sbd), image_set=split, mode="segmentation", download=False)
        samples += [Sample(Path(i), Path(m)) for i, m in zip(ds.images, ds.masks)]
    return samples


def list_samples(split: str, root=None) -> list[Sample]:
    """The (image, label) files of ``split`` (one of ``SPLITS``), in a fixed order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split != "trainaug":
        return _voc_samples(root, split)
    train = _voc_samples(root, "train")
    val_ids = {s.image.stem for s in _voc_samples(root, "val")}
    seen = {s.image.stem for s in train}
    extra = {}
    for s in _aug_samples(root):
        if s.image.stem not in seen and s.image.stem not in val_ids:
            extra[s.image.stem] = s
    return train + [extra[k] for k in sorted(extra)]


# --- decoding ------------------------------------------------------------------------------------


def read_image(path: Path) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB; a missing or unreadable file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"image file {path} does not exist")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptDataError(f"cannot read image file {path}: {e}") from e


def read_label(path: Path, num_classes: int = 21) -> np.ndarray:
    """``[H, W]`` uint8 class map (255 = void) from a palette/grey PNG or an SBD ``.mat``."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"label file {path} does not exist")
    try:
        if path.suffix == ".mat":
            from scipy.io import loadmat

            label = np.asarray(loadmat(str(path))["GTcls"][0]["Segmentation"][0], dtype=np.uint8)
        else:
            with Image.open(path) as im:
                if im.mode not in ("P", "L"):
                    raise CorruptDataError(
                        f"label file {path} has PIL mode {im.mode}; VOC labels are palette (P) "
                        "or grey (L) PNGs whose pixel values are class indices"
                    )
                label = np.asarray(im)
    except CorruptDataError:
        raise
    except (OSError, SyntaxError, ValueError, KeyError, IndexError) as e:
        raise CorruptDataError(f"cannot read label file {path}: {e!r}") from e
    bad = (label >= num_classes) & (label != IGNORE_INDEX)
    if bad.any():
        raise CorruptDataError(
            f"label file {path} holds values {sorted(set(np.unique(label[bad]).tolist()))[:5]} "
            f"outside [0, {num_classes - 1}] and {IGNORE_INDEX}"
        )
    return label


def read_sample(sample: Sample, num_classes: int = 21) -> tuple[np.ndarray, np.ndarray]:
    image, label = read_image(sample.image), read_label(sample.label, num_classes)
    if image.shape[:2] != label.shape:
        raise CorruptDataError(
            f"image {sample.image} is {image.shape[:2]} but its label {sample.label} is "
            f"{label.shape}"
        )
    return image, label


# --- mmseg's transforms on numpy arrays -------------------------------------------------------


def rescale_factor(h: int, w: int, scale: tuple[float, float]) -> float:
    """mmcv's ``rescale`` with keep_ratio: the largest factor keeping the long edge within
    ``max(scale)`` and the short edge within ``min(scale)``."""
    return min(max(scale) / max(h, w), min(scale) / min(h, w))


def resize(image: np.ndarray, label: np.ndarray | None, factor: float):
    """Image bilinear, label nearest, to ``int(size * factor + 0.5)`` as mmcv."""
    h, w = image.shape[:2]
    size = (int(w * factor + 0.5), int(h * factor + 0.5))  # PIL wants (width, height)
    image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    if label is not None:
        label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
    return image, label


def random_crop(image, label, crop: int, cat_max_ratio: float, rng: np.random.Generator):
    """mmseg's ``RandomCrop``: up to 10 re-draws while one class covers >= cat_max_ratio."""

    def bbox():
        y = int(rng.integers(0, max(image.shape[0] - crop, 0) + 1))
        x = int(rng.integers(0, max(image.shape[1] - crop, 0) + 1))
        return y, x

    y, x = bbox()
    if cat_max_ratio < 1.0:
        for _ in range(10):
            values, counts = np.unique(label[y : y + crop, x : x + crop], return_counts=True)
            counts = counts[values != IGNORE_INDEX]
            if len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio:
                break
            y, x = bbox()
    return image[y : y + crop, x : x + crop], label[y : y + crop, x : x + crop]


def photometric_distortion(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """mmseg's ``PhotoMetricDistortion``: each change with probability 1/2, contrast before or
    after the HSV changes at random; like mmcv, the image is rounded to uint8 after each change
    and HSV is 8-bit (PIL's, hue in 256 steps instead of OpenCV's 180). ``[H, W, 3]`` uint8."""

    def convert(img, alpha=1.0, beta=0.0):
        return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    def contrast(img):
        return convert(img, alpha=rng.uniform(0.5, 1.5)) if rng.integers(2) else img

    img = image
    if rng.integers(2):  # brightness: + delta in [-32, 32]
        img = convert(img, beta=rng.uniform(-32, 32))
    contrast_first = bool(rng.integers(2))
    if contrast_first:
        img = contrast(img)
    do_sat, do_hue = bool(rng.integers(2)), bool(rng.integers(2))
    if do_sat or do_hue:
        hsv = np.array(Image.fromarray(img).convert("HSV"))
        if do_sat:  # saturation x [0.5, 1.5]
            hsv[..., 1] = convert(hsv[..., 1], alpha=rng.uniform(0.5, 1.5))
        if do_hue:  # hue + [-18, 18] OpenCV units (of 180), here in PIL's 256 steps
            shift = round(int(rng.integers(-18, 19)) * 256 / 180)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 256).astype(np.uint8)
        img = np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"))
    if not contrast_first:
        img = contrast(img)
    return img


def normalize(image: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` 0..255 -> ``[3, H, W]`` float32 with ImageNet mean/std."""
    return torch.from_numpy(((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).copy())


def train_transform(image, label, cfg, rng: np.random.Generator):
    """The whole training pipeline: ``[3, crop, crop]`` float32 and ``[crop, crop]`` int64."""
    ratio = rng.uniform(*cfg.ratio_range)
    target = (cfg.img_scale[0] * ratio, cfg.img_scale[1] * ratio)
    image, label = resize(image, label, rescale_factor(*image.shape[:2], target))
    image, label = random_crop(image, label, cfg.crop_size, cfg.cat_max_ratio, rng)
    if rng.random() < cfg.flip_prob:
        image, label = image[:, ::-1], label[:, ::-1]
    image = photometric_distortion(image, rng) if cfg.photometric else image
    h, w = label.shape
    x = torch.zeros(3, cfg.crop_size, cfg.crop_size)  # mmseg's Pad: image 0 after normalising,
    y = torch.full((cfg.crop_size, cfg.crop_size), IGNORE_INDEX, dtype=torch.int64)  # label void
    x[:, :h, :w] = normalize(image)
    y[:h, :w] = torch.from_numpy(label.astype(np.int64))
    return x, y


def test_transform(image, cfg) -> torch.Tensor:
    """Resize keeping the ratio into ``img_scale`` and normalise (the label stays as it is)."""
    image, _ = resize(image, None, rescale_factor(*image.shape[:2], cfg.img_scale))
    return normalize(image)


class VOCTrainSet(Dataset):
    """Indexed by ``(sample index, rng seed sequence)`` pairs from ``IterationSampler``."""

    def __init__(self, samples: list[Sample], cfg):
        if not samples:
            raise DataNotFoundError("the training split lists no image")
        self.samples, self.cfg = samples, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item):
        index, seed = item
        image, label = read_sample(self.samples[index], self.cfg.num_classes)
        return train_transform(image, label, self.cfg, np.random.default_rng(list(seed)))


class VOCEvalSet(Dataset):
    """``(image [3, h, w] resized, label [H, W] at the original size)``, one image per batch."""

    def __init__(self, samples: list[Sample], cfg):
        if not samples:
            raise DataNotFoundError("the evaluation split lists no image")
        self.samples, self.cfg = samples, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        image, label = read_sample(self.samples[index], self.cfg.num_classes)
        return test_transform(image, self.cfg), torch.from_numpy(label.astype(np.int64))


class IterationSampler:
    """Batches of ``(index, seed)`` for iterations ``start .. stop - 1`` on one rank.

    The data stream is a function of the iteration alone: epoch ``e`` visits the images in the
    order of a permutation seeded by ``(seed, e)``, the global batch of iteration ``i`` is the
    next ``global_batch`` images of that stream, and rank ``r`` takes its ``batch`` consecutive
    ones. Each image's augmentation is seeded by ``(seed, i, slot)``. A run resumed at
    iteration ``k`` therefore sees exactly what an uninterrupted run sees from ``k`` on.
    """

    def __init__(self, n: int, batch: int, *, seed: int, start: int, stop: int, rank: int = 0,
                 world_size: int = 1):  # fmt: skip
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.stop, self.rank, self.world_size = start, stop, rank, world_size
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:  # a few dozen epochs of ints at paper scale: keep them
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perms[epoch]

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def __iter__(self):
        global_batch = self.batch * self.world_size
        for it in range(self.start, self.stop):
            batch = []
            for j in range(self.batch):
                slot = self.rank * self.batch + j
                pos = it * global_batch + slot
                batch.append((int(self._perm(pos // self.n)[pos % self.n]), (self.seed, it, slot)))
            yield batch
