"""Issue 17.4 (hospital IT): `/prometheus` exposes request latency, prediction latency and job queue depth,
to the scrape token or a direct loopback connection only, without patient data; several processes add up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.jobs.store import JobStore
from dashboard.monitoring import metrics, multiproc
from dashboard.settings import AuthConfig
from dashboard.factory import create_app
from dashboard.settings import Settings
from dashboard.store.tables import JobRow, utcnow
from tests.auth_helpers import logged_in_client
from tests.fakes_predictor import FakePredictor, fake_app, lesion_png, make_fake_bundle

REPO = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def app(tmp_path):
    return fake_app(tmp_path, metrics_token=TOKEN)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition `text` (0.0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(
            re.findall(
                r'(\w+)="([^"]*)"',
                line.split(" ")[0] if "{" not in line else line[line.index("{") : line.rindex("}") + 1],
            )
        )
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def scrape(client, **kwargs) -> str:
    response = client.get("/prometheus", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_the_three_measures(app):
    server = app.server
    services = server.extensions["lesionlens"]
    client = server.test_client()  # loopback, no proxy header
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    case_id = services.ingest.upload(lesion_png(120, 90))
    services.analyzer.predict_case(case_id)  # runs the (fake) model once
    services.analyzer.predict_case(case_id)  # stored: no model time, not counted
    jobs = JobStore(services.store.sessions)
    jobs.create("batch", {"source": "synthetic:2:0"}, "fake")
    running = jobs.create("batch", {"source": "synthetic:2:0"}, "fake")
    jobs.start(running, total=2)
    stale = jobs.create("batch", {"source": "synthetic:2:0"}, "fake")
    jobs.start(stale, total=2)
    with services.store.sessions() as session:
        session.get(JobRow, stale).heartbeat = utcnow() - timedelta(minutes=5)
        session.commit()

    after = scrape(client)
    route = {"route": "/healthz", "method": "GET", "status": "200"}
    name = "lesionlens_http_request_duration_seconds"
    assert sample(after, name + "_count", **route) - sample(before, name + "_count", **route) == 3
    assert sample(after, name + "_bucket", le="+Inf", **route) == sample(after, name + "_count", **route)
    predicted = "lesionlens_prediction_duration_seconds_count"
    assert sample(after, predicted, outcome="ok") - sample(before, predicted, outcome="ok") == 1
    queue = "lesionlens_job_queue_depth"
    assert [sample(after, queue, state=s) for s in ("queued", "running", "stale")] == [1.0, 1.0, 1.0]


def test_no_patient_data_in_the_output(app):
    server = app.server
    services = server.extensions["lesionlens"]
    case_id = services.ingest.upload(lesion_png(120, 90), {"age": 61, "symptoms": "Quarrington family"})
    viewer = logged_in_client(app, "viewer")
    assert viewer.get(f"/case/{case_id}").status_code == 200
    assert viewer.get(f"/files/{case_id}/display.png").status_code == 200
    text = scrape(server.test_client())
    assert case_id not in text and "Quarrington" not in text and viewer.user.username not in text
    assert 'route="/<path:path>"' in text  # pages by their route template, never the path with the id


def test_access_token_or_direct_loopback_only(app, tmp_path):
    server = app.server
    client = server.test_client()
    assert client.get("/prometheus").status_code == 200  # direct, from this machine
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/prometheus", environ_base=remote).status_code == 403
    # through a proxy (nginx always sets X-Forwarded-For): loopback peer, but the token is needed
    assert client.get("/prometheus", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    for wrong in ("Bearer nope", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"):
        assert client.get("/prometheus", environ_base=remote, headers={"Authorization": wrong}).status_code == 403
    assert (
        client.get("/prometheus", environ_base=remote, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )
    # a user's session does not open it either (it is not a page of the app)
    viewer = logged_in_client(app, "admin", api=False)
    assert viewer.get("/prometheus", environ_base=remote).status_code == 403

    # behind a trusted proxy a client cannot pose as loopback with its own X-Forwarded-For
    make_fake_bundle(tmp_path / "proxied" / "models")
    proxied = create_app(
        Settings(home=tmp_path / "proxied" / "home", models_dir=tmp_path / "proxied" / "models"),
        predictor_factory=FakePredictor,
        auth_config=AuthConfig(trust_proxy=1),
    )
    spoof = proxied.server.test_client().get(
        "/prometheus", environ_base=remote, headers={"X-Forwarded-For": "127.0.0.1"}
    )
    assert spoof.status_code == 403


SCRIPT = """
from dashboard.monitoring import metrics
metrics.observe_request("/healthz", "GET", 200, 0.02)
with metrics.timed_prediction():
    pass
"""


def test_samples_of_several_processes_add_up(tmp_path, monkeypatch):
    """gunicorn workers are processes: with PROMETHEUS_MULTIPROC_DIR every worker's samples are summed."""
    from dashboard.store.cases import CaseStore

    folder = tmp_path / "samples"
    env = {**os.environ, multiproc.MULTIPROC_ENV: str(folder), "PYTHONPATH": str(REPO)}
    for _ in range(2):  # two "workers"
        subprocess.run([sys.executable, "-c", SCRIPT], check=True, env=env, cwd=REPO, timeout=120)
    assert len(list(folder.glob("*.db"))) >= 2  # one file per process and kind
    monkeypatch.setenv(multiproc.MULTIPROC_ENV, str(folder))
    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")
    text = metrics.exposition(store.sessions).decode()
    assert (
        sample(text, "lesionlens_http_request_duration_seconds_count", route="/healthz", method="GET", status="200")
        == 2
    )
    assert sample(text, "lesionlens_prediction_duration_seconds_count", outcome="ok") == 2
    assert sample(text, "lesionlens_job_queue_depth", state="queued") == 0


def test_gunicorn_master_prepares_and_cleans_the_samples_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(multiproc.MULTIPROC_ENV, "recorded")  # so the teardown removes what prepare() sets
    monkeypatch.delenv(multiproc.MULTIPROC_ENV)
    made = multiproc.prepare()
    assert os.environ[multiproc.MULTIPROC_ENV] == made and Path(made).is_dir()
    multiproc.cleanup()
    assert not Path(made).exists()

    chosen = tmp_path / "operator-folder"
    chosen.mkdir()
    (chosen / "histogram_123.db").write_bytes(b"old run")
    (chosen / "keep.txt").write_text("not ours")
    monkeypatch.setenv(multiproc.MULTIPROC_ENV, str(chosen))
    assert multiproc.prepare() == str(chosen)
    assert not (chosen / "histogram_123.db").exists() and (chosen / "keep.txt").exists()
    multiproc.cleanup()
    assert chosen.is_dir()  # the operator's folder stays

    config = (REPO / "gunicorn.conf.py").read_text()
    for hook in (
        "def on_starting",
        "multiproc.prepare()",
        "def child_exit",
        "multiproc.worker_exited(worker.pid)",
        "def on_exit",
        "multiproc.cleanup()",
    ):
        assert hook in config
