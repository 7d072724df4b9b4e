"""Descriptors of every expert mask of a dataset, and how they relate to malignancy and to the readers.

Used by `python -m training descriptors` (see `training/cmd_descriptors.py`).
Each function is arithmetic on the descriptor table, so it is testable on a
hand-made table:

* `descriptor_table` - one row per image: ids, fold, label, BI-RADS, every
  numeric descriptor, the model features and the words;
* `feature_aucs` - AUC of each number for malignancy (> 0.5 = larger is more
  suspicious), with the orientation-free max(AUC, 1 - AUC);
* `birads_agreement` - share of each suspicious word by BI-RADS category
  and Spearman's rho of the suspicion count with BI-RADS;
* `reader_agreement` - our words against the BrEaST readers' own
  Shape / Margin / Echogenicity / Posterior_features (Cohen's kappa, share);
* `cross_validate` - out-of-fold descriptor-only logistic scores by
  patient-level folds (`training.descriptor_cv`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.datasets import load_mask, read_gray
from pipeline.descriptor_words import suspicion_count
from pipeline.descriptors import DESCRIPTOR_FEATURES, NUMERIC_FIELDS, describe_lesion, descriptor_features
from pipeline.metrics import birads_to_ordinal, roc_auc
from pipeline.types import Case

log = logging.getLogger(__name__)
WORD_COLUMNS = ("shape", "orientation", "margin", "margin_subtypes", "echo_pattern", "posterior")
MODEL_ONLY = tuple(f for f in DESCRIPTOR_FEATURES if f not in NUMERIC_FIELDS)


def _spacing(case: Case) -> float | None:
    value = case.metadata.get("spacing_mm")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def descriptor_table(cases: Sequence[Case]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Descriptors of every benign/malignant case's expert mask, and the CPU time per image (ms).

    Normal images (no lesion) are left out: there is nothing to describe.
    """
    rows, cpu = [], []
    warm = np.zeros((32, 32), bool)
    warm[8:20, 10:24] = True
    describe_lesion(np.full(warm.shape, 100, np.uint8), warm)  # lazy scipy imports stay out of the timing
    for i, case in enumerate(cases):
        if case.label == "normal":
            continue
        image, mask = read_gray(case.image_path), load_mask(case)
        start = time.process_time()
        d = describe_lesion(image, mask, _spacing(case))
        cpu.append(time.process_time() - start)
        features = descriptor_features(d)
        row: dict[str, Any] = {
            "case_id": case.case_id, "patient_id": case.patient_id, "fold": case.fold,
            "label": case.label, "malignant": int(case.label == "malignant"),
            "birads": case.metadata.get("birads"), "image_height": image.shape[0], "image_width": image.shape[1],
        }
        row.update({name: getattr(d, name) for name in NUMERIC_FIELDS})
        row.update({name: features[name] for name in MODEL_ONLY})
        row.update(d.words())
        row["margin_subtypes"] = "&".join(d.margin_subtypes)
        row["suspicion_count"] = suspicion_count(d.shape, d.orientation, d.margin, d.posterior)
        rows.append(row)
        if (i + 1) % 200 == 0:
            log.info("described %d/%d images", i + 1, len(cases))
    ms = 1000.0 * np.asarray(cpu)
    timing = {"cpu_ms_median": float(np.median(ms)), "cpu_ms_p95": float(np.percentile(ms, 95)),
              "cpu_ms_max": float(ms.max()), "n_images": int(ms.size)}
    return pd.DataFrame(rows), timing


def feature_aucs(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """AUC for malignancy of every numeric column (NaN rows left out), best separating first."""
    y = table["malignant"].to_numpy(int)
    out = {}
    for name in (*NUMERIC_FIELDS, *MODEL_ONLY, "suspicion_count"):
        x = table[name].to_numpy(float)
        ok = np.isfinite(x)
        auc = roc_auc(y[ok], x[ok]) if ok.sum() > 1 else math.nan
        out[name] = {"auc": auc, "auc_either_direction": max(auc, 1 - auc) if math.isfinite(auc) else math.nan,
                     "n_missing": int((~ok).sum()),
                     "median_benign": float(np.nanmedian(x[y == 0])) if (ok & (y == 0)).any() else math.nan,
                     "median_malignant": float(np.nanmedian(x[y == 1])) if (ok & (y == 1)).any() else math.nan}
    return dict(sorted(out.items(), key=lambda kv: -np.nan_to_num(kv[1]["auc_either_direction"])))


def _birads_major(values: pd.Series) -> pd.Series:
    return values.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                      else str(v).strip().lower().rstrip("abc") or None)


SUSPICIOUS_WORDS = {
    "irregular shape": ("shape", "irregular"),
    "not parallel": ("orientation", "not parallel"),
    "not circumscribed": ("margin", "not circumscribed"),
    "spiculated": ("margin_subtypes", "spiculated"),
    "angular": ("margin_subtypes", "angular"),
    "microlobulated": ("margin_subtypes", "microlobulated"),
    "indistinct": ("margin_subtypes", "indistinct"),
    "posterior shadowing": ("posterior", "shadowing"),
    "posterior enhancement": ("posterior", "enhancement"),
    "hypoechoic": ("echo_pattern", "hypoechoic"),
    "anechoic": ("echo_pattern", "anechoic"),
    "heterogeneous": ("echo_pattern", "heterogeneous"),
}


