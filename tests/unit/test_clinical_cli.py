"""`training radiologists` on a tiny CSV, and `training external` refusing in-domain data.

No model is trained here: the radiologists command is arithmetic on a CSV, and
external refuses from bundle.json alone before loading any weights, so a
hand-written card (members as empty files) is enough and keeps this fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.bundle import read_bundle_card
from tests.cards import make_card, minimal_card_json
from training.__main__ import main
from training.external import (
    ExternalValidationError,
    dataset_identity,
    external_markdown,
    in_domain_summary,
    refuse_if_seen,
)


def _predictions(path: Path, n: int = 80, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    prob = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    df = pd.DataFrame({
        "case_id": [f"case{i:03d}" for i in range(n)],
        "patient_id": [f"p{i // 2}" for i in range(n)],
        "malignant": y,
        "probability": prob,
        "pred_label": np.where(prob >= 0.5, "malignant", "benign"),
        "birads": np.where(y == 1, rng.choice(["4b", "4c", "5"], n), rng.choice(["2", "3", "4a"], n)),
        "age": rng.integers(30, 80, n),
        "device": rng.choice(["scanner A", "scanner B"], n),
        "true_area_px": rng.integers(300, 40000, n),
        "spacing_mm": 0.07,
    })
    df.to_csv(path, index=False)
    return path


def test_radiologists_cli_writes_the_report_contract(tmp_path, capsys):
    csv = _predictions(tmp_path / "predictions.csv")
    out = tmp_path / "rad"
    assert main(["radiologists", "--predictions", str(csv), "--out", str(out), "--n-boot", "50"]) == 0
    result = json.loads((out / "radiologists.json").read_text())
    assert result["predictions"] == str(csv) and result["n"] == 80 and result["threshold"] == "4a"
    for key in ("sensitivity", "specificity", "birads_auc"):
        assert isinstance(result["radiologists"][key], float) and len(result["radiologists"][f"{key}_ci95"]) == 2
    for key in ("auc", "specificity_at_radiologist_sensitivity", "sensitivity_at_radiologist_specificity"):
        assert isinstance(result["model"][key], float) and len(result["model"][f"{key}_ci95"]) == 2
    assert result["radiologists"]["sensitivity"] == 1.0  # every cancer here is 4b or above
    assert (out / "figures" / "roc_radiologists.png").stat().st_size > 1000
    assert (out / "radiologists.md").read_text().count("|") > 10
    subgroups = json.loads((out / "subgroups.json").read_text())
    assert subgroups["columns"] == ["age_band", "device", "size_band"] and subgroups["size_bands"] == "mm"
    assert (out / "figures" / "subgroups.png").is_file()
    assert "radiologists" in capsys.readouterr().out


def test_radiologists_cli_coarse_scale_and_clear_errors(tmp_path, capsys):
    csv = _predictions(tmp_path / "predictions.csv")
    out = tmp_path / "coarse"
    assert main(["radiologists", "--predictions", str(csv), "--out", str(out), "--scale", "4", "--n-boot", "0",
                 "--no-subgroups"]) == 0
    result = json.loads((out / "radiologists.json").read_text())
    assert result["threshold"] == "4" and result["scale"] == "4"
    assert [p["positive_from"] for p in result["radiologists"]["operating_points"]] == ["2", "3", "4", "5"]
    pd.read_csv(csv).drop(columns=["birads"]).to_csv(tmp_path / "no_birads.csv", index=False)
    assert main(["radiologists", "--predictions", str(tmp_path / "no_birads.csv"), "--out", str(out)]) == 2
    assert "birads" in capsys.readouterr().err
    assert main(["radiologists", "--predictions", str(csv), str(csv), "--out", str(out)]) == 2  # same folds twice
    assert "twice" in capsys.readouterr().err


def _bundle(root: Path, dataset: str, **card) -> Path:
    root.mkdir(parents=True)
    (root / "members" / "0").mkdir(parents=True)
    for name in ("seg.keras", "cls.keras"):
        (root / "members" / "0" / name).write_bytes(b"")
    base = minimal_card_json(name=root.name, version="1", training={"dataset": dataset, "config": {}})
    (root / "bundle.json").write_text(json.dumps({**base, **card}))
    return root


def test_external_refuses_the_bundles_own_dataset(tmp_path, capsys):
    bundle = _bundle(tmp_path / "busbra-fold1", "busbra:../shared/data/bus-bra")
    out = tmp_path / "report"
    rc = main(["external", "--model", str(bundle), "--dataset", "bus-bra:/elsewhere/bus-bra", "--out", str(out)])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "same dataset" in err and "evaluate" in err


def test_external_counts_the_init_from_source_as_seen(tmp_path):
    source = _bundle(tmp_path / "busbra", "busbra:/data/bus-bra")
    tuned = {"training": {"dataset": "breast-lesions-usg:/data/breast",
                          "config": {"seg": {"init_weights": str(source / "members/0/seg.keras")}}}}
    card = read_bundle_card(_bundle(tmp_path / "tuned", "unused", **tuned))
    with pytest.raises(ExternalValidationError, match="trained on 'busbra"):
        refuse_if_seen(card, "busbra:/data/bus-bra")
    with pytest.raises(ExternalValidationError):
        refuse_if_seen(card, "breast:/other/copy")  # alias of breast-lesions-usg
    refuse_if_seen(card, "busi:/data/busi")  # never seen: no error
    assert dataset_identity("manifest:a.csv") != dataset_identity("manifest:b.csv")
    with pytest.raises(ExternalValidationError, match="does not record"):
        refuse_if_seen(make_card(name="x", training={}), "busi:/data/busi")


def test_in_domain_figures_from_fold_metrics_card_or_explicit_file(tmp_path):
    metrics = {"segmentation": {"dice": 0.88}, "classification": {"auc": 0.9, "auc_ci95": [0.85, 0.94],
               "sensitivity": 0.8, "specificity": 0.82, "ece": 0.1, "brier": 0.12, "n": 316}}
    fold = _bundle(tmp_path / "fold_1", "busbra:/d")
    (fold / "fold_metrics.json").write_text(json.dumps(metrics))
    _predictions(fold / "predictions.csv")
    summary = in_domain_summary(fold, read_bundle_card(fold))
    assert summary["source"].endswith("fold_metrics.json") and summary["dice"] == 0.88 and summary["n"] == 316
    assert isinstance(summary["calibration_slope"], float)
    ensemble_card = make_card(metrics={"pooled_oof": metrics})
    assert in_domain_summary(tmp_path, ensemble_card)["source"] == "bundle cross-validation"
    (tmp_path / "cv_summary.json").write_text(json.dumps({"pooled": metrics}))
    assert in_domain_summary(tmp_path, None, str(tmp_path / "cv_summary.json"))["auc"] == 0.9
    assert in_domain_summary(tmp_path / "nothing", None) is None
    table = external_markdown({"model": "m", "in_domain": summary,
                               "external": {"dataset": "breast:/x", "auc": 0.79, "auc_ci95": [0.73, 0.84], "n": 252}})
    assert "| AUC [95% CI] | 0.900 [0.850, 0.940] | 0.790 [0.730, 0.840] |" in table
