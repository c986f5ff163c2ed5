"""Fixtures of the model-layer tests: the sample models built once per session, a fresh store per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.models import samples
from motherboard.models.store import FilesystemStore


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    for name in samples.SAMPLES:
        samples.write_sample(name, folder)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "store")
