"""Issue 17.4 (hospital IT): deleting a case removes its rows, files and cached predictions and writes an
audit row without patient data; only admins may delete; retention is a dry run unless --apply."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dashboard.__main__ import main as dashboard_main
from dashboard.auth.audit_log import AuditFilter
from dashboard.cohort import queries
from dashboard.pages import case_delete
from dashboard.services.inference import cache_content_key
from dashboard.store.tables import CaseRow, PredictionRow, ReviewRow, utcnow
from tests.auth_helpers import as_user, logged_in_client
from tests.fakes_predictor import lesion_png

# patient-form values that must never reach the audit log
PATIENT = {"age": 57, "sex": "F", "symptoms": "lump noticed by Wilhelmina Quarrington"}


def stored_case(services, seed: int = 0) -> str:
    """An uploaded case with a prediction (also in the prediction cache) and a review."""
    case_id = services.ingest.upload(lesion_png(120, 90, seed=seed), PATIENT)
    services.analyzer.predict_case(case_id)
    services.store.add_review(case_id, "dr-a", True, None, "smooth margins")
    return case_id


def cached_prediction(services, case_id: str):
    row = services.store.get(case_id).row
    prediction = services.store.get(case_id).predictions[0]
    key = cache_content_key(row.sha256, dict(row.meta))
    return services.cache.get_prediction(key, prediction.model_name, prediction.model_version)


def audit_rows(app, action: str) -> list[dict]:
    rows, _total = app.server.extensions["lesionlens_auth"].audit.page(AuditFilter(action=action), 0, 100)
    return rows


def delete_click(client, case_id: str, typed):
    return client.post(
        "/_dash-update-component",
        json={
            "output": f"{case_delete.STATUS}.children",
            "outputs": {"id": case_delete.STATUS, "property": "children"},
            "inputs": [{"id": case_delete.CONFIRM, "property": "n_clicks", "value": 1}],
            "state": [
                {"id": "case-id", "property": "data", "value": case_id},
                {"id": case_delete.TYPED, "property": "value", "value": typed},
            ],
            "changedPropIds": [f"{case_delete.CONFIRM}.n_clicks"],
        },
    )


def assert_gone(services, case_id: str) -> None:
    assert services.store.get(case_id) is None
    assert not services.store.files.folder(case_id).exists()
    with services.store.sessions() as session:
        for table in (PredictionRow, ReviewRow):
            assert session.scalar(select(func.count()).select_from(table).where(table.case_id == case_id)) == 0


def test_admin_deletes_from_the_case_page_rows_files_cache_and_one_audit_row(app, services):
    case_id = stored_case(services)
    keep = stored_case(services, seed=1)
    sha = services.store.get(case_id).row.sha256
    assert services.store.files.folder(case_id).is_dir() and cached_prediction(services, case_id) is not None
    version_before = queries.data_version(services.store)
    admin = logged_in_client(app, "admin")
    with as_user(app, "admin"):  # the card (and its dialog) is on the case page for admins
        assert "Delete case" in str(case_delete.card(services.store.get(case_id).row))

    wrong = delete_click(admin, case_id, "c000000000")
    assert wrong.status_code == 200 and "exactly" in wrong.get_data(as_text=True)
    assert services.store.get(case_id) is not None  # a wrong confirmation deletes nothing

    response = delete_click(admin, case_id, case_id)
    assert response.status_code == 200 and "was deleted" in response.get_data(as_text=True)
    assert_gone(services, case_id)
    assert services.store.check_case(keep) is None and cached_prediction(services, keep) is not None  # untouched
    assert queries.data_version(services.store) != version_before

    rows = audit_rows(app, "case.delete")
    assert len(rows) == 1 and rows[0]["target"] == case_id and rows[0]["actor"] == admin.user.username
    detail = json.loads(rows[0]["detail"])
    assert detail["reason"] == "admin" and detail["predictions"] == 1 and detail["reviews"] == 1
    assert detail["files"] >= 3 and detail["dataset"] == "upload"
    text = json.dumps(rows[0])
    for value in ("Wilhelmina", "Quarrington", "57", "smooth margins", sha[:16]):
        assert value not in text


def test_cached_prediction_of_the_deleted_image_is_gone(app, services):
    case_id = stored_case(services)
    assert cached_prediction(services, case_id) is not None
    row = services.store.get(case_id).row
    name, version = services.models.active_identity()
    key = services.cache.prediction_key(cache_content_key(row.sha256, dict(row.meta)), name, version)
    admin = logged_in_client(app, "admin")
    assert delete_click(admin, case_id, case_id).status_code == 200
    assert services.cache.get(key) is None


@pytest.mark.parametrize("role", ["viewer", "clinician"])
def test_a_non_admin_cannot_delete(app, services, role):
    case_id = stored_case(services)
    client = logged_in_client(app, role)
    assert "Delete case" not in str(client.get(f"/case/{case_id}").get_data(as_text=True))
    response = delete_click(client, case_id, case_id)
    assert response.status_code == 403  # the request guard (roles.py: case-delete-* needs admin)
    with as_user(app, role):
        assert case_delete.card(services.store.get(case_id).row) == ""
        with pytest.raises(Exception) as refused:  # the callback's own check behind the guard
            case_delete.delete_from_page(case_id, case_id)
        assert type(refused.value).__name__ == "PreventUpdate"
    assert services.store.check_case(case_id) is None and audit_rows(app, "case.delete") == []


def use_app_environment(monkeypatch, services) -> None:
    """The CLI reads the environment: point it at the test app's home, database and bundles."""
    monkeypatch.setenv("LESIONLENS_HOME", str(services.settings.home))
    monkeypatch.setenv("LESIONLENS_MODELS", str(services.settings.models_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)


def test_cli_delete_case(app, services, monkeypatch, capsys):
    case_id = stored_case(services)
    use_app_environment(monkeypatch, services)
    assert dashboard_main(["delete-case", case_id, "--yes"]) == 0
    assert f"deleted {case_id}" in capsys.readouterr().out
    assert_gone(services, case_id)
    rows = audit_rows(app, "case.delete")
    assert len(rows) == 1 and rows[0]["actor"].startswith("cli:") and json.loads(rows[0]["detail"])["via"] == "cli"
    assert dashboard_main(["delete-case", case_id, "--yes"]) == 1  # no such case any more: nothing written
    assert len(audit_rows(app, "case.delete")) == 1


def test_retention_is_a_dry_run_unless_applied(app, services, monkeypatch, capsys):
    old, recent = stored_case(services), stored_case(services, seed=1)
    with services.store.sessions() as session:
        session.execute(update(CaseRow).where(CaseRow.id == old).values(created=utcnow() - timedelta(days=40)))
        session.commit()
    use_app_environment(monkeypatch, services)

    assert dashboard_main(["retention", "--older-than", "30", "--list"]) == 0
    out = capsys.readouterr().out
    assert "1 case(s)" in out and old in out and recent not in out and "dry run" in out
    assert services.store.check_case(old) is None and services.store.check_case(recent) is None
    run = audit_rows(app, "retention.run")
    assert len(run) == 1 and json.loads(run[0]["detail"])["dry_run"] is True
    assert audit_rows(app, "case.delete") == []

    assert dashboard_main(["retention", "--older-than", "30", "--dataset", "other"]) == 0  # another dataset only
    assert "0 case(s)" in capsys.readouterr().out

    assert dashboard_main(["retention", "--older-than", "30", "--apply"]) == 0
    assert "deleted 1 case(s)" in capsys.readouterr().out
    assert_gone(services, old)
    assert services.store.check_case(recent) is None
    deleted = audit_rows(app, "case.delete")
    assert [r["target"] for r in deleted] == [old]
    assert json.loads(deleted[0]["detail"])["reason"] == "retention"
    assert json.loads(audit_rows(app, "retention.run")[0]["detail"])["deleted"] == 1
