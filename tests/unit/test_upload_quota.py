"""The daily upload quota holds under concurrency: reservations are atomic, released when a file is not stored.

* Many threads reserving at once against a limit get exactly `limit` slots,
  on SQLite (the embedded default) and on PostgreSQL (marker `services`,
  throwaway schema): the conditional UPDATE is the only check.
* Parallel uploads of one signed-in user through `Ingest.upload` store at
  most `limit` files (the old check counted audit rows, written only after
  a file was stored, so every file in flight passed).
* A rejected file gives its slot back; a slot taken yesterday is not today's.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from dashboard.services import quota
from tests.fakes_predictor import fake_app, lesion_png
from tests.postgres import postgres_schema

THREADS = 24
LIMIT = 7


def reserve_at_once(sessions, username: str, n: int, limit: int) -> list[bool]:
    """`n` threads released together by a barrier, each reserving one slot; True for each that got one."""
    barrier = threading.Barrier(n)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            quota.reserve(sessions, username, limit)
            got = True
        except quota.QuotaExceeded:
            got = False
        with lock:
            outcomes.append(got)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def check_concurrent_reservations(sessions) -> None:
    outcomes = reserve_at_once(sessions, "alice", THREADS, LIMIT)
    assert len(outcomes) == THREADS and sum(outcomes) == LIMIT
    assert quota.uploads_today(sessions, "alice") == LIMIT
    quota.release(sessions, quota.Reservation("alice", quota.utc_today()))  # one file failed to store
    assert sum(reserve_at_once(sessions, "alice", 5, LIMIT)) == 1  # exactly the slot given back
    assert sum(reserve_at_once(sessions, "bob", 5, LIMIT)) == 5  # per user
    assert quota.reserve(sessions, None, LIMIT) is None  # no signed-in user: not counted


def test_concurrent_reservations_never_pass_the_limit_on_sqlite(tmp_path):
    from dashboard.store.cases import CaseStore

    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")
    check_concurrent_reservations(store.sessions)


@pytest.mark.services
def test_concurrent_reservations_never_pass_the_limit_on_postgres(tmp_path):
    from dashboard.store.cases import CaseStore

    with postgres_schema("ll_quota") as url:
        store = CaseStore(url, tmp_path / "files")
        try:
            check_concurrent_reservations(store.sessions)
        finally:
            store.engine.dispose()


def test_a_new_day_starts_at_zero_and_drops_older_days(tmp_path):
    from sqlalchemy import select

    from dashboard.store.cases import CaseStore
    from dashboard.store.tables import UploadCountRow

    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")
    with store.sessions() as session:
        session.add(UploadCountRow(username="alice", day=date.today() - timedelta(days=3), count=LIMIT))
        session.commit()
    reservation = quota.reserve(store.sessions, "alice", LIMIT)
    assert reservation is not None and quota.uploads_today(store.sessions, "alice") == 1
    with store.sessions() as session:
        assert [row.day for row in session.scalars(select(UploadCountRow))] == [reservation.day]
    quota.release(store.sessions, quota.Reservation("alice", reservation.day - timedelta(days=1)))  # gone: no-op
    assert quota.uploads_today(store.sessions, "alice") == 1


def test_parallel_uploads_of_one_user_store_at_most_the_limit(tmp_path, monkeypatch):
    app = fake_app(tmp_path, daily_uploads=3)
    services = app.server.extensions["lesionlens"]
    monkeypatch.setattr("dashboard.auth.context.current_user", lambda: SimpleNamespace(username="clin"))
    barrier = threading.Barrier(8)
    stored: list[str] = []
    refused: list[str] = []

    def upload(seed: int) -> None:
        barrier.wait()
        try:
            stored.append(services.ingest.upload(lesion_png(64, 48, seed=seed)))
        except quota.QuotaExceeded as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(stored) == 3 and len(refused) == 5, (stored, refused)
    assert len(services.store.case_ids()) == 3
    assert quota.uploads_today(services.store.sessions, "clin") == 3


def test_a_rejected_file_gives_its_slot_back(tmp_path, monkeypatch):
    from pipeline.errors import ImageLoadError

    app = fake_app(tmp_path, daily_uploads=1)
    services = app.server.extensions["lesionlens"]
    monkeypatch.setattr("dashboard.auth.context.current_user", lambda: SimpleNamespace(username="clin"))
    with pytest.raises(ImageLoadError) as rejected:
        services.ingest.upload(b"not an image")
    assert not isinstance(rejected.value, quota.QuotaExceeded)
    assert quota.uploads_today(services.store.sessions, "clin") == 0
    services.ingest.upload(lesion_png(64, 48, seed=1))  # the one slot is still free
    with pytest.raises(quota.QuotaExceeded):
        services.ingest.upload(lesion_png(64, 48, seed=2))
