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
from dataclasses import replace
from pathlib import Path

import pandas as pd

from pipeline.bundle import read_bundle_card, write_bundle_card
from pipeline.calibration import Calibration, fit_platt
from pipeline.card import BundleCard, Member, Metrics, Split
from pipeline.data_sources import data_sources_for, merge_sources
from pipeline.metrics.classification import CARD_THRESHOLD_LIMITS, youden_threshold

log = logging.getLogger(__name__)


def has_weights(fold: Path) -> bool:
    """A fold copied from `results/` keeps its card and predictions but not its .keras files."""
    return read_bundle_card(fold, require_weights=False).has_weights


def write_ensemble(cv_dir: Path, out: Path, spec: str) -> Path:
    folds = sorted(p for p in cv_dir.glob("fold_*") if (p / "fold_metrics.json").exists())
    if not folds:
        raise ValueError(f"no finished folds in {cv_dir}")
    cards = [read_bundle_card(f, require_weights=False) for f in folds]
    with_weights = [(f, c) for f, c in zip(folds, cards) if c.has_weights]
    if not with_weights:
        raise ValueError(f"no fold in {cv_dir} has its weight files (text-only results cannot form an ensemble)")
    without = [f.name for f, c in zip(folds, cards) if not c.has_weights]
    if without:
        log.warning("ensemble without %s: their weights are not here (finished on another machine); "
                    "their predictions still enter the pooled calibration", ", ".join(without))
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for i, (fold, card) in enumerate(with_weights):
        dest = out / "members" / str(i)
        dest.mkdir(parents=True, exist_ok=True)
        files = card.members[0].weight_files
        for key, rel in files.items():
            shutil.copy2(fold / rel, dest / f"{key}.keras")
        paths = {k: f"members/{i}/{k}.keras" for k in files}
        members.append(Member(seg=paths["seg"], cls=paths["cls"], refine=paths.get("refine"), source=fold.name))
    if len({m.refine is None for m in members}) > 1:
        raise ValueError(f"folds in {cv_dir} mix recipes (some with a refinement stage, some without)")
    # pooled OOF: undo each fold's calibration to recover comparable raw logits
    frames = []
    for fold, card in zip(folds, cards):
        df = pd.read_csv(fold / "predictions.csv")
        df["logit"] = (card.calibration or Calibration()).logit_from_probability(df["probability"])
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
    card = BundleCard(
        # preprocessing, labels, TTA, architectures, presence and "ood" from member 0 (the OOD fingerprint is of its
        # training images and its U-Net's encoder: the predictor scores with member 0)
        name=out.name,
        version=base.version,
        preprocessing=base.preprocessing,
        label_map=base.label_map,
        has_normal=base.has_normal,
        tta_flip=base.tta_flip,
        tta_views=base.tta_views,
        models=base.models,
        ood=base.ood,
        presence=base.presence,
        thresholds=replace(base.thresholds, malignant=threshold),
        calibration=calibration,
        members=tuple(members),
        training=replace(base.training, dataset=spec, split=Split(
            kind="cv-ensemble", folds=tuple(f.name for f, _ in with_weights),
            extra={"folds_without_weights": without})),
        metrics=Metrics(cross_validation=summary.get("table"), pooled_oof=summary.get("pooled")),
        data_sources=merge_sources(data_sources_for(spec), *(c.data_sources for _, c in with_weights)),
    )
    write_bundle_card(out, card)
    return out
