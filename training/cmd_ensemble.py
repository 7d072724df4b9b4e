"""`python -m training ensemble --cv DIR --out models/NAME`: bundle the finished
fold models of a cross-validation run into one ensemble bundle (members
averaged, calibration and threshold refitted on the pooled out-of-fold
predictions). `cv --ensemble-out` does the same at the end of a full run;
this command also works while later folds are still training."""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--cv", required=True, help="cross-validation folder (fold_K/ bundles)")
    p.add_argument("--out", required=True, help="ensemble bundle folder")


def run(args) -> int:
    from pipeline.bundle import read_bundle_card
    from training.ensemble import write_ensemble

    cv_dir = Path(args.cv)
    summary = json.loads((cv_dir / "cv_summary.json").read_text()) if (cv_dir / "cv_summary.json").exists() else {}
    out = write_ensemble(cv_dir, Path(args.out), summary.get("dataset", ""))
    card = read_bundle_card(out)
    print(json.dumps({"bundle": str(out), "members": [m.source for m in card.members],
                      "threshold": card.thresholds.malignant,
                      "calibration": card.calibration.to_card() if card.calibration else None}, indent=2))
    return 0
