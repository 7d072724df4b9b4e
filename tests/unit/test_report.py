"""`report` and `slides` build from hand-made artifacts (no training, no TensorFlow).

Why synthetic artifacts: the commands must render whatever `evaluate`, `cv`,
`fuse`, `radiologists` and `external` wrote, and say so visibly when one is
missing; a fake bundle folder written here pins that contract in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _bundle(folder: Path) -> Path:
    (folder / "members" / "0").mkdir(parents=True)
    for key in ("seg", "cls"):
        (folder / "members" / "0" / f"{key}.keras").write_bytes(b"")
    card = {
        "format_version": 1, "name": "fake-model", "version": "20260101-000000", "created": "2026-01-01T00:00:00+00:00",
        "git_commit": "abc123", "tensorflow": "2.x", "keras": "3.x", "intended_use": "research use; not a medical device",
        "preprocessing": {"work_max_side": 256, "seg_input_size": 160, "cls_input_size": 96, "margin": 0.3,
                          "normalisation": "per-image standardisation"},
        "label_map": {"0": "benign", "1": "malignant"},
        "thresholds": {"segmentation": 0.5, "malignant": 0.42, "min_lesion_fraction": 0.0005},
        "calibration": {"kind": "platt", "scale": 1.1, "bias": -0.2},
        "members": [{"seg": "members/0/seg.keras", "cls": "members/0/cls.keras"}],
        "models": {"segmentation": {"input_size": 160, "base_filters": 16, "depth": 4},
                   "classifier": {"input_size": 96, "backbone": "small_resnet", "stages": 4}},
        "training": {"dataset": "busbra:/data/bus-bra", "split": {"kind": "cv", "fold": 1, "n_test": 40},
                     "n_train": 30, "n_val": 7, "config": {"seed": 0, "seg": {"epochs": 3}}, "seed": 0,
                     "epochs": {"segmentation": 3, "classifier": 2},
                     "minutes": {"segmentation": 12.5, "classifier": 3.25, "this_run": 16.0}},
        "metrics": {},
    }
    (folder / "bundle.json").write_text(json.dumps(card))
    return folder


def _predictions(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    malignant = np.array([i % 3 == 0 for i in range(n)], dtype=int)
    prob = np.clip(0.3 * malignant + rng.uniform(0.05, 0.7, n), 0, 1)
    return pd.DataFrame({
        "case_id": [f"bus_{i:04d}-l" for i in range(n)], "patient_id": [f"PATIENT-{i // 2}" for i in range(n)],
        "dataset": "busbra", "fold": 1, "true_label": np.where(malignant == 1, "malignant", "benign"),
        "malignant": malignant, "probability": prob, "pred_label": np.where(prob >= 0.42, "malignant", "benign"),
        "lesion_found": True, "truth_has_lesion": True, "dice": rng.uniform(0.3, 0.95, n), "iou": rng.uniform(0.2, 0.9, n),
        "hd95_px": rng.uniform(2, 30, n), "device": np.where(np.arange(n) % 2, "ACUSON", "LOGIQ"),
        "birads": 2 + np.arange(n) % 4, "age": 30 + np.arange(n)})


def _metrics(auc: float) -> dict:
    return {"model": "fake-model", "dataset": "busbra:/data/bus-bra", "n_images": 40,
            "segmentation": {"dice": 0.8123, "iou": 0.7012, "hd95_px": 14.2, "dice_ci95": [0.79, 0.83],
                             "dice_median": 0.85, "n_with_lesion": 40, "n_without_lesion": 0, "false_detections_on_normals": 0},
            "classification": {"auc": auc, "auc_ci95": [0.7111, 0.9222], "accuracy": 0.8, "sensitivity": 0.7777,
                               "specificity": 0.8181, "precision": 0.6, "npv": 0.9, "f1": 0.7, "brier": 0.15,
                               "ece": 0.0606, "threshold": 0.42, "n": 40, "n_positive": 14},
            "subgroups": []}


def report_folders(tmp_path, monkeypatch, auc: float, predictions: bool = True):
    """(bundle folder, evaluation folder) of a fake model: its metrics.json (and predictions.csv)."""
    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path / "home"))
    model = _bundle(tmp_path / "models" / "fake")
    out = tmp_path / "reports" / "fake"
    out.mkdir(parents=True)
    if predictions:
        _predictions().to_csv(out / "predictions.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(_metrics(auc)))
    return model, out


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return report_folders(tmp_path, monkeypatch, 0.8771)


def _run(*argv: str) -> None:
    assert main(list(argv)) == 0


def _pdf_pages(path: Path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return pdf, [pdf[i].get_size() for i in range(len(pdf))]


def test_report_quotes_artifacts_and_notes_missing_ones(fake):
    model, out = fake
    _run("report", "--model", str(model), "--out", str(out))
    html = (out / "report.html").read_text()
    for heading in ("Data and preprocessing", "Data partitions", "Model", "Training", "Results: segmentation",
                    "Results: classification", "Error analysis", "Limitations", "Clinical implications",
                    "CLAIM checklist coverage"):
        assert heading in html
    assert "0.877 [0.711–0.922]" in html and "0.812 [0.790–0.830]" in html
    assert "research use; not a medical device" in html
    for command in ("python -m training radiologists", "python -m training fuse", "python -m training external",
                    "python -m training cv"):
        assert f"not available — produced by `{command}" in html.replace("&#96;", "`")
    worst = _predictions().nsmallest(1, "dice")["case_id"].iloc[0]
    assert worst in html and "PATIENT-" not in html  # case ids yes, patient ids no
    assert 'src="http' not in html and "data:image/png;base64," in html  # self-contained
    # change a number in the artifact -> it changes in the report
    (out / "metrics.json").write_text(json.dumps(_metrics(0.6543)))
    _run("report", "--model", str(model), "--out", str(out), "--no-pdf")
    html = (out / "report.html").read_text()
    assert "0.654 [0.711–0.922]" in html and "0.877" not in html


def test_report_pdf_renders_non_blank(fake):
    model, out = fake
    _run("report", "--model", str(model), "--out", str(out))
    pdf, sizes = _pdf_pages(out / "report.pdf")
    assert len(sizes) >= 3
    image = np.asarray(pdf[0].render(scale=0.5).to_pil().convert("L"))
    assert image.std() > 5 and (image < 128).mean() > 0.005  # text on a white page


def test_optional_artifacts_are_rendered(fake, tmp_path):
    model, out = fake
    rad = tmp_path / "rad"
    rad.mkdir()
    (rad / "radiologists.json").write_text(json.dumps({
        "predictions": "p.csv", "n": 40, "threshold": 4,
        "radiologists": {"sensitivity": 0.9321, "sensitivity_ci95": [0.85, 0.97], "specificity": 0.5, "specificity_ci95": [0.4, 0.6],
                         "birads_auc": 0.9111, "birads_auc_ci95": [0.88, 0.94]},
        "model": {"auc": 0.8771, "auc_ci95": [0.71, 0.92], "specificity_at_radiologist_sensitivity": 0.4567,
                  "specificity_at_radiologist_sensitivity_ci95": [0.3, 0.6]}}))
    (out / "external.json").write_text(json.dumps({
        "model": "fake-model", "in_domain": {"source": "cv", "dice": 0.88, "auc": 0.88, "auc_ci95": [0.84, 0.92], "n": 40},
        "external": {"dataset": "breast-lesions-usg", "dice": 0.7432, "auc": 0.7891, "auc_ci95": [0.73, 0.84],
                     "calibration_slope": 0.81, "n": 252}}))
    fusion = tmp_path / "fusion"
    fusion.mkdir()
    (fusion / "fusion_metrics.json").write_text(json.dumps({
        "dataset": "breast", "image_model": "fake-model", "n": 252, "n_malignant": 98, "folds": 5,
        "features": {"metadata": ["age"], "lesion": ["area"]},
        "rows": [{"model": "image only", "inputs": "image", "auc": 0.79, "auc_ci95": [0.73, 0.84], "brier": 0.2, "ece": 0.05},
                 {"model": "image + age", "inputs": "image, age", "auc": 0.8222, "auc_ci95": [0.77, 0.87], "brier": 0.18, "ece": 0.04}],
        "paired_tests": [{"a": "image + age", "b": "image only", "delta_auc": 0.0322, "p_value": 0.04}], "deployed": "image + age"}))
    _run("report", "--model", str(model), "--out", str(out), "--radiologists", str(rad), "--fusion", str(fusion), "--no-pdf")
    html = (out / "report.html").read_text()
    assert "0.932 [0.850–0.970]" in html and "0.457 [0.300–0.600]" in html
    assert "0.789 [0.730–0.840]" in html and "breast-lesions-usg" in html
    assert "0.822 [0.770–0.870]" in html and "0.032" in html
    assert "produced by `python -m training radiologists" not in html.replace("&#96;", "`")


def test_slides_are_16_by_9(fake):
    model, out = fake
    _run("slides", "--model", str(model), "--out", str(out))
    _, sizes = _pdf_pages(out / "slides.pdf")
    assert 6 <= len(sizes) <= 12
    for width, height in sizes:
        assert abs(width / height - 16 / 9) < 0.01
    assert "0.877" in (out / "slides.html").read_text()


def test_training_curves_from_log(fake, tmp_path):
    model, out = fake
    log = tmp_path / "train.log"
    lines = ["x INFO training.run: training on 99 images, validating on 9",
             "x INFO training.fit: seg epoch 1/3 loss=0.9 val_loss=0.9 elapsed=1s eta=1s",
             "x INFO training.run: training on 30 images, validating on 7"]
    lines += [f"x INFO training.fit: seg epoch {e}/3 loss={1 / e:.3f} hard_dice={0.5 + e / 10:.3f} "
              f"val_loss={1.1 / e:.3f} val_hard_dice={0.4 + e / 10:.3f} elapsed=1s eta=1s" for e in (1, 2, 3)]
    log.write_text("\n".join(lines))
    _run("report", "--model", str(model), "--out", str(out), "--log", str(log), "--no-pdf")
    assert (out / "figures" / "training_curves.png").is_file()
    assert "run with 30 training / 7 validation images" in (out / "report.html").read_text()


def test_missing_evaluation_is_a_note_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path / "home"))
    model = _bundle(tmp_path / "m")
    _run("report", "--model", str(model), "--out", str(tmp_path / "r"))
    html = (tmp_path / "r" / "report.html").read_text().replace("&#96;", "`")
    assert "not available — produced by `python -m training evaluate" in html
    assert (tmp_path / "r" / "report.pdf").stat().st_size > 1000


def test_damaged_optional_artifact_is_reported_not_fatal(fake):
    model, out = fake
    (out / "radiologists.json").write_text("{not json")
    (out / "external.json").write_text(json.dumps({"external": {"dataset": "x"}}))  # no numbers at all
    _run("report", "--model", str(model), "--out", str(out), "--no-pdf")
    html = (out / "report.html").read_text().replace("&#96;", "`")
    assert "radiologists.json could not be read" in html
    assert "External validation" in html
