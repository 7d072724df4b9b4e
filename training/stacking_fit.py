"""Fit the stacked CNN + descriptor model for one CV fold, and score held-out images with it.

The two levels of `pipeline.stacking.StackedModel` are fitted on different
patients, for a reason each:

(a) descriptor model: the fold's TRAINING patients with their EXPERT masks
    (many images, so 17 descriptor weights are well determined; optionally
    each mask also enters `jitter` times blurred and re-thresholded, so the
    model also sees outlines as smooth and as slightly too large or small as
    a segmenter's);
(b) final model: the fold's VALIDATION patients, with the CNN's logit and the
    descriptors of the CNN's PREDICTED mask (`masks/val/<case_id>.png`), i.e.
    exactly what the model will see in use, on images neither the CNN nor
    level (a) trained on.

Held-out images (`masks/heldout/<case_id>.png`) are then scored with
`score_stacker`. Tables are pandas DataFrames with `case_id`, `cnn_logit`
(or `probability`, converted) and `label` ("benign"/"malignant" or 0/1);
an optional `spacing_mm` column is passed to the descriptors. Images come
from `image_reader(case_id) -> uint8 H x W` (see `case_image_reader`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.datasets import load_mask, read_gray
from pipeline.descriptors import DESCRIPTOR_FEATURES, lesion_descriptor_features
from pipeline.stacking import StackedModel, StackingError, logit, sigmoid
from pipeline.stacking_train import fit_stacked
from pipeline.types import Case

log = logging.getLogger(__name__)
ImageReader = Callable[[str], np.ndarray]


def case_image_reader(cases: Sequence[Case]) -> ImageReader:
    """image_reader for a dataset's cases: case_id -> its grey image (read on demand)."""
    paths = {c.case_id: c.image_path for c in cases}

    def read(case_id: str) -> np.ndarray:
        if case_id not in paths:
            raise StackingError(f"no image known for case {case_id!r}")
        return read_gray(paths[case_id])

    return read


def read_predicted_mask(masks_dir: str | Path, case_id: str, shape: tuple[int, int]) -> np.ndarray:
    """`masks_dir/<case_id>.png` as a bool mask (any nonzero pixel), checked against the image's shape."""
    path = Path(masks_dir) / f"{case_id}.png"
    if not path.is_file():
        raise StackingError(f"predicted mask not found: {path}")
    with Image.open(path) as im:
        mask = np.asarray(im.convert("L")) > 0
    if mask.shape != tuple(shape):
        raise StackingError(f"{path.name} is {mask.shape[1]}x{mask.shape[0]} px but its image is "
                            f"{shape[1]}x{shape[0]} px: masks must be at the image's original resolution")
    return mask


def jitter_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mask blurred (sigma 0.5-3 px) and re-thresholded at 0.35-0.65: smoother, a little larger or smaller."""
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(mask.astype(np.float32), float(rng.uniform(0.5, 3.0)))
    jittered = blurred >= float(rng.uniform(0.35, 0.65))
    return jittered if jittered.any() else mask


def _labels(values: pd.Series, where: str) -> np.ndarray:
    def one(v) -> int:
        if isinstance(v, str) and v.strip().lower() in ("benign", "malignant"):
            return int(v.strip().lower() == "malignant")
        if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
            return int(v)
        raise StackingError(f"{where}: label {v!r} is neither benign/malignant nor 0/1")

    return np.array([one(v) for v in values], dtype=int)


def _cnn_logits(table: pd.DataFrame, where: str) -> np.ndarray:
    if "cnn_logit" in table.columns:
        values = table["cnn_logit"].to_numpy(float)
    elif "probability" in table.columns:
        values = np.array([logit(p) for p in table["probability"].to_numpy(float)])
    else:
        raise StackingError(f"{where}: needs a cnn_logit (or probability) column")
    if not np.isfinite(values).all():
        raise StackingError(f"{where}: every cnn_logit must be a finite number")
    return values


def _check_table(table: pd.DataFrame, where: str) -> None:
    missing = [c for c in ("case_id", "label") if c not in table.columns]
    if missing:
        raise StackingError(f"{where}: missing column(s) {', '.join(missing)}")
    if table["case_id"].duplicated().any():
        raise StackingError(f"{where}: case_id {table['case_id'][table['case_id'].duplicated()].iloc[0]!r} twice")
    if table.empty:
        raise StackingError(f"{where}: no rows")


def _spacing(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def table_features(table: pd.DataFrame, masks_dir: str | Path, image_reader: ImageReader) -> list[dict[str, float]]:
    """Descriptor features of each row's predicted mask (an empty mask gives NaN features, imputed later)."""
    rows = []
    for record in table.to_dict("records"):
        case_id = str(record["case_id"])
        image = image_reader(case_id)
        mask = read_predicted_mask(masks_dir, case_id, image.shape)
        rows.append(lesion_descriptor_features(image, mask, _spacing(record.get("spacing_mm"))))
    return rows