def _has(table: pd.DataFrame, column: str, word: str) -> pd.Series:
    values = table[column].fillna("").astype(str)
    if column == "margin":
        return values.str.startswith(word)
    if column == "margin_subtypes":
        return values.str.split("&").map(lambda parts: word in parts)
    return values == word


def birads_agreement(table: pd.DataFrame) -> dict[str, Any] | None:
    """Shares of our words by the radiologists' BI-RADS category; None without BI-RADS."""
    from scipy.stats import spearmanr

    rated = table[table["birads"].notna()].copy()
    if rated.empty:
        return None
    rated["birads_major"] = _birads_major(rated["birads"].astype(str))
    shares: dict[str, dict[str, float]] = {}
    for label, (column, word) in SUSPICIOUS_WORDS.items():
        has = _has(rated, column, word)
        shares[label] = {f"BI-RADS {k}": float(has[g.index].mean()) for k, g in rated.groupby("birads_major")}
    counts = {f"BI-RADS {k}": {str(c): int(n) for c, n in g["suspicion_count"].value_counts().sort_index().items()}
              for k, g in rated.groupby("birads_major")}
    ordinal = birads_to_ordinal(rated["birads"].tolist())
    rho, p = spearmanr(rated["suspicion_count"].to_numpy(float), ordinal)
    return {
        "n": int(len(rated)), "images_per_category": rated["birads_major"].value_counts().sort_index().to_dict(),
        "share_of_word_by_birads": shares, "suspicion_count_by_birads": counts,
        "suspicion_count": "irregular shape + not parallel + not circumscribed + posterior shadowing (0-4)",
        "spearman_suspicion_count_vs_birads": {"rho": float(rho), "p": float(p),
                                               "birads_scale": "ordinal 2 < 3 < 4(a) < 4b < 4c < 5"},
        "auc_suspicion_count": roc_auc(rated["malignant"].to_numpy(int), rated["suspicion_count"].to_numpy(float)),
        "auc_birads": roc_auc(rated["malignant"].to_numpy(int), ordinal),
    }


def _kappa(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Agreement share, Cohen's kappa and confusion of two raters' words (pairs with a missing word left out)."""
    from sklearn.metrics import cohen_kappa_score

    pairs = [(str(x), str(y)) for x, y in zip(a, b)
             if x is not None and y is not None and not (isinstance(x, float) and math.isnan(x))
             and not (isinstance(y, float) and math.isnan(y))]
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    labels = sorted(set(a) | set(b))
    agree = float(np.mean([x == y for x, y in zip(a, b)])) if a else math.nan
    kappa = float(cohen_kappa_score(a, b, labels=labels)) if len(set(a) | set(b)) > 1 else math.nan
    confusion = {f"reader {r}": {f"ours {o}": int(sum(1 for x, y in zip(a, b) if x == r and y == o)) for o in labels}
                 for r in labels}
    return {"n": len(a), "agreement": agree, "cohen_kappa": kappa, "confusion": confusion}


# readers' words (BrEaST clinical-data.csv) -> ours
ECHO_MAP = {"complex cystic/solid": "heterogeneous"}
POSTERIOR_MAP = {"no": "none"}


def reader_agreement(table: pd.DataFrame, reader: pd.DataFrame) -> dict[str, Any] | None:
    """Our words vs the readers' descriptors (`reader`: case_id + radiologist_* columns); None without them."""
    if reader.empty or "radiologist_shape" not in reader.columns:
        return None
    both = table.merge(reader, on="case_id")
    both = both[both["radiologist_shape"].notna() & (both["radiologist_shape"] != "not applicable")]
    if both.empty:
        return None
    out: dict[str, Any] = {
        "shape (oval/round/irregular)": _kappa(both["radiologist_shape"], both["shape"]),
        "shape irregular vs not": _kappa(both["radiologist_shape"] == "irregular", both["shape"] == "irregular"),
    }
    if "radiologist_orientation" in both.columns:
        out["orientation (parallel/not parallel)"] = _kappa(both["radiologist_orientation"], both["orientation"])
    if "radiologist_margin" in both.columns:
        r_margin = both["radiologist_margin"].fillna("").astype(str)
        out["margin circumscribed vs not"] = _kappa(r_margin.str.startswith("circumscribed"),
                                                    both["margin"].str.startswith("circumscribed"))
        ours_sub = both["margin_subtypes"].fillna("").astype(str).str.split("&")
        for sub in ("spiculated", "angular", "microlobulated", "indistinct"):
            out[f"margin {sub} (present vs absent)"] = _kappa(r_margin.str.contains(sub),
                                                              ours_sub.map(lambda s, sub=sub: sub in s))
    if "radiologist_echogenicity" in both.columns:
        echo = both["radiologist_echogenicity"].replace(ECHO_MAP)
        out["echo pattern (5 words; complex cystic/solid = heterogeneous)"] = _kappa(echo, both["echo_pattern"])
    column = next((c for c in ("radiologist_posterior_features", "radiologist_posterior") if c in both.columns), None)
    if column:
        posterior = both[column].replace(POSTERIOR_MAP)
        out["posterior features (none/enhancement/shadowing/combined)"] = _kappa(posterior, both["posterior"])
        out["posterior shadowing vs not"] = _kappa(posterior == "shadowing", both["posterior"] == "shadowing")
    return out
