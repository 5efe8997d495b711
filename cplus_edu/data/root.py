"""The one data root every dataset lives under.

``CPLUS_EDU_DATA`` names it; the default is ``~/.cache/cplus_edu``. Inside it each dataset keeps
torchvision's own layout (``MNIST/raw/...``, ``FashionMNIST/raw/...``, ``cifar-10-batches-py/``,
``cifar-100-python/``, ``VOCdevkit/...``), or for CIFAR-10 the JPEG folder layout
``cifar10-jpeg/{train,test}/<class>/*.jpg`` that ImageFolder reads.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CPLUS_EDU_DATA"
DEFAULT_ROOT = Path("~/.cache/cplus_edu")


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where expected and were not (or could not be) downloaded."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$CPLUS_EDU_DATA``, else ``~/.cache/cplus_edu``."""
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(root).expanduser()


def missing_data_message(name: str, expected: list[Path], download_hint: str) -> str:
    """The error text for a missing dataset: what was expected where, and how to get it."""
    lines = "\n".join(f"  {p}" for p in expected)
    return (
        f"{name} was not found. Expected these files:\n{lines}\n"
        f"{download_hint}\n"
        f"The data root is set by the environment variable {ENV_VAR} "
        f"(default {DEFAULT_ROOT})."
    )
