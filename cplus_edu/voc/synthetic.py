"""A small VOC-format tree on disk, for tests and the CPU run of chapter 10.

``write_voc_tree(root)`` writes ``root/VOCdevkit/VOC2012`` exactly as the real data is laid out:
JPEG images, *palette* PNG labels (VOC's colour map; pixel value = class, 255 = void) with a void
band along every object's border as VOC draws it, and the ``ImageSets/Segmentation`` lists. With
``sbd=True`` it also writes torchvision's SBD layout (``SBD/img``, ``SBD/cls/*.mat`` with
``GTcls.Segmentation``, ``train.txt``/``val.txt``); with ``aug=True`` mmseg's
``SegmentationClassAug`` folder. Each image is a textured background with a few ellipses and
rectangles of a few classes, each class with its own colour, so a model can learn something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def voc_palette() -> list[int]:
    """VOC's 256-entry colour map (the bit-interleaving one of the devkit), flattened RGB."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def _scene(rng: np.random.Generator, height: int, width: int, classes) -> tuple:
    """``[H, W, 3]`` uint8 image and ``[H, W]`` uint8 label with void borders."""
    yy, xx = np.mgrid[:height, :width]
    base = rng.integers(60, 120)
    image = base + 25 * np.sin(xx / rng.uniform(2, 6)) * np.cos(yy / rng.uniform(2, 6))
    image = np.repeat(image[..., None], 3, axis=2) + rng.normal(0, 8, (height, width, 3))
    label = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.choice(classes))
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.12, 0.3) * height, rng.uniform(0.12, 0.3) * width
        if rng.random() < 0.5:
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        colour = np.array(voc_palette()[3 * k : 3 * k + 3], float) * 0.6 + 50
        image[inside] = colour + rng.normal(0, 10, (int(inside.sum()), 3))
        label[inside] = k
    # VOC's void band: pixels whose 3x3 neighbourhood holds two classes
    padded = np.pad(label, 1, mode="edge")
    neighbours = np.stack([padded[dy : dy + height, dx : dx + width]
                           for dy in range(3) for dx in range(3)])  # fmt: skip
    label[(neighbours != label).any(0)] = 255
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_voc_tree(root, n_train: int = 8, n_val: int = 4, size: tuple[int, int] = (48, 64),
                   classes=(1, 8, 15), seed: int = 0, sbd: bool = False, n_sbd: int = 4,
                   aug: bool = False) -> Path:  # fmt: skip
    """Write the tree under ``root`` (``size`` is (height, width), varied by +-25 %); returns
    ``root``, to pass as ``--data-root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    voc = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    palette = voc_palette()

    def scene():
        h = int(size[0] * rng.uniform(0.75, 1.25))
        w = int(size[1] * rng.uniform(0.75, 1.25))
        return _scene(rng, h, w, classes)

    def write_png(label, path, mode="P"):
        im = Image.fromarray(label, mode="L")
        if mode == "P":
            im = im.convert("P")
            im.putpalette(palette)
            im.frombytes(label.tobytes())  # keep the indices exactly
        im.save(path)

    splits = {"train": [f"2007_{i:06d}" for i in range(n_train)],
              "val": [f"2008_{i:06d}" for i in range(n_val)]}  # fmt: skip
    for ids in splits.values():
        for name in ids:
            image, label = scene()
            Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
            write_png(label, voc / "SegmentationClass" / f"{name}.png")
    lists = voc / "ImageSets" / "Segmentation"
    (lists / "train.txt").write_text("".join(f"{i}\n" for i in splits["train"]))
    (lists / "val.txt").write_text("".join(f"{i}\n" for i in splits["val"]))
    (lists / "trainval.txt").write_text("".join(f"{i}\n" for i in splits["train"] + splits["val"]))
    extra = [f"2009_{i:06d}" for i in range(n_sbd)]
    # SBD also covers some VOC images (one train, one val): trainaug must not take them twice
    sbd_ids = extra + splits["train"][:1] + splits["val"][:1]
    if sbd:
        from scipy.io import savemat

        sbd_root = root / "SBD"
        (sbd_root / "img").mkdir(parents=True, exist_ok=True)
        (sbd_root / "cls").mkdir(parents=True, exist_ok=True)
        for name in sbd_ids:
            if name in extra:
                image, label = scene()
            else:
                image = np.asarray(Image.open(voc / "JPEGImages" / f"{name}.jpg"))
                label = np.asarray(Image.open(voc / "SegmentationClass" / f"{name}.png"))
            label = np.where(label == 255, 0, label).astype(np.uint8)  # SBD has no void band
            Image.fromarray(image).save(sbd_root / "img" / f"{name}.jpg", quality=95)
            savemat(sbd_root / "cls" / f"{name}.mat",
                    {"GTcls": {"Segmentation": label, "Boundaries": np.zeros(1),
                               "CategoriesPresent": np.unique(label)}})  # fmt: skip
        half = len(sbd_ids) // 2
        (sbd_root / "train.txt").write_text("".join(f"{i}\n" for i in sbd_ids[:half]))
        (sbd_root / "val.txt").write_text("".join(f"{i}\n" for i in sbd_ids[half:]))
    if aug:
        aug_dir = voc / "SegmentationClassAug"
        aug_dir.mkdir(exist_ok=True)
        for name in sbd_ids:
            if name in extra:
                image, label = scene()
                Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
            else:
                label = np.asarray(Image.open(voc / "SegmentationClass" / f"{name}.png"))
            write_png(
                np.where(label == 255, 0, label).astype(np.uint8), aug_dir / f"{name}.png", mode="L"
            )
        (lists / "aug.txt").write_text("".join(f"{i}\n" for i in sbd_ids))
    return root