def training_features(cases: Sequence[Case], image_reader: ImageReader, jitter: int = 0,
                      seed: int = 0) -> tuple[list[dict[str, float]], list[int]]:
    """Descriptor features of the training cases' expert masks (+ `jitter` perturbed copies each)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for case in cases:
        if case.label not in ("benign", "malignant"):
            continue
        image, mask = image_reader(case.case_id), load_mask(case)
        spacing = _spacing(case.metadata.get("spacing_mm"))
        for k in range(1 + jitter):
            rows.append(lesion_descriptor_features(image, mask if k == 0 else jitter_mask(mask, rng), spacing))
            labels.append(int(case.label == "malignant"))
    return rows, labels


def fit_stacker(train_cases: Sequence[Case], val_table: pd.DataFrame, val_masks_dir: str | Path,
                image_reader: ImageReader, *, jitter: int = 0, seed: int = 0, c_descriptor: float = 1.0,
                c_final: float = 1.0, features: Sequence[str] = DESCRIPTOR_FEATURES,
                fitted_on: str = "") -> StackedModel:
    """StackedModel of one fold: level (a) on `train_cases`' expert masks, level (b) on `val_table`."""
    _check_table(val_table, "validation table")
    train_rows, train_y = training_features(train_cases, image_reader, jitter, seed)
    val_y = _labels(val_table["label"], "validation table")
    val_cnn = _cnn_logits(val_table, "validation table")
    val_rows = table_features(val_table, val_masks_dir, image_reader)
    text = fitted_on or (f"descriptor model: {len({c.patient_id for c in train_cases})} training patients' expert "
                         f"masks ({len(train_y)} rows, jitter {jitter}); final model: {len(val_y)} validation "
                         f"images' CNN logits and predicted masks ({Path(val_masks_dir)})")
    model = fit_stacked(train_rows, train_y, val_cnn, val_rows, val_y, feature_names=features, fitted_on=text,
                        c_descriptor=c_descriptor, c_final=c_final)
    log.info("stacker: final weights cnn %.3f, descriptor score %.3f; validation AUC cnn %.3f, descriptors %.3f",
             *model.final.coef, model.aucs["cnn_val"], model.aucs["descriptor_val"])
    return model


def score_stacker(model: StackedModel, table: pd.DataFrame, masks_dir: str | Path,
                  image_reader: ImageReader) -> pd.DataFrame:
    """Held-out scores: case_id, label, cnn_logit, descriptor_score, stacked_logit, stacked_probability, top_reasons."""
    _check_table(table, "held-out table")
    cnn = _cnn_logits(table, "held-out table")
    rows = table_features(table, masks_dir, image_reader)
    out = []
    for case_id, label, c, features in zip(table["case_id"], table["label"], cnn, rows):
        value = model.logit(c, features)
        parts = model.contributions(c, features)
        top = sorted(parts.items(), key=lambda kv: -abs(kv[1]))[:3]
        out.append({"case_id": case_id, "label": label, "cnn_logit": c,
                    "descriptor_score": model.descriptor_score(features), "stacked_logit": value,
                    "stacked_probability": sigmoid(value),
                    "top_reasons": "; ".join(f"{k} {v:+.2f}" for k, v in top)})
    return pd.DataFrame(out)


def fit_and_score_fold(train_cases: Sequence[Case], val_table: pd.DataFrame, heldout_table: pd.DataFrame,
                       masks_root: str | Path, image_reader: ImageReader,
                       **options) -> tuple[StackedModel, pd.DataFrame]:
    """`fit_stacker` on `masks_root/masks/val`, then `score_stacker` on `masks_root/masks/heldout`."""
    root = Path(masks_root)
    model = fit_stacker(train_cases, val_table, root / "masks" / "val", image_reader, **options)
    return model, score_stacker(model, heldout_table, root / "masks" / "heldout", image_reader)


__all__ = ("case_image_reader", "fit_and_score_fold", "fit_stacker", "jitter_mask",
           "read_predicted_mask", "score_stacker", "table_features", "training_features")
