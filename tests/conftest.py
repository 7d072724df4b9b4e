"""Shared fixtures. Markers: `slow` (training, minutes), `browser` (chromium),
`services` (needs PostgreSQL/Redis), `realdata` (reads ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.paths import shared_data_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "bus-bra").is_dir():
        pytest.skip(f"real datasets not found at {path} (set LESIONLENS_DATA)")
    return path
