"""`python -m dashboard import` with a real bundle: stores and predicts once, idempotent on re-run."""

from __future__ import annotations

import pytest

from dashboard.store.cases import CaseStore
from tests.browser.support import run_cli, server_env, tiny_models_dir

pytestmark = pytest.mark.slow


def test_import_is_idempotent(tmp_path):
    env = server_env(tmp_path / "home", tiny_models_dir())
    first = run_cli(["import", "synthetic:24:2", "--model", "tiny", "--quiet"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "24 cases: 24 new, 0 already stored; 24 predicted" in first.stdout
    second = run_cli(["import", "synthetic:24:2", "--model", "tiny", "--quiet"], env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "24 cases: 0 new, 24 already stored; 0 predicted, 24 already had a prediction" in second.stdout

    store = CaseStore(f"sqlite:///{tmp_path / 'home' / 'lesionlens.sqlite3'}", tmp_path / "home" / "store")
    assert store.count() == 24
    with store.sessions() as session:
        from sqlalchemy import func, select

        from dashboard.store.tables import CaseRow, PredictionRow

        assert session.scalar(select(func.count()).select_from(PredictionRow)) == 24
        labelled = session.scalar(select(func.count()).where(CaseRow.true_label.is_not(None)))
        masks = session.scalar(select(func.count()).where(CaseRow.has_truth_mask.is_(True)))
        scored = session.scalar(select(func.count()).where(PredictionRow.dice.is_not(None)))
    assert labelled == 24 and masks == 24 and scored == 24

    ready = run_cli(["ensure-admin"], env)
    assert ready.returncode == 0 and "active model: tiny" in ready.stdout


def test_import_reports_bad_spec_in_words(tmp_path):
    env = server_env(tmp_path / "home", tmp_path / "no-models")
    result = run_cli(["import", "nosuchscheme:x", "--no-predict"], env)
    assert result.returncode == 2 and "unknown dataset scheme" in result.stderr
    result = run_cli(["import", "synthetic:3:0"], env)
    assert result.returncode == 2 and "no model bundle" in result.stderr
