"""`training external` end to end: a tiny bundle (trained on synthetic:40:1) on
another cohort given as a manifest with BI-RADS, so every clinical-evidence
output (external, calibration, subgroups, radiologists) is produced."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.__main__ import main

pytestmark = pytest.mark.slow


def test_external_writes_in_domain_vs_external_and_clinical_outputs(tiny_bundle, tmp_path, capsys):
    cohort = tmp_path / "cohort"
    assert main(["synth", "--out", str(cohort), "--cases", "24", "--seed", "7", "--no-dicom"]) == 0
    manifest = cohort / "manifest.csv"
    df = pd.read_csv(manifest)
    rng = np.random.default_rng(0)
    malignant = df["label"].eq("malignant")
    df["birads"] = np.where(malignant, rng.choice(["4b", "5"], len(df)), rng.choice(["2", "3", "4a"], len(df)))
    df.loc[df["label"].eq("normal"), "birads"] = "1"
    df.to_csv(manifest, index=False)
    fold_metrics = {"segmentation": {"dice": 0.5}, "classification": {"auc": 0.7, "auc_ci95": [0.5, 0.9], "n": 8}}
    (tiny_bundle / "fold_metrics.json").write_text(json.dumps(fold_metrics))
    out = tmp_path / "tiny-on-manifest"
    try:
        rc = main(["external", "--model", str(tiny_bundle), "--dataset", f"manifest:{manifest}", "--out", str(out),
                   "--n-boot", "20"])
    finally:
        (tiny_bundle / "fold_metrics.json").unlink()  # the fixture is shared by other tests
    assert rc == 0
    result = json.loads((out / "external.json").read_text())
    assert result["model"] == "tiny" and result["in_domain"]["auc"] == 0.7
    assert result["in_domain"]["source"].endswith("fold_metrics.json")
    external = result["external"]
    assert external["dataset"] == f"manifest:{manifest}"
    for key in ("dice", "auc", "auc_ci95", "sensitivity", "specificity", "ece", "brier", "calibration_slope",
                "calibration_intercept", "n"):
        assert key in external, key
    for name in ("external.md", "predictions.csv", "metrics.json", "subgroups.json", "radiologists.json",
                 "figures/calibration_external.png", "figures/subgroups.png", "figures/roc_radiologists.png"):
        assert (out / name).is_file(), name
    assert "| AUC [95% CI] | 0.700 [0.500, 0.900] |" in capsys.readouterr().out
