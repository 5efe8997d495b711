"""Shared fixtures: every test runs offline and quiet."""

import os

import pytest

os.environ.setdefault("CPLUS_EDU_QUIET", "1")


@pytest.fixture
def empty_data_root(tmp_path, monkeypatch):
    """A data root with nothing in it (and the env var pointing there)."""
    monkeypatch.setenv("CPLUS_EDU_DATA", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def _seeded_global_rng():
    """Every test starts from the same global torch RNG state, so a test that draws without its
    own generator gives the same numbers whatever ran before it (no order-dependent flakes)."""
    import torch

    torch.manual_seed(0)
