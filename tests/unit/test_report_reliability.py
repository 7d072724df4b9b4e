"""Report sections of issue 14.2/14.3: risk-coverage of the uncertainty, OOD flag rates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.unit.test_report import _predictions, report_folders
from training.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def folders(tmp_path, monkeypatch):
    return report_folders(tmp_path, monkeypatch, 0.8, predictions=False)


def _with_uncertainty(informative: bool, n: int = 200):
    df = _predictions(n)
    wrong = (df["pred_label"] == "malignant") != (df["malignant"] == 1)
    rng = np.random.default_rng(1)
    df["uncertainty"] = (0.1 * wrong + rng.uniform(0, 0.05, n)) if informative else rng.uniform(0, 0.1, n)
    return df


def _html(model, out) -> str:
    assert main(["report", "--model", str(model), "--out", str(out), "--no-pdf"]) == 0
    return (out / "report.html").read_text()


def test_informative_uncertainty_is_said_with_its_risk_coverage_curve(folders):
    model, out = folders
    _with_uncertainty(True).to_csv(out / "predictions.csv", index=False)
    html = _html(model, out)
    assert "Results: does the uncertainty mean something?" in html
    assert "Higher uncertainty goes with more errors" in html and "Risk-coverage" in html
    assert (out / "figures" / "risk_coverage.png").exists() or list(out.rglob("risk_coverage.png"))


def test_uninformative_uncertainty_is_called_so(folders):
    model, out = folders
    _with_uncertainty(False).to_csv(out / "predictions.csv", index=False)
    html = _html(model, out)
    assert "hardly separates errors from correct answers" in html


def test_missing_uncertainty_and_ood_are_notes(folders):
    model, out = folders
    _predictions().to_csv(out / "predictions.csv", index=False)
    html = _html(model, out).replace("&#96;", "`")
    assert "Predictions with an uncertainty column: not available" in html
    assert "not available — produced by `python -m training ood --model" in html


def test_ood_flag_rates_are_tabulated(folders):
    model, out = folders
    _predictions().to_csv(out / "predictions.csv", index=False)
    summary = {"trained_on": "breast ultrasound from 4 scanners (BUS-BRA)", "n_fingerprint": 1100, "quantile": 0.99,
               "sets": {"pydicom sample DICOMs": {"n": 9, "flagged": 9, "rate": 1.0,
                                                  "groups": {"CT": {"n": 3, "flagged": 3, "rate": 1.0}}},
                        "BrEaST-Lesions-USG": {"n": 256, "flagged": 31, "rate": 0.121,
                                               "groups": {"breast-lesions-usg": {"n": 256, "flagged": 31, "rate": 0.121}}}}}
    (out / "ood_summary.json").write_text(json.dumps(summary))
    html = _html(model, out)
    assert "Results: out-of-distribution guard" in html and "1100 training images" in html
    assert "12.1%" in html and "100.0%" in html and "breast ultrasound from 4 scanners (BUS-BRA)" in html
