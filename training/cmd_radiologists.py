"""`python -m training radiologists`: the model against the radiologists' BI-RADS.

Reads any predictions CSV with `malignant`, `probability` and `birads`
columns (evaluate's predictions.csv, cv's oof_predictions.csv or several
fold_K/predictions.csv, concatenated) and writes radiologists.json,
radiologists.md, figures/roc_radiologists.png and, when the CSV has age,
device or lesion-size columns, subgroups.json + figures/subgroups.png.
No model is loaded: this is pure arithmetic on saved predictions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from pipeline.errors import LesionLensError

log = logging.getLogger(__name__)


class PredictionsError(LesionLensError):
    """A predictions CSV that cannot be compared with the radiologists."""


def add_arguments(p) -> None:
    p.add_argument("--predictions", required=True, nargs="+", metavar="PRED_CSV",
                   help="predictions CSV(s); several are concatenated (e.g. finished CV folds)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--scale", choices=("auto", "4a", "4"), default="auto",
                   help="BI-RADS scale: 4a = subdivided (BrEaST, positive from 4a), 4 = major categories "
                        "(BUS-BRA, positive from 4); auto = 4a when any value is 4a/4b/4c")
    p.add_argument("--positive-from", help="lowest BI-RADS category called positive (default 4a / 4)")
    p.add_argument("--threshold", type=float,
                   help="model threshold for its own operating point when the CSV has no pred_label")
    p.add_argument("--dataset", help="dataset spec to read true lesion sizes from, for CSVs without true_area_px")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--no-subgroups", action="store_true")


def read_predictions(paths: list[str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise PredictionsError(f"predictions file not found: {path}")
        frames.append(pd.read_csv(path, dtype={"birads": str, "case_id": str, "patient_id": str}))
    df = pd.concat(frames, ignore_index=True)
    missing = [c for c in ("malignant", "probability", "birads") if c not in df.columns]
    if missing:
        raise PredictionsError(f"{', '.join(paths)}: no column(s) {', '.join(missing)} "
                               "(expected a predictions.csv written by evaluate or cv)")
    if "case_id" in df.columns and df["case_id"].duplicated().any():
        raise PredictionsError("the same case_id occurs twice: were the same predictions passed twice?")
    return df


def run(args) -> int:
    from pipeline.metrics.reader_comparison import ReaderComparisonConfig
    from training.clinical import add_truth_areas, has_birads, write_radiologists, write_subgroups

    df = read_predictions(args.predictions)
    if not has_birads(df):
        raise PredictionsError("these predictions carry no BI-RADS values: nothing to compare with")
    out = Path(args.out)
    config = ReaderComparisonConfig(scale=args.scale, positive_from=args.positive_from, n_boot=args.n_boot)
    try:
        result = write_radiologists(df, out, " ".join(args.predictions), config, args.threshold)
    except ValueError as exc:  # unknown BI-RADS text, threshold not on the scale
        raise PredictionsError(str(exc)) from exc
    if not args.no_subgroups:
        if args.dataset and "true_area_px" not in df.columns:
            df = add_truth_areas(df, args.dataset)
        write_subgroups(df, out, args.threshold, args.n_boot, title=f"Subgroups ({Path(args.predictions[0]).name})")
    print((out / "radiologists.md").read_text())
    print(json.dumps({k: result[k] for k in ("n", "threshold", "radiologists", "model")}, indent=2))
    return 0
