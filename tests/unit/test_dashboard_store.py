"""Case store on SQLite (tmp) and, with marker `services`, PostgreSQL; cohort queries; Redis cache."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import pytest

from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.store.cases import CaseStore, window_of
from dashboard.store.files import atomic_write
from pipeline.io import record_from_array
from pipeline.types import Prediction

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def record(seed: int = 0, shape=(40, 50)):
    rng = np.random.default_rng(seed)
    return record_from_array((rng.random(shape) * 255).astype(np.uint8))


def prediction(shape=(40, 50), probability=0.8, name="m", version="1") -> Prediction:
    mask = np.zeros(shape, bool)
    mask[10:20, 10:25] = True
    return Prediction(
        label="malignant" if probability >= 0.5 else "benign", probability=probability, uncertainty=0.03,
        mask=mask, probability_map=mask.astype(np.float32) * 0.9, box=(10, 10, 20, 25), area_px=int(mask.sum()),
        area_mm2=None, lesion_found=True, model_name=name, model_version=version, timings_ms={"total": 5.0},
    )


def sqlite_store(tmp_path: Path) -> CaseStore:
    return CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files", salt="s")


@pytest.fixture
def store(tmp_path):
    return sqlite_store(tmp_path)


def exercise_store(store: CaseStore) -> None:
    """The behaviour both databases must share."""
    truth = np.zeros((40, 50), bool)
    truth[10:20, 10:20] = True
    case_id, created = store.add_case(record(1), dataset="ds", source_case_id="a1", patient_id="p1",
                                      true_label="malignant", truth_mask=truth,
                                      metadata={"age": "61", "sex": "female", "device": "X", "birads": "4A",
                                                "history": "yes", "study_date": "2024-03-05"})
    assert created
    again, created_again = store.add_case(record(1), dataset="ds", source_case_id="a1", patient_id="p1")
    assert (again, created_again) == (case_id, False)  # idempotent import
    row = store.get(case_id).row
    assert (row.age, row.sex, row.device, row.birads, row.history, row.case_date) == (61, "F", "X", "4a", True,
                                                                                      "2024-03-05")
    assert row.patient_key != "p1" and len(row.patient_key) == 16  # pseudonymous

    stored = store.add_prediction(case_id, prediction())
    assert stored.dice == pytest.approx(2 * 100 / (150 + 100))
    store.add_prediction(case_id, prediction(probability=0.2))  # same model version: replaced, not duplicated
    case = store.get(case_id)
    assert len(case.predictions) == 1 and case.predictions[0].label == "benign"
    assert store.files.read_mask(case_id, store.files.prediction_name("mask", "m", "1")).sum() == 150

    store.add_review(case_id, "AB", False, "benign", "margins look smooth")
    case = store.get(case_id)
    assert case.row.review_status == "disagree" and case.row.reviewed_label == "benign"
    assert case.reviews[0].note == "margins look smooth"

    other, _ = store.add_case(record(2), metadata={"age": 35, "sex": "M"})
    store.add_prediction(other, prediction(probability=0.9))
    model = ("m", "1")
    rows, total = queries.cohort_page(store, CohortFilter(), model, [{"column_id": "age", "direction": "asc"}])
    assert total == 2 and [r["age"] for r in rows] == [35, 61]
    assert queries.cohort_count(store, CohortFilter.from_query("?age=60-70&birads=4a"), model) == 1
    assert queries.cohort_count(store, CohortFilter.from_query("?pred=malignant"), model) == 1
    assert queries.cohort_count(store, CohortFilter.from_query("?pred=none"), ("other", "9")) == 2
    assert queries.cohort_count(store, CohortFilter.from_query("?truth=unknown"), model) == 1
    assert queries.cohort_count(store, CohortFilter.from_query("?review=none"), model) == 1
    assert queries.cohort_count(store, CohortFilter.from_query("?history=yes&sex=F"), model) == 1
    assert queries.cohort_count(store, CohortFilter.from_query("?from=2024-01-01&to=2024-12-31"), model) == 1
    frame = queries.metrics_frame(store, CohortFilter(), model)
    assert set(frame["id"]) == {case_id, other} and "patient_key" in frame
    facets = queries.facets(store)
    assert facets["device"] == ["X"] and "ds" in facets["dataset"]

    before = queries.data_version(store)
    store.add_review(other, "CD", True, None, "")
    assert queries.data_version(store) != before

    store.set_setting("active_model", "a")
    store.set_setting("active_model", "b")
    assert store.get_setting("active_model") == "b" and store.get_setting("missing") is None
    assert store.ping()


def test_sqlite_store(store):
    exercise_store(store)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_changed_image_replaces_files_and_drops_predictions(store):
    case_id, _ = store.add_case(record(1), dataset="ds", source_case_id="x")
    store.add_prediction(case_id, prediction())
    same_id, created = store.add_case(record(3), dataset="ds", source_case_id="x")
    assert same_id == case_id and not created
    assert store.get(case_id).predictions == []


def test_paging_is_bounded(store):
    for seed in range(7):
        store.add_case(record(seed))
    rows, total = queries.cohort_page(store, CohortFilter(), None, page=1, page_size=3)
    assert total == 7 and len(rows) == 3
    rows, _ = queries.cohort_page(store, CohortFilter(), None, page=2, page_size=3)
    assert len(rows) == 1


def test_window_of_recovers_display_window():
    rec = record_from_array(np.linspace(-500, 1500, 2000, dtype=np.float32).reshape(40, 50))
    low, high = window_of(rec)
    assert low < high
    assert window_of(record(0)) == pytest.approx((0.0, 255.0), abs=0.6)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "b.png"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in target.parent.iterdir()] == ["b.png"]


def test_rejects_path_like_case_ids(store):
    with pytest.raises(ValueError):
        store.files.folder("../etc")


@pytest.mark.services
def test_postgres_store(tmp_path, postgres_schema_url):
    store = CaseStore(postgres_schema_url, tmp_path / "files", salt="s")
    exercise_store(store)
    store.engine.dispose()


@pytest.mark.services
def test_redis_cache(tmp_path):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    import flask

    from dashboard.services.cache import CacheService
    from dashboard.settings import Settings

    settings = Settings(home=tmp_path, cache_redis_url=REDIS_URL)
    cache = CacheService(settings, flask.Flask("t"))
    assert cache.backend == "redis" and cache.status()["ok"]
    key = f"test:{secrets.token_hex(4)}"
    payload = {"summary": {"label": "benign"}, "mask_png": b"\x89PNG"}
    cache.put_prediction(key, "m", "1", payload)
    assert cache.get_prediction(key, "m", "1") == payload
    calls = []
    assert cache.memo(key + ":memo", lambda: calls.append(1) or 42) == 42
    assert cache.memo(key + ":memo", lambda: calls.append(1) or 43) == 42 and calls == [1]
    cache.cache.delete(cache.prediction_key(key, "m", "1"))
    cache.cache.delete(key + ":memo")


def test_broken_cache_degrades_to_miss(tmp_path):
    import flask

    from dashboard.services.cache import CacheService
    from dashboard.settings import Settings

    cache = CacheService(Settings(home=tmp_path, cache_redis_url="redis://127.0.0.1:1/0"), flask.Flask("t"))
    assert cache.get("anything") is None
    cache.set("anything", 1)  # logged, not raised
    assert cache.status()["ok"] is False
