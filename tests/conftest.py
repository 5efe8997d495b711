"""Shared fixtures: every test runs offline and quiet."""

import os

import pytest

os.environ.setdefault("CPLUS_EDU_QUIET", "1")


@pytest.fixture
def empty_data_root(tmp_path, monkeypatch):
    """A data root with nothing in it (and the env var pointing there)."""
    monkeypatch.setenv("CPLUS_EDU_DATA", str(tmp_path))
    return tmp_path
