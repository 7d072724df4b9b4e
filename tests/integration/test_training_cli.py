"""The training CLI end to end on small synthetic data (tiny config)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.bundle import list_bundles, read_bundle_card
from pipeline.errors import BundleError
from training.__main__ import main

pytestmark = pytest.mark.slow
TINY = str(Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny.yaml")
METRIC_KEYS = {"auc", "auc_ci95", "accuracy", "sensitivity", "specificity", "precision", "f1", "brier", "ece", "threshold"}


def test_bundle_card_is_self_describing(tiny_bundle):
    card = read_bundle_card(tiny_bundle)
    for key in ("format_version", "created", "git_commit", "tensorflow", "keras", "preprocessing", "label_map",
                "thresholds", "calibration", "training", "metrics", "intended_use"):
        assert key in card, key
    assert card["intended_use"] == "research use; not a medical device"
    assert card["training"]["dataset"] == "synthetic:40:1"
    assert card["training"]["config"]["seg"]["model"]["input_size"] == 64
    assert (tiny_bundle / card["members"][0]["seg"]).is_file()


def test_predictor_maps_mask_to_original_resolution(tiny_bundle):
    from pipeline.predictor import Predictor

    p = Predictor(tiny_bundle)
    gray = (np.random.default_rng(0).random((123, 211)) * 255).astype(np.uint8)
    pred = p.predict_gray(gray, spacing_mm=(0.1, 0.2))
    assert pred.mask.shape == (123, 211) and pred.probability_map.shape == (123, 211)
    assert 0 <= pred.probability <= 1 and pred.uncertainty >= 0
    assert pred.label in ("benign", "malignant", "normal")
    assert set(pred.timings_ms) >= {"segment", "classify", "total"}
    if pred.lesion_found:
        assert pred.area_mm2 == pytest.approx(pred.area_px * 0.02)
    json.dumps(pred.summary())


def test_damaged_and_foreign_bundles_give_clear_errors(tiny_bundle, tmp_path):
    from pipeline.predictor import Predictor

    with pytest.raises(BundleError, match="not found"):
        read_bundle_card(tmp_path / "nope")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.h5").write_bytes(b"x")
    with pytest.raises(BundleError, match="bundle.json is missing"):
        read_bundle_card(foreign)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    card = json.loads((broken / "bundle.json").read_text())
    card["format_version"] = 99
    (broken / "bundle.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="format version 99"):
        read_bundle_card(broken)
    card["format_version"] = 1
    (broken / "bundle.json").write_text(json.dumps(card))
    (broken / card["members"][0]["cls"]).write_bytes(b"not a keras file")
    # the content checksum catches the replaced file before Keras is asked to read it
    with pytest.raises(BundleError, match="changed after it was written"):
        Predictor(broken)
    (broken / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="damaged"):
        read_bundle_card(broken)
    listed = {b["name"]: b for b in list_bundles(tmp_path)}
    assert "error" in listed["broken"]


def _busi_layout(src: Path, dest: Path) -> None:
    """Re-shape a synthetic cohort as the BUSI folder layout."""
    import csv

    with (src / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            folder = dest / row["label"]
            folder.mkdir(parents=True, exist_ok=True)
            stem = Path(row["image"]).stem
            shutil.copy(src / row["image"], folder / f"{stem}.png")
            mask = Image.open(src / row["mask"]) if row.get("mask") else Image.new("L", Image.open(src / row["image"]).size)
            mask.save(folder / f"{stem}_mask.png")


def test_evaluate_predict_on_manifest_and_busi(tiny_bundle, tmp_path, capsys):
    cohort = tmp_path / "cohort"
    assert main(["synth", "--out", str(cohort), "--cases", "16", "--seed", "3"]) == 0
    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(tiny_bundle), "--dataset", f"manifest:{cohort}/manifest.csv",
                 "--out", str(report), "--n-boot", "50"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["n_images"] == 16 and metrics["dataset"].startswith("manifest:")
    assert METRIC_KEYS <= set(metrics["classification"])
    assert {"dice", "iou", "hd95_px", "dice_ci95"} <= set(metrics["segmentation"])
    assert (report / "overlays.png").is_file() and (report / "predictions.csv").is_file()

    busi = tmp_path / "busi"
    _busi_layout(cohort, busi)
    assert main(["evaluate", "--model", str(tiny_bundle), "--dataset", f"busi:{busi}", "--out", str(tmp_path / "r2"),
                 "--n-boot", "20"]) == 0

    capsys.readouterr()
    png = next((cohort / "images").glob("*.png"))
    dcm = next((cohort / "dicom").glob("*.dcm"))
    bad = tmp_path / "bad.dcm"
    bad.write_text("this is not an image")
    main(["predict", "--model", str(tiny_bundle), str(png), str(dcm), str(bad)])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 3
    assert lines[0]["label"] in ("benign", "malignant", "normal") and "error" not in lines[0]
    assert "probability" in lines[1]
    assert "error" in lines[2] and "Traceback" not in lines[2]["error"]


def test_cv_resumes_and_builds_ensemble(tmp_path):
    out, ens = tmp_path / "cv", tmp_path / "ensemble"
    args = ["cv", "--dataset", "synthetic:36:2", "--folds", "2", "--config", TINY, "--out", str(out), "--n-boot", "20"]
    assert main(args + ["--only", "1"]) == 0
    assert (out / "fold_1" / "fold_metrics.json").is_file() and not (out / "fold_2").exists()
    assert main(args + ["--ensemble-out", str(ens)]) == 0
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["folds_done"] == [1, 2]
    assert "segmentation.dice" in summary["table"] and summary["pooled"]["n_images"] == 36
    oof = (out / "oof_predictions.csv").read_text().splitlines()
    assert len(oof) == 37  # header + every case exactly once
    card = read_bundle_card(ens)
    assert len(card["members"]) == 2
    assert card["calibration"]["method"] == "platt"
    assert card["calibration"]["fitted_on"] == "pooled out-of-fold predictions"
    assert main(["ensemble", "--cv", str(out), "--out", str(tmp_path / "again")]) == 0
    assert len(read_bundle_card(tmp_path / "again")["members"]) == 2

    from pipeline.predictor import Predictor

    pred = Predictor(ens).predict_gray(np.full((80, 90), 120, np.uint8))
    assert 0 <= pred.probability <= 1

    # a fold resumed from text-only results (results/: card + predictions, no .keras) is left out of the
    # members but still calibrates; with no weights anywhere the ensemble is refused
    for weights in (out / "fold_1").rglob("*.keras"):
        weights.unlink()
    partial = read_bundle_card(Path(main_ensemble(out, tmp_path / "partial")))
    assert [m["from"] for m in partial["members"]] == ["fold_2"]
    assert partial["training"]["split"]["folds_without_weights"] == ["fold_1"]
    for weights in (out / "fold_2").rglob("*.keras"):
        weights.unlink()
    with pytest.raises(ValueError, match="weight files"):
        main_ensemble(out, tmp_path / "none")


def main_ensemble(cv_dir, out):
    from training.ensemble import write_ensemble

    return write_ensemble(cv_dir, out, "synthetic:36:2")
