"""Combine cross-validation fold bundles into one ensemble bundle.

The members' probabilities are averaged by the Predictor; the ensemble's
temperature and threshold are refitted on the pooled out-of-fold predictions
(each made by a model that never saw that patient), and the card carries the
CV table as its cross-validated metrics.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.bundle import read_bundle_card, write_bundle_card
from pipeline.calibration import Calibration, fit_platt
from pipeline.metrics.classification import CARD_THRESHOLD_LIMITS, youden_threshold

log = logging.getLogger(__name__)


def has_weights(fold: Path) -> bool:
    """A fold copied from `results/` keeps its card and predictions but not its .keras files."""
    return read_bundle_card(fold, require_weights=False)["has_weights"]


def write_ensemble(cv_dir: Path, out: Path, spec: str) -> Path:
    folds = sorted(p for p in cv_dir.glob("fold_*") if (p / "fold_metrics.json").exists())
    if not folds:
        raise ValueError(f"no finished folds in {cv_dir}")
    cards = [read_bundle_card(f, require_weights=False) for f in folds]
    with_weights = [(f, c) for f, c in zip(folds, cards) if c["has_weights"]]
    if not with_weights:
        raise ValueError(f"no fold in {cv_dir} has its weight files (text-only results cannot form an ensemble)")
    without = [f.name for f, c in zip(folds, cards) if not c["has_weights"]]
    if without:
        log.warning("ensemble without %s: their weights are not here (finished on another machine); "
                    "their predictions still enter the pooled calibration", ", ".join(without))
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for i, (fold, card) in enumerate(with_weights):
        dest = out / "members" / str(i)
        dest.mkdir(parents=True, exist_ok=True)
        keys = [k for k in ("seg", "refine", "cls") if card["members"][0].get(k)]
        for key in keys:
            shutil.copy2(fold / card["members"][0][key], dest / f"{key}.keras")
        members.append({**{k: f"members/{i}/{k}.keras" for k in keys}, "from": fold.name})
    if len({tuple(sorted(m)) for m in members}) > 1:
        raise ValueError(f"folds in {cv_dir} mix recipes (some with a refinement stage, some without)")
    # pooled OOF: undo each fold's calibration to recover comparable raw logits
    frames = []
    for fold, card in zip(folds, cards):
        df = pd.read_csv(fold / "predictions.csv")
        df["logit"] = Calibration.from_card(card["calibration"]).logit_from_probability(df["probability"])
        if "cnn_logit" in df and df["cnn_logit"].notna().all():  # the raw mean logit, kept since the refinement recipe
            df["logit"] = df["cnn_logit"]
        frames.append(df)
    oof = pd.concat(frames)
    oof = oof[oof["malignant"].notna()]
    calibration = fit_platt(oof["logit"].to_numpy(), oof["malignant"].to_numpy(), "pooled out-of-fold predictions")
    threshold = youden_threshold(oof["malignant"].to_numpy(), calibration.probability(oof["logit"].to_numpy()),
                                 fallback=0.5, limits=CARD_THRESHOLD_LIMITS)
    summary_path = cv_dir / "cv_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    base = with_weights[0][1]
    card = {
        # "ood": member 0's fingerprint (its training images and its U-Net's encoder): the predictor scores with member 0
        **{k: base[k] for k in ("preprocessing", "label_map", "has_normal", "tta_flip", "tta_views", "models", "ood",
                                            "presence") if k in base},
        "name": out.name,
        "version": base["version"],
        "thresholds": {**base["thresholds"], "malignant": threshold},
        "calibration": calibration.to_card(),
        "members": members,
        "training": {**base["training"], "split": {"kind": "cv-ensemble", "folds": [f.name for f, _ in with_weights],
                                                   "folds_without_weights": without}},
        "metrics": {"cross_validation": summary.get("table"), "pooled_oof": summary.get("pooled")},
    }
    card["training"]["dataset"] = spec
    write_bundle_card(out, card)
    return out
