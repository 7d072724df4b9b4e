"""The bad-input corpus through the API (Flask test client, the process sandbox), and per-file time limits.

Every file of tests/corpus/make_bad_inputs.build_corpus is posted to
/api/v1/predict: the ok ones are analysed (200), every other one gets a 4xx
JSON whose `error` is a readable sentence containing the expected fragment,
and nothing is stored for it (rows and files counted before and after). The
app is still healthy afterwards. Then the per-file time limit: a decode that
runs past it is killed with its child process (which is replaced), a slow
prediction is answered on time, and the worker goes on serving.
"""

from __future__ import annotations

import io
import re
import time

import pytest

from dashboard.sandbox import FileTimeLimit, Sandbox
from tests.auth_helpers import logged_in_client
from tests.corpus.make_bad_inputs import OK, PATIENT, build_corpus
from tests.fakes_predictor import FakePredictor, fake_app, lesion_png

TRACEBACK_TEXT = re.compile(r"Traceback|File \"|line \d+|Error\b|Exception|<class|0x[0-9a-f]{6,}")
SLOW_WIDTH = 333  # images this wide make the slow fakes below take their time


def slow_prepare(data: bytes, **kwargs):
    """Sandbox target for the tests: sleeps on request, else the real prepare_upload."""
    from dashboard.sandbox import prepare_upload

    if data.startswith(b"SLEEP"):
        time.sleep(float(data[5:]))
        return None
    return prepare_upload(data, **kwargs)


class SlowPredictor(FakePredictor):
    def predict(self, record, metadata=None):
        if record.shape[1] == SLOW_WIDTH:
            time.sleep(3)
        return super().predict(record, metadata)


def stored_state(services) -> tuple[int, int]:
    files = sum(1 for p in services.store.files.root.rglob("*") if p.is_file())
    return services.store.count(), files


def post(client, data: bytes, name: str = "upload.bin"):
    return client.post("/api/v1/predict", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_every_corpus_file_through_the_api(tmp_path):
    # 63 files from one user in seconds: a higher rate limit
    app = fake_app(tmp_path, decode_isolation="process", max_upload_bytes=1024 * 1024, predict_rate="1000/minute")
    services = app.server.extensions["lesionlens"]
    client = logged_in_client(app, "clinician")
    corpus = build_corpus(tmp_path / "corpus")
    assert len(corpus) >= 60
    problems, statuses = [], {}
    for entry in corpus:
        before = stored_state(services)
        response = post(client, entry.data, entry.name)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        body = response.get_json(silent=True) or {}
        if entry.expected == OK:
            if response.status_code != 200:
                problems.append(f"{entry.name}: expected 200, got {response.status_code} {body}")
            continue
        message = body.get("error", "")
        if not 400 <= response.status_code < 500:
            problems.append(f"{entry.name}: expected a 4xx, got {response.status_code}")
        if entry.expected not in message:
            problems.append(f"{entry.name}: {message!r} lacks {entry.expected!r}")
        if TRACEBACK_TEXT.search(message) or "\n" in message or any(v in message for v in PATIENT):
            problems.append(f"{entry.name}: not a plain, patient-free sentence: {message!r}")
        if stored_state(services) != before:
            problems.append(f"{entry.name}: rejected but something was stored")
    assert problems == []
    assert statuses[200] == sum(e.expected == OK for e in corpus) and set(statuses) <= {200, 413, 422}
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"
    assert services.store.count() == statuses[200]
    assert all(services.store.check_case(case_id) is None for case_id in services.store.case_ids())


def test_oversized_request_is_a_413_json_and_stores_nothing(tmp_path):
    app = fake_app(tmp_path, max_request_bytes=1024 * 1024)
    services = app.server.extensions["lesionlens"]
    client = logged_in_client(app, "clinician")
    response = post(client, b"\x89PNG" + b"\x00" * (2 * 1024 * 1024))
    assert response.status_code == 413 and "limit" in response.get_json()["error"]
    assert stored_state(services) == (0, 0)


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_decode_past_the_time_limit_is_stopped_and_the_sandbox_recovers(isolation):
    sandbox = Sandbox(1.0, isolation, processes=1, target="tests.unit.test_bad_uploads:slow_prepare")
    try:
        started = time.perf_counter()
        with pytest.raises(FileTimeLimit, match="took longer than the 1 s limit per file"):
            sandbox.run(b"SLEEP30")
        assert time.perf_counter() - started < 10
        if isolation == "process":
            assert sandbox.killed == 1  # the child was killed, not left running
        assert sandbox.run(b"SLEEP0.01") is None  # a fresh child (or thread) serves the next file
    finally:
        sandbox.close()


def test_slow_prediction_gets_a_clear_message_and_the_app_stays_healthy(tmp_path):
    from dashboard.factory import create_app
    from dashboard.settings import Settings
    from tests.fakes_predictor import make_fake_bundle

    make_fake_bundle(tmp_path / "models")
    app = create_app(Settings(home=tmp_path / "home", models_dir=tmp_path / "models", file_time_limit_s=1.0),
                     predictor_factory=SlowPredictor)
    client = logged_in_client(app, "clinician")
    started = time.perf_counter()
    response = post(client, lesion_png(SLOW_WIDTH, 200), "slow.png")
    assert time.perf_counter() - started < 2.9
    assert response.status_code == 422
    assert "took longer than the 1 s limit per file" in response.get_json()["error"]
    assert client.get("/healthz").status_code == 200
    assert post(client, lesion_png(300, 200), "ok.png").status_code == 200
