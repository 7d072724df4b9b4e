"""`python -m training evaluate`: score a bundle on a dataset and write a report.

Writes predictions.csv (every case), metrics.json (fixed keys, see README) and
figures: overlays of the best, median and worst segmentations, confusion
matrix, ROC, PR and calibration; plus subgroups.json (age band, device, lesion
size) and, for datasets with BI-RADS, radiologists.json (`training.clinical`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from pipeline.datasets import load_cases, load_mask, read_gray

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--limit", type=int, help="evaluate only the first N cases (quick checks)")
    p.add_argument("--n-boot", type=int, default=1000)


def _overlays(predictor, cases, df, out: Path) -> Path | None:
    lesion = df[df["truth_has_lesion"]].sort_values("dice", ascending=False)
    if lesion.empty:
        return None
    n = len(lesion)
    picks = {"best": lesion.iloc[:3], "median": lesion.iloc[max(n // 2 - 1, 0) : n // 2 + 2], "worst": lesion.iloc[-3:]}
    by_id = {c.case_id: c for c in cases}
    panels = []
    for kind, rows in picks.items():
        for _, row in rows.iterrows():
            case = by_id[row["case_id"]]
            gray = read_gray(case.image_path)
            pred = predictor.predict_gray(gray)
            panels.append((f"{kind}: Dice {row['dice']:.2f}, P(malig) {row['probability']:.2f} ({row['true_label']})",
                           gray, pred.mask, load_mask(case)))
    from training.figures import overlay_grid

    return overlay_grid(panels, out / "overlays.png")


def evaluate_bundle(model: str, spec: str, out: Path, *, limit: int | None = None, n_boot: int = 1000):
    """Predict and score every case, write predictions.csv, metrics.json and figures.

    Shared by `evaluate` and `external`. Also writes the clinical-evidence
    outputs where the data allow: subgroups.json (age band, device, lesion
    size) and, when the dataset carries BI-RADS, radiologists.json.
    Returns (predictor, cases, predictions DataFrame, metrics dict).
    """
    from pipeline.predictor import Predictor
    from training import figures
    from training.evaluation import metrics_json, predict_cases

    predictor = Predictor(model)
    cases = load_cases(spec)[:limit] if limit else load_cases(spec)
    out.mkdir(parents=True, exist_ok=True)
    df = predict_cases(predictor, cases, desc="evaluating")
    df.to_csv(out / "predictions.csv", index=False)
    threshold = predictor.settings.thresholds.malignant
    metrics = metrics_json(predictor.name, spec, df, threshold, n_boot)
    metrics["model_version"] = predictor.version
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    labelled = df[df["malignant"].notna()]
    y, p = labelled["malignant"].to_numpy(int), labelled["probability"].to_numpy(float)
    if len(np.unique(y)) == 2:
        ci = metrics["classification"].get("auc_ci95")
        figures.roc_figure(y, p, out / "roc.png", ci)
        figures.pr_figure(y, p, out / "pr.png")
        figures.calibration_figure(y, p, out / "calibration.png")
        figures.confusion_figure(y, p, threshold, out / "confusion.png")
        _clinical(df, out, threshold, n_boot)
    _overlays(predictor, cases, df, out)
    return predictor, cases, df, metrics


def _clinical(df, out: Path, threshold: float, n_boot: int) -> None:
    """Subgroups and the radiologists' comparison; informative, so never fatal."""
    from pipeline.metrics.reader_comparison import ReaderComparisonConfig
    from training.clinical import has_birads, write_radiologists, write_subgroups

    try:
        write_subgroups(df, out, threshold, n_boot)
        if has_birads(df):
            write_radiologists(df, out, str(out / "predictions.csv"), ReaderComparisonConfig(n_boot=n_boot), threshold)
    except (ValueError, KeyError) as exc:
        log.warning("clinical-evidence outputs skipped: %s", exc)


def run(args) -> int:
    _, _, _, metrics = evaluate_bundle(args.model, args.dataset, Path(args.out), limit=args.limit, n_boot=args.n_boot)
    print(json.dumps({k: metrics[k] for k in ("model", "dataset", "n_images", "segmentation", "classification")}, indent=2))
    return 0
