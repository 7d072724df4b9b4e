"""A throwaway schema on the local PostgreSQL, for the tests that need the real server (marker `services`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def postgres_schema(prefix: str = "ll_test") -> Iterator[str]:
    """A database URL whose search_path is a new schema `<prefix>_<random>` on the local PostgreSQL,
    dropped on exit; skips the test with the reason when no server is reachable."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from dashboard.store.db import normalize_url
    from tests.unit.test_dashboard_store import POSTGRES_URL

    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(normalize_url(POSTGRES_URL))
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
