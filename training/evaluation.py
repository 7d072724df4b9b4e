"""Predict every case of a dataset with a Predictor and score the results.

Segmentation is scored at the original image resolution against the expert
mask: Dice/IoU are averaged over images whose truth has a lesion; images
without a lesion (normals) are reported separately as false detections.
Classification is scored on benign/malignant cases with the bundle's own
threshold; CIs by bootstrap over patients.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.datasets import load_mask, read_gray
from pipeline.metrics.report import classification_report, segmentation_report, subgroup_table, to_jsonable
from pipeline.metrics.segmentation import dice, hd95, iou
from pipeline.predictor import Predictor
from pipeline.types import Case

log = logging.getLogger(__name__)
# birads/birads_major: the radiologists' read, kept for the reader comparison
# (never a model input); spacing_mm turns true_area_px into a size in mm.
META_COLUMNS = ("age", "sex", "device", "birads", "birads_major", "history", "spacing_mm")


def save_mask_png(mask: np.ndarray, path: Path) -> None:
    """1-bit PNG: a predicted mask costs ~1 kB, so every fold's masks can be kept as text-sized results."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(mask, bool)).convert("1").save(path, optimize=True)


def predict_lesion_free(predictor: Predictor, cases: list[Case], desc: str = "lesion-free crops") -> pd.DataFrame:
    """The model on a lesion-free strip of each scan (`pipeline.crops.lesion_free_box` of the expert
    mask, at the original resolution): how often does it answer "no lesion" where there is none?"""
    from pipeline.crops import crop_box, lesion_free_box

    rows = []
    for case in tqdm(cases, desc=desc, unit="img", mininterval=5):
        truth = load_mask(case)
        free = lesion_free_box(truth) if truth.any() else None
        if free is None:
            continue
        gray = read_gray(case.image_path)
        if truth.shape != gray.shape:
            continue
        pred = predictor.predict_gray(crop_box(gray, free))
        rows.append({"case_id": case.case_id, "patient_id": case.patient_id, "crop": list(free),
                     "lesion_probability": pred.lesion_probability, "lesion_found": pred.lesion_found})
    return pd.DataFrame(rows)


def predict_cases(predictor: Predictor, cases: list[Case], desc: str = "predicting",
                  mask_dir: Path | None = None) -> pd.DataFrame:
    rows = []
    for case in tqdm(cases, desc=desc, unit="img", mininterval=5):
        gray = read_gray(case.image_path)
        truth = load_mask(case)
        spacing = case.metadata.get("spacing_mm")
        spacing = (float(spacing), float(spacing)) if isinstance(spacing, (int, float)) else spacing
        pred = predictor.predict_gray(gray, spacing_mm=spacing)
        has_lesion = bool(truth.any())
        row = {
            "case_id": case.case_id,
            "patient_id": case.patient_id,
            "dataset": case.dataset,
            "fold": case.fold,
            "true_label": case.label,
            "malignant": {"malignant": 1, "benign": 0}.get(case.label),
            "probability": pred.probability,
            "uncertainty": pred.uncertainty,
            "pred_label": pred.label,
            "lesion_found": pred.lesion_found,
            "truth_has_lesion": has_lesion,
            "dice": dice(pred.mask, truth) if has_lesion else math.nan,
            "iou": iou(pred.mask, truth) if has_lesion else math.nan,
            "hd95_px": hd95(pred.mask, truth) if has_lesion else math.nan,
            "area_px": pred.area_px,
            "true_area_px": int(truth.sum()),
            "ms_total": pred.timings_ms.get("total"),
            "cnn_logit": pred.cnn_logit,
            "lesion_probability": pred.lesion_probability,
        }
        if mask_dir is not None:
            save_mask_png(pred.mask, Path(mask_dir) / f"{case.case_id}.png")
        for key in META_COLUMNS:
            row[key] = case.metadata.get(key)
        row["spacing_mm"] = float(np.mean(spacing)) if spacing is not None else None  # (row, col) -> one number
        rows.append(row)
    return pd.DataFrame(rows)


def score_predictions(df: pd.DataFrame, threshold: float, n_boot: int = 1000) -> dict[str, Any]:
    """The fixed metrics.json sections (segmentation, classification, subgroups)."""
    lesion = df[df["truth_has_lesion"]]
    seg = segmentation_report(
        lesion["dice"].to_numpy(float), lesion["iou"].to_numpy(float), lesion["hd95_px"].to_numpy(float),
        groups=lesion["patient_id"].astype(str).to_numpy(),
    )
    normals = df[~df["truth_has_lesion"]]
    seg["n_without_lesion"] = int(len(normals))
    seg["false_detections_on_normals"] = int(normals["lesion_found"].sum()) if len(normals) else 0
    seg["empty_masks"] = "Dice/IoU averaged over images whose expert mask has a lesion; normals counted as false detections"
    labelled = df[df["malignant"].notna()]
    cls = classification_report(
        labelled["malignant"].to_numpy(int), labelled["probability"].to_numpy(float), threshold,
        groups=labelled["patient_id"].astype(str).to_numpy(), n_boot=n_boot,
    )
    sub_df = labelled.rename(columns={"malignant": "y_true", "probability": "prob"})
    cols = [c for c in ("age", "sex", "device", "history") if c in sub_df and sub_df[c].notna().any()]
    try:
        subgroups = subgroup_table(sub_df, cols, threshold=threshold) if cols else {}
    except Exception as exc:  # subgroup tables are informative, never fatal
        log.warning("subgroup table failed: %s", exc)
        subgroups = {}
    return to_jsonable({"segmentation": seg, "classification": cls, "subgroups": subgroups})


def metrics_json(name: str, spec: str, df: pd.DataFrame, threshold: float, n_boot: int = 1000) -> dict[str, Any]:
    return {"model": name, "dataset": spec, "n_images": int(len(df)), **score_predictions(df, threshold, n_boot)}
