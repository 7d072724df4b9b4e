"""Patient data never reaches the store: a DICOM full of identifiers through the API and the UI ingest path.

After uploading `everything_dataset()` (every attribute of PS3.15 Table E.1-1
filled with a distinctive value, nested and private ones too) both ways, none
of its identifying values may be found in: the files of the store, every
text column of every table (and the raw SQLite file + WAL), the cache
directory, the captured logs, the API responses and the rendered page cards.
The identifying file name the browser sent must not reach the store or logs
either. The stored DICOM is de-identified with the case id as pseudonym and
has a zeroed preamble; the original bytes are kept only when asked.
"""

from __future__ import annotations

import base64
import io
import logging
import sqlite3
from pathlib import Path

import pytest

from dashboard.components.upload_results import render_batch
from dashboard.pages.new_case_batch import ingest_files
from dashboard.store.files import ORIGINAL, SOURCE_DICOM
from pipeline.deid import identifying_values
from pipeline.io.dicom_header import read_dataset
from pipeline.io.sample_files import dataset_bytes
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import fake_app
from tests.unit.test_deid import SECRETS, everything_dataset

FILE_NAME = "DOE^JOHN MRN-998877 1970-01-01.dcm"  # file names often name the patient


def searchable(values: set[str]) -> list[str]:
    """Identifying values that can be searched for without false alarms.

    Short all-digit values (times like "101515", 6-digit numbers) occur by
    chance in timestamps and compressed bytes; every other value, and every
    one of the fixture's hand-written SECRETS, must be absent.
    """
    keep = {v for v in values if not (v.replace(".", "").replace(":", "").isdigit() and len(v) < 8)}
    return sorted(keep | set(SECRETS) | {"DOE^JOHN", "MRN-998877"})


def files_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def sqlite_text(db_path: Path) -> str:
    """Every column of every row of every table, as text."""
    out = []
    with sqlite3.connect(db_path) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in connection.execute(f'PRAGMA table_info("{table}")')]
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                out.append(" | ".join(f"{c}={v!r}" for c, v in zip(columns, row)))
    return "\n".join(out)


def leaks(values: list[str], haystacks: dict[str, bytes]) -> list[str]:
    found = []
    for value in values:
        needle = value.encode()
        for where, data in haystacks.items():
            if needle in data:
                found.append(f"{value!r} in {where}")
    return found


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path, decode_isolation="process")  # the deployment's sandbox path


def test_dicom_identifiers_reach_no_store_file_row_cache_log_or_response(app, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    original = everything_dataset()
    data = dataset_bytes(original)
    values = searchable(identifying_values(original))
    assert len(values) > 50 and all(v.encode() in data for v in SECRETS)  # the fixture really carries them
    services = app.server.extensions["lesionlens"]
    client = logged_in_client(app, "clinician")

    # API path
    response = client.post("/api/v1/predict", data={"file": (io.BytesIO(data), FILE_NAME), "age": "45"},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    api_case = response.get_json()["case_id"]
    details = client.get(f"/api/v1/cases/{api_case}")
    assert details.status_code == 200
    responses = {"POST /api/v1/predict": response.get_data(), "GET /api/v1/cases": details.get_data()}

    # UI path: the New case page's ingest + render, as its callbacks call them
    data_url = "data:application/dicom;base64," + base64.b64encode(data).decode()
    with app.server.test_request_context():
        batch = ingest_files(services.ingest, [data_url], ["scan.dcm"], {"age": 45}, 20)
        ui_case = batch["items"][0]["case_id"]
        assert ui_case and batch["items"][0]["error"] is None
        services.analyzer.predict_case(ui_case)
        stored = services.store.get(ui_case)
        card = stored.prediction_for("fake", "1.0")
        cards, done, total = render_batch(batch, {ui_case: {"row": card, "case": stored.row,
                                                            "model": ("fake", "1.0")}})
    assert (done, total) == (1, 1)
    responses["New case cards"] = str(cards).encode()

    # Files of the image pages are PNG renderings only, with nosniff and a restrictive CSP
    for name in ("display.png", "thumb.png"):
        served = client.get(f"/files/{api_case}/{name}")
        assert served.status_code == 200 and served.mimetype == "image/png"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in served.headers["Content-Security-Policy"]
        responses[f"/files/{name}"] = served.get_data()
    assert client.get(f"/files/{api_case}/{SOURCE_DICOM}").status_code == 404  # the DICOM is never served

    settings = services.settings
    haystacks = {f"store:{p.relative_to(settings.home)}": b for p, b in files_under(settings.files_dir).items()}
    haystacks.update({f"cache:{p.relative_to(settings.home)}": b
                      for p, b in files_under(settings.home / "cache").items()})
    db_path = Path(settings.database_url.split("///", 1)[1])
    haystacks["database rows"] = sqlite_text(db_path).encode()
    for suffix in ("", "-wal"):
        if Path(f"{db_path}{suffix}").exists():
            haystacks[f"database file{suffix}"] = Path(f"{db_path}{suffix}").read_bytes()
    haystacks["logs"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    haystacks.update(responses)
    assert leaks(values, haystacks) == []
    assert leaks([FILE_NAME, "DOE^JOHN"], {k: v for k, v in haystacks.items() if k != "New case cards"}) == []

    for case_id in (api_case, ui_case):
        stored_dicom = services.store.files.read_bytes(case_id, SOURCE_DICOM)
        assert stored_dicom[:128] == bytes(128) and stored_dicom[128:132] == b"DICM"
        ds = read_dataset(stored_dicom)
        assert str(ds.PatientName) == case_id and ds.PatientID == case_id  # pseudonym = the case id
        assert ds.PatientIdentityRemoved == "YES"
        assert services.store.files.read_bytes(case_id, ORIGINAL) is None  # not kept by default
        row = services.store.get(case_id).row
        assert row.age == 45 and row.sex == "F"  # patient characteristics retained
        assert set(row.meta) <= {"age", "sex", "manufacturer", "body_part", "view", "frame", "history", "symptoms"}
        assert services.store.check_case(case_id) is None
    assert services.store.get(api_case).row.sha256 == services.store.get(ui_case).row.sha256  # same pixels


def test_originals_kept_only_when_asked_and_never_served(tmp_path):
    app = fake_app(tmp_path, keep_originals=True)
    client = logged_in_client(app, "clinician")
    data = dataset_bytes(everything_dataset())
    response = client.post("/api/v1/predict", data={"file": (io.BytesIO(data), "x.dcm")},
                           content_type="multipart/form-data")
    case_id = response.get_json()["case_id"]
    files = app.server.extensions["lesionlens"].store.files
    assert files.read_bytes(case_id, ORIGINAL) == data
    assert client.get(f"/files/{case_id}/{ORIGINAL}").status_code == 404


def test_polyglot_dicom_is_stored_without_its_second_personality(tmp_path):
    from tests.corpus.make_bad_inputs import build_corpus

    app = fake_app(tmp_path)
    client = logged_in_client(app, "clinician")
    files = app.server.extensions["lesionlens"].store.files
    for entry in (e for e in build_corpus(tmp_path / "corpus") if e.polyglot):
        response = client.post("/api/v1/predict", data={"file": (io.BytesIO(entry.data), "p.dcm")},
                               content_type="multipart/form-data")
        assert response.status_code == 200, entry.name
        case_id = response.get_json()["case_id"]
        stored = files.read_bytes(case_id, SOURCE_DICOM)
        assert stored[:128] == bytes(128) and entry.data[:128] not in stored
        for name in ("display.png", "thumb.png"):
            assert files.read_bytes(case_id, name).startswith(b"\x89PNG")
