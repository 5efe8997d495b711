"""Seeding and device helpers used by every notebook."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's generators; return a ``torch.Generator`` seeded too.

    Two runs that call ``seed_everything(s)`` first and do the same work give identical results on
    the same machine (CPU kernels are deterministic for the small models used here).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """The first CUDA device when one is available, else the CPU (every chapter runs there)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def progress_disabled() -> bool:
    """Progress bars are quiet under CI (env ``CI``) or when ``CPLUS_EDU_QUIET`` is set."""
    return bool(os.environ.get("CI") or os.environ.get("CPLUS_EDU_QUIET"))
