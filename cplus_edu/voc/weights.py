"""ImageNet weights for the ResNetV1c backbone (``--backbone-weights open-mmlab|PATH|none``).

- ``open-mmlab``: the checkpoint mmseg's config names, ``open-mmlab://resnet50_v1c`` (mmcv's model
  zoo entry for ``https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth``),
  fetched once through ``torch.hub`` into ``$TORCH_HOME/hub/checkpoints`` (needs the internet);
- a path: a torch file with a backbone state dict in mmcv's naming (that file, or a full mmseg
  checkpoint, whose ``backbone.`` entries are taken) or in timm's ``resnet50c`` naming;
- ``none``: no ImageNet weights (mmseg's random initialisation).

mmcv's names are ours except for the deep stem, which is a plain ``nn.Sequential`` in mmcv
and three ``ConvBNReLU`` here; timm keeps the first two stem convs in ``conv1`` and the last BN
as ``bn1``. The ImageNet classifier (``fc``) is dropped::

    mmcv          timm          ours
    stem.0        conv1.0       stem.0.conv      3x3 conv 3->32, stride 2
    stem.1        conv1.1       stem.0.bn
    stem.3        conv1.3       stem.1.conv      3x3 conv 32->32
    stem.4        conv1.4       stem.1.bn
    stem.6        conv1.6       stem.2.conv      3x3 conv 32->64
    stem.7        bn1           stem.2.bn
    layerN.M.conv1, bn1, ..., downsample.0, downsample.1: the same in all three

Every tensor of our backbone must come from the file (BatchNorm's ``num_batches_tracked``,
absent from older checkpoints, excepted) and every tensor of the file must find its place, or
the load fails naming the keys: a silently half-loaded backbone would train, badly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: mmcv's model zoo (``open-mmlab://<name>``), by backbone
OPEN_MMLAB_URLS = {
    "resnet18_v1c": "https://download.openmmlab.com/pretrain/third_party/resnet18_v1c-b5776b93.pth",
    "resnet50_v1c": "https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth",
    "resnet101_v1c": "https://download.openmmlab.com/pretrain/third_party/"
    "resnet101_v1c-e67eebb6.pth",
}
_STEM_PARTS = ("stem.0.conv.", "stem.0.bn.", "stem.1.conv.", "stem.1.bn.", "stem.2.conv.",
               "stem.2.bn.")  # fmt: skip
MMCV_STEM = dict(zip(("stem.0.", "stem.1.", "stem.3.", "stem.4.", "stem.6.", "stem.7."),
                     _STEM_PARTS))  # fmt: skip
TIMM_STEM = dict(zip(("conv1.0.", "conv1.1.", "conv1.3.", "conv1.4.", "conv1.6.", "bn1."),
                     _STEM_PARTS))  # fmt: skip


def _rename(key: str, table: dict[str, str]) -> str:
    for theirs, ours in table.items():
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return key


def backbone_state(state: dict) -> dict[str, torch.Tensor]:
    """Our backbone's names for a state dict in mmcv's or timm's naming; unwraps
    ``{"state_dict": ...}``, DDP's ``module.`` and a full mmseg model's ``backbone.``."""
    for wrapper in ("state_dict", "model"):
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    table = TIMM_STEM if "conv1.0.weight" in state else MMCV_STEM
    return {_rename(k, table): v for k, v in state.items() if not k.startswith("fc.")}


def _fetch_open_mmlab(name: str) -> dict:
    if name not in OPEN_MMLAB_URLS:
        raise ValueError(f"--backbone-weights open-mmlab: mmcv has no checkpoint for {name!r} "
                         f"(known: {sorted(OPEN_MMLAB_URLS)})")  # fmt: skip
    url = OPEN_MMLAB_URLS[name]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)
    except Exception as e:  # URLError, socket errors, ... offline
        raise RuntimeError(
            f"--backbone-weights open-mmlab: could not download {url} ({e}). Offline? Download "
            "it on a machine with internet and pass its path (--backbone-weights FILE), or put "
            "it in $TORCH_HOME/hub/checkpoints/ (default ~/.cache/torch/hub/checkpoints/)"
        ) from e


def load_backbone_weights(backbone: nn.Module, source: str, name: str) -> str:
    """Load ImageNet weights into ``backbone`` (a ``ResNetV1c`` called ``name``, e.g.
    ``"resnet50_v1c"``) from ``source``; returns a line saying what was loaded."""
    if source == "none":
        return "backbone: random initialisation (--backbone-weights none)"
    if source == "open-mmlab":
        state, origin = _fetch_open_mmlab(name), f"open-mmlab://{name}"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"--backbone-weights: {path} is not a file (expected "
                                    "open-mmlab, none or a checkpoint path)")  # fmt: skip
        state, origin = torch.load(path, map_location="cpu", weights_only=True), str(path)
    mapped = backbone_state(state)
    ours = backbone.state_dict()
    missing = [k for k in ours if k not in mapped and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in mapped if k not in ours]
    wrong = [f"{k} {tuple(mapped[k].shape)} (ours {tuple(ours[k].shape)})"
             for k in ours if k in mapped and mapped[k].shape != ours[k].shape]  # fmt: skip
    if missing or unexpected or wrong:
        raise ValueError(
            f"--backbone-weights {origin} does not fit the {name} backbone: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
            f"(e.g. {unexpected[:3]}), {len(wrong)} of another shape (e.g. {wrong[:3]})"
        )
    backbone.load_state_dict(mapped, strict=False)  # only num_batches_tracked may be absent
    return f"backbone: {len(mapped)} ImageNet tensors from {origin}"
