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


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real bundle trained in seconds on a small synthetic cohort (tiny config).

    Quality is irrelevant here; the point is that every consumer (CLI, API,
    dashboard) exercises a genuine bundle written by `python -m training train`.
    """
    from training.__main__ import main

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    config = Path(__file__).resolve().parent.parent / "training" / "configs" / "tiny.yaml"
    rc = main(["train", "--dataset", "synthetic:40:1", "--out", str(out), "--config", str(config), "--name", "tiny"])
    assert rc == 0
    return out


@pytest.fixture
def app(tmp_path):
    """A dashboard app on tmp storage with the fake predictor (tests.fakes_predictor.fake_app).

    A test module that needs other settings defines its own `app`; `services` then follows it."""
    from tests.fakes_predictor import fake_app

    return fake_app(tmp_path)


@pytest.fixture
def services(app):
    """The app's services (store, ingest, analyzer, models...)."""
    return app.server.extensions["lesionlens"]


@pytest.fixture
def postgres_schema_url():
    """A database URL whose search_path is a throwaway schema on the local
    PostgreSQL (dropped afterwards); skips with the reason when none is reachable."""
    from tests.postgres import postgres_schema

    with postgres_schema() as url:
        yield url
