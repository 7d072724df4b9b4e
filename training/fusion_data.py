"""The per-case table the fusion models learn from: image features + patient data + label.

Image features come either from running a bundle's Predictor on every case
(the bundle must not have been trained on this dataset, or its
probabilities would be in-sample and every fused figure inflated) or from
an out-of-fold `predictions.csv` of `python -m training cv` on this very
dataset. Predictor runs are cached in `image_features.csv` in the output
folder, keyed by model name and version, so re-running `fuse` is quick.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.bundle import training_specs
from pipeline.card import BundleCard
from pipeline.datasets import LOADERS, image_size, parse_spec, read_gray
from pipeline.errors import DatasetError
from pipeline.fusion import IMAGE_FEATURES, logit
from pipeline.lesion_features import LESION_FEATURES, lesion_shape, shape_features
from pipeline.patient_features import METADATA_FEATURES, assert_allowed, metadata_features
from pipeline.types import Case

log = logging.getLogger(__name__)
CACHE_NAME = "image_features.csv"
LABELS = {"benign": 0, "malignant": 1}


def _same_dataset(a: str, b: str) -> bool:
    (scheme_a, rest_a), (scheme_b, rest_b) = parse_spec(a), parse_spec(b)
    if LOADERS[scheme_a] is not LOADERS[scheme_b]:
        return False
    if scheme_a == "synthetic":
        return rest_a == rest_b
    return Path(rest_a).expanduser().resolve() == Path(rest_b).expanduser().resolve()


def check_out_of_sample(card: BundleCard, dataset_spec: str) -> None:
    """Refuse a bundle trained on the dataset being fused (or started from one trained on it): its
    probabilities would be in-sample."""
    for spec in training_specs(card.training):
        try:
            same = _same_dataset(spec, dataset_spec)
        except DatasetError:
            continue  # an unparseable old spec cannot be the same dataset
        if same:
            raise DatasetError(
                f"image model {card.name} was trained on {spec}: its probabilities for {dataset_spec} are "
                "in-sample. Use a model trained elsewhere, or pass --image-predictions with the out-of-fold "
                "predictions.csv of `python -m training cv` on this dataset")


def image_features_from_bundle(bundle_dir: Path, cases: list[Case], cache: Path) -> tuple[pd.DataFrame, str]:
    """Predictor run on every case (or the cache of an earlier identical run); returns (table, model name)."""
    from pipeline.bundle import read_bundle_card

    card = read_bundle_card(bundle_dir)
    name, version = card.identity
    wanted = {c.case_id for c in cases}
    if cache.is_file():
        cached = pd.read_csv(cache)
        same_model = set(cached.get("image_model", [])) == {name} and set(cached["image_model_version"].astype(str)) == {version}
        if same_model and wanted <= set(cached["case_id"].astype(str)):
            log.info("image features from the cache %s", cache)
            return cached[cached["case_id"].astype(str).isin(wanted)].reset_index(drop=True), name
    from tqdm import tqdm

    from pipeline.predictor import Predictor

    predictor = Predictor(bundle_dir)
    rows = []
    for case in tqdm(cases, desc="image model", unit="img", mininterval=5):
        spacing = case.metadata.get("spacing_mm")
        spacing = (float(spacing), float(spacing)) if isinstance(spacing, (int, float)) else spacing
        pred = predictor.predict_gray(read_gray(case.image_path), spacing_mm=spacing)
        shape = lesion_shape(pred.mask, spacing)
        rows.append({"case_id": case.case_id, "probability": pred.probability, "uncertainty": pred.uncertainty,
                     "lesion_found": pred.lesion_found, "area_px": pred.area_px, "area_mm2": shape.area_mm2,
                     **shape_features(shape), "image_model": name, "image_model_version": version})
    table = pd.DataFrame(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(cache, index=False)
    return table, name


def image_features_from_csv(path: Path, cases: list[Case]) -> pd.DataFrame:
    """Out-of-fold predictions (case_id, probability, area_px, ...); lesion shape columns used when present.

    A CV predictions.csv carries the area but not the mask, so without shape
    columns only the lesion size (and whether one was found) enter the model.
    """
    table = pd.read_csv(path)
    missing = [c for c in ("case_id", "probability") if c not in table]
    if missing:
        raise DatasetError(f"{path.name}: missing column(s) {', '.join(missing)} (need case_id, probability)")
    table["case_id"] = table["case_id"].astype(str)
    if table["case_id"].duplicated().any():
        raise DatasetError(f"{path.name}: a case_id occurs twice (several runs concatenated?)")
    by_id = {c.case_id: c for c in cases}
    table = table[table["case_id"].isin(by_id)].reset_index(drop=True)
    if "lesion_missing" not in table:
        found = table["lesion_found"].astype(bool) if "lesion_found" in table else table.get("area_px", 1) > 0
        table["lesion_missing"] = (~pd.Series(found, index=table.index).astype(bool)).astype(float)
    if "log_area_fraction" not in table and "area_px" in table:
        sizes = [image_size(by_id[c].image_path) for c in table["case_id"]]
        fraction = table["area_px"].to_numpy(float) / np.array([h * w for h, w in sizes], float)
        table["log_area_fraction"] = np.where(fraction > 0, np.log(np.maximum(fraction, 1e-6)), np.nan)
    for name in LESION_FEATURES:
        if name not in table:
            table[name] = math.nan
    return table


def build_table(cases: list[Case], image: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled case with an image probability: ids, y, and every candidate feature."""
    image = image.set_index(image["case_id"].astype(str))
    rows = []
    for case in cases:
        if case.label not in LABELS or case.case_id not in image.index:
            continue
        img = image.loc[case.case_id]
        row = {"case_id": case.case_id, "patient_id": case.patient_id, "y": LABELS[case.label],
               "image_probability": float(img["probability"]), "image_logit": logit(float(img["probability"]))}
        row.update({name: float(img[name]) for name in LESION_FEATURES})
        row.update(metadata_features(case.metadata))
        rows.append(row)
    if len(rows) < 20:
        raise DatasetError(f"only {len(rows)} labelled cases have an image probability; fusion needs at least 20")
    skipped = sum(1 for c in cases if c.label in LABELS) - len(rows)
    if skipped:
        log.warning("%d labelled cases have no image probability and are left out", skipped)
    table = pd.DataFrame(rows)
    assert_allowed(table.columns)
    return table


def informative(table: pd.DataFrame, names: tuple[str, ...] | list[str]) -> list[str]:
    """The features that vary in this table (a constant or never-recorded input carries nothing)."""
    return [n for n in names if table[n].dropna().nunique() > 1]


def feature_groups(table: pd.DataFrame) -> dict[str, list[str]]:
    return {"image": informative(table, IMAGE_FEATURES), "lesion": informative(table, LESION_FEATURES),
            "metadata": informative(table, METADATA_FEATURES)}
