"""Clinical-evidence artifacts from a predictions table (evaluate / cv / external).

Works on the per-image DataFrame that `training.evaluation.predict_cases`
writes as predictions.csv, so the same outputs come from a fresh evaluation
or from any earlier CSV (including pooled cross-validation folds):

* `radiologists.json` / `.md` / `figures/roc_radiologists.png`: the model
  against the radiologists' BI-RADS on the same images;
* `subgroups.json` / `figures/subgroups.png`: age band, device and lesion size.

The model's own decision per image is taken from `pred_label` when present:
pooled CV folds each had their own threshold, so no single threshold
reproduces them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics.reader_comparison import ReaderComparisonConfig, birads_scores, compare_with_readers
from pipeline.metrics.subgroups import lesion_size_bands, subgroup_table

log = logging.getLogger(__name__)
SUBGROUP_COLUMNS = ("age_band", "device", "size_band")


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """Benign/malignant rows only (normals have no ground-truth class)."""
    return df[df["malignant"].notna()].reset_index(drop=True)


def has_birads(df: pd.DataFrame) -> bool:
    return "birads" in df.columns and labelled(df)["birads"].notna().any()


def _called(df: pd.DataFrame, threshold: float | None) -> np.ndarray | None:
    if "pred_label" in df.columns:
        return (df["pred_label"].astype(str) == "malignant").to_numpy()
    if threshold is not None:
        return df["probability"].to_numpy(float) >= threshold
    return None


def _patients(df: pd.DataFrame) -> np.ndarray:
    column = "patient_id" if "patient_id" in df.columns else "case_id"
    return df[column].astype(str).to_numpy()


def add_truth_areas(df: pd.DataFrame, spec: str) -> pd.DataFrame:
    """Fill `true_area_px` / `spacing_mm` from the dataset's masks for CSVs
    written before predictions.csv carried them (reads every mask once)."""
    from pipeline.datasets import load_cases, load_mask

    by_id = {c.case_id: c for c in load_cases(spec)}
    df = df.copy()
    areas, spacings = [], []
    for case_id in df["case_id"].astype(str):
        case = by_id.get(case_id)
        areas.append(int(load_mask(case).sum()) if case is not None else np.nan)
        spacing = case.metadata.get("spacing_mm") if case is not None else None
        spacings.append(float(np.mean(spacing)) if spacing is not None else np.nan)
    df["true_area_px"] = areas
    if "spacing_mm" not in df.columns or df["spacing_mm"].isna().all():
        df["spacing_mm"] = spacings
    return df


def radiologists_report(df: pd.DataFrame, config: ReaderComparisonConfig, threshold: float | None = None
                        ) -> dict[str, Any]:
    rows = labelled(df)
    return compare_with_readers(
        rows["malignant"].to_numpy(int), rows["probability"].to_numpy(float), list(rows["birads"]),
        patients=_patients(rows), called=_called(rows, threshold), config=config,
    )


def radiologists_markdown(result: dict[str, Any]) -> str:
    def fmt(value, ci=None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")

    r, m, d = result["radiologists"], result["model"], result["differences_model_minus_radiologists"]
    lines = [
        f"Model vs radiologists' BI-RADS (positive at >= {result['threshold']}, {result['scale']} scale) on the "
        f"same {result['n']} images ({result['n_positive']} malignant, {result['n_patients']} patients; "
        f"{result['n_excluded_no_birads']} without BI-RADS excluded). 95% CIs: bootstrap over "
        f"{result['bootstrap']['unit']}s, {result['bootstrap']['n_boot']} replicates.",
        "",
        "| measure | radiologists | model | model − radiologists |",
        "|---|---|---|---|",
        f"| sensitivity | {fmt(r['sensitivity'], r['sensitivity_ci95'])} | "
        f"{fmt(m['sensitivity_at_radiologist_specificity'], m['sensitivity_at_radiologist_specificity_ci95'])} "
        f"(at their specificity) | {fmt(d['sensitivity_at_radiologist_specificity'], d['sensitivity_at_radiologist_specificity_ci95'])} |",
        f"| specificity | {fmt(r['specificity'], r['specificity_ci95'])} | "
        f"{fmt(m['specificity_at_radiologist_sensitivity'], m['specificity_at_radiologist_sensitivity_ci95'])} "
        f"(at their sensitivity) | {fmt(d['specificity_at_radiologist_sensitivity'], d['specificity_at_radiologist_sensitivity_ci95'])} |",
        f"| AUC | {fmt(r['birads_auc'], r['birads_auc_ci95'])} (BI-RADS as ordinal score) | "
        f"{fmt(m['auc'], m['auc_ci95'])} | {fmt(d['auc_vs_birads_auc'], d['auc_vs_birads_auc_ci95'])} |",
    ]
    if m.get("sensitivity") is not None:
        lines.append(f"| model at its own threshold | | sens {fmt(m['sensitivity'], m['sensitivity_ci95'])}, "
                     f"spec {fmt(m['specificity'], m['specificity_ci95'])} | |")
    return "\n".join(lines) + "\n"


def write_radiologists(df: pd.DataFrame, out: Path, predictions: str, config: ReaderComparisonConfig,
                       threshold: float | None = None) -> dict[str, Any]:
    """radiologists.json, radiologists.md and figures/roc_radiologists.png under `out`."""
    from training.figures_clinical import roc_radiologists_figure

    out.mkdir(parents=True, exist_ok=True)
    result = {"predictions": predictions, **radiologists_report(df, config, threshold)}
    (out / "radiologists.json").write_text(json.dumps(result, indent=2))
    (out / "radiologists.md").write_text(radiologists_markdown(result))
    rows = labelled(df)
    keep = np.isfinite(birads_scores(list(rows["birads"]), result["scale"]))  # the images both were scored on
    roc_radiologists_figure(rows["malignant"].to_numpy(int)[keep], rows["probability"].to_numpy(float)[keep],
                            result, out / "figures" / "roc_radiologists.png")
    return result


def subgroup_report(df: pd.DataFrame, threshold: float | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """Rows for age band (where known), device and true lesion size, with CIs."""
    rows = labelled(df).rename(columns={"malignant": "y_true", "probability": "prob"})
    cols, size_scale = [], None
    if "age" in rows and rows["age"].notna().any():
        cols.append("age_band")
    if "device" in rows and rows["device"].notna().any():
        cols.append("device")
    if "true_area_px" in rows and rows["true_area_px"].notna().any():
        spacing = rows["spacing_mm"] if "spacing_mm" in rows else None
        labels, size_scale = lesion_size_bands(rows["true_area_px"], spacing)
        rows["size_band"] = labels
        cols.append("size_band")
    called = _called(rows, threshold)
    if called is not None:
        rows["called"] = called
    table = subgroup_table(rows, cols, dice_col=None, patient_col="patient_id" if "patient_id" in rows else None,
                           n_boot=n_boot, called_col="called" if called is not None else None,
                           threshold=0.5 if threshold is None else threshold)
    if "age_band" in cols:  # "only where age is known": the unknown band is not a subgroup
        table = [r for r in table if not (r["column"] == "age_band" and r["subgroup"] == "unknown")]
    return {"columns": cols, "size_bands": size_scale, "rows": table,
            "note": "size_band: equivalent diameter of the expert mask (mm) when pixel spacing is known, "
                    "else tertiles of its pixel area; decisions = the model's own call per image"}


def write_subgroups(df: pd.DataFrame, out: Path, threshold: float | None = None, n_boot: int = 1000,
                    title: str = "Subgroups") -> dict[str, Any] | None:
    """subgroups.json and figures/subgroups.png; None (and a log line) when nothing to group by."""
    from training.figures_clinical import subgroup_forest_figure

    report = subgroup_report(df, threshold, n_boot)
    if not report["columns"]:
        log.info("no subgroup columns (age, device, lesion size) in these predictions")
        return None
    out.mkdir(parents=True, exist_ok=True)
    (out / "subgroups.json").write_text(json.dumps(report, indent=2))
    subgroup_forest_figure(report["rows"], out / "figures" / "subgroups.png", title)
    return report
