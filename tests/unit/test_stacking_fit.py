"""One fold of the stacker on a tiny synthetic cohort (training/stacking_fit.py), and the descriptors CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.metrics import roc_auc
from pipeline.stacking import StackedModel, StackingError
from pipeline.types import Case
from training.stacking_fit import fit_and_score_fold, fit_stacker, jitter_mask, read_predicted_mask, score_stacker

H, W = 120, 140


def _lesion(malignant: bool, rng: np.random.Generator) -> np.ndarray:
    """Benign: smooth oval; malignant: spiky, taller outline (what the descriptors should pick up)."""
    rows, cols = np.mgrid[:H, :W]
    cy, cx = 55 + rng.integers(-5, 6), 70 + rng.integers(-8, 9)
    y, x = -(rows - cy), cols - cx
    theta, r = np.arctan2(y, x), np.hypot(x, y)
    if malignant:
        k = int(rng.integers(5, 9))
        radius = 22 * (1 + 0.45 * np.maximum(0, np.cos(k * theta + rng.uniform(0, 6))) ** 6) * (1 + 0.2 * np.sin(theta) ** 2)
    else:
        a, b = rng.uniform(24, 32), rng.uniform(13, 18)
        radius = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    return r <= radius


def _image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = np.where(mask, 45.0, 120.0)
    return np.clip(mean * rng.rayleigh(1.0, mask.shape) / math.sqrt(math.pi / 2), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """40 training cases (expert masks on disk), 30 validation and 30 held-out images with predicted masks."""
    root = tmp_path_factory.mktemp("stack")
    rng = np.random.default_rng(0)
    images: dict[str, np.ndarray] = {}
    cases, tables = [], {"val": [], "heldout": []}
    for split, n in (("train", 40), ("val", 30), ("heldout", 30)):
        for i in range(n):
            malignant = i % 2 == 1
            case_id = f"{split}{i:02d}"
            mask = _lesion(malignant, rng)
            images[case_id] = _image(mask, rng)
            if split == "train":
                path = root / f"{case_id}_mask.png"
                Image.fromarray(mask.astype(np.uint8) * 255).save(path)
                cases.append(Case(case_id, f"p{case_id}", root / f"{case_id}.png",
                                  "malignant" if malignant else "benign", (path,)))
                continue
            folder = root / "masks" / split
            folder.mkdir(parents=True, exist_ok=True)
            predicted = jitter_mask(mask, rng)  # a segmenter's smoother outline
            Image.fromarray(predicted.astype(np.uint8) * 255).save(folder / f"{case_id}.png")
            cnn = (1.0 if malignant else -1.0) + rng.normal(0, 1.5)  # a weak, independent CNN
            tables[split].append({"case_id": case_id, "cnn_logit": cnn, "label": "malignant" if malignant else "benign"})
    return root, cases, pd.DataFrame(tables["val"]), pd.DataFrame(tables["heldout"]), images.__getitem__


def test_one_fold_fits_and_scores_held_out_images(cohort):
    root, cases, val, heldout, reader = cohort
    model, scores = fit_and_score_fold(cases, val, heldout, root, reader, jitter=1)
    assert model.n_descriptor == 80 and model.n_final == 30  # 40 expert masks + 40 jittered copies
    assert model.final.coef[1] > 0  # the descriptor score carries weight
    assert list(scores.columns[:6]) == ["case_id", "label", "cnn_logit", "descriptor_score", "stacked_logit",
                                        "stacked_probability"]
    y = (scores["label"] == "malignant").to_numpy(int)
    assert roc_auc(y, scores["stacked_probability"]) > roc_auc(y, scores["cnn_logit"])
    assert roc_auc(y, scores["descriptor_score"]) > 0.85
    assert scores["stacked_probability"].between(0, 1).all()
    again = StackedModel.from_json(model.to_json())
    first = scores.iloc[0]
    assert again.logit(first["cnn_logit"], {}) == pytest.approx(model.logit(first["cnn_logit"], {}))


def test_probability_column_and_numeric_labels_are_accepted(cohort):
    root, cases, val, _, reader = cohort
    table = val.assign(probability=1 / (1 + np.exp(-val["cnn_logit"])), label=(val["label"] == "malignant").astype(int))
    model = fit_stacker(cases[:20], table.drop(columns="cnn_logit"), root / "masks" / "val", reader)
    assert model.n_final == 30 and math.isfinite(model.aucs["cnn_val"])


def test_missing_or_wrongly_sized_masks_and_bad_tables_are_refused(cohort, tmp_path):
    root, cases, val, heldout, reader = cohort
    model = fit_stacker(cases, val, root / "masks" / "val", reader)
    with pytest.raises(StackingError, match="predicted mask not found"):
        score_stacker(model, heldout, tmp_path, reader)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(StackingError, match="original resolution"):
        read_predicted_mask(tmp_path, "x", (H, W))
    with pytest.raises(StackingError, match="missing column"):
        score_stacker(model, heldout.drop(columns="label"), root / "masks" / "heldout", reader)
    with pytest.raises(StackingError, match="neither benign/malignant"):
        fit_stacker(cases, val.assign(label="maybe"), root / "masks" / "val", reader)


def test_empty_predicted_mask_is_scored_from_the_cnn_and_imputed_descriptors(cohort, tmp_path):
    root, cases, val, heldout, reader = cohort
    model = fit_stacker(cases, val, root / "masks" / "val", reader)
    one = heldout.iloc[:1]
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / f"{one['case_id'].iloc[0]}.png")
    scores = score_stacker(model, one, tmp_path, reader)
    assert 0 < scores["stacked_probability"].iloc[0] < 1


def test_descriptors_cli_on_a_synthetic_cohort(tmp_path, monkeypatch):
    from training.__main__ import main

    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    assert main(["descriptors", "--dataset", "synthetic:30:2", "--out", str(out), "--n-boot", "50"]) == 0
    table = pd.read_csv(out / "descriptors.csv")
    assert {"case_id", "patient_id", "fold", "label", "birads", "shape", "margin", "posterior",
            "log_hull_deficit", "descriptor_score_oof"} <= set(table.columns)
    summary = json.loads((out / "descriptors.json").read_text())
    model = summary["cross_validation"]["models"][0]
    assert 0.0 <= model["auc"] <= 1.0 and len(model["auc_ci95"]) == 2
    assert "log_convexity_deficit" in summary["feature_auc"]
    assert summary["timing"]["cpu_ms_median"] > 0
    assert (out / "descriptors.md").read_text().startswith("# Descriptors of expert masks")
