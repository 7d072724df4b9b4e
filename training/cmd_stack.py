"""`python -m training stack`: the CNN + BI-RADS-descriptor model, and shape fidelity, over a CV's folds.

Each finished fold of `training cv` keeps its inner-validation and held-out predictions with the
predicted masks (`val_predictions.csv`, `predictions.csv`, `masks/{val,heldout}/`). This stage,
per fold and without retraining anything:

* fits the stacked model (`training.stacking_fit`): descriptor weights on the fold's training
  patients' expert masks, the final CNN + descriptor-score weights on its validation patients,
  and scores the held-out patients; writes `stacking.json` into the fold bundle;
* measures **shape fidelity**: the same descriptors from the predicted and from the expert mask
  of every held-out lesion (their differences), and the descriptor-only score from each, so the
  AUC lost to the segmenter's borders is a number (issue 12: "border fidelity is diagnosis quality").

Outputs in `--cv`: `fold_K/stacked_predictions.csv`, `fold_K/fidelity.csv`, `stack_summary.json`, `stack.md`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
FIDELITY = ("solidity", "convexity", "lobulation", "margin_roughness", "depth_width_ratio", "major_axis_angle")


def add_arguments(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--cv", help="a `training cv` output folder: stack every finished fold, score held-out folds")
    where.add_argument("--bundle", help="a `training train` bundle: add a declared stacked model to it "
                                        "(training/stack_bundle.py)")
    p.add_argument("--dataset", required=True, help="the dataset spec the CV or the bundle was trained on")
    p.add_argument("--n-boot", type=int, default=1000)


def _table(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df["true_label"].isin(["benign", "malignant"])].copy()
    return df.rename(columns={"true_label": "label"})


def fidelity_rows(cases, heldout: pd.DataFrame, masks_dir: Path, model, reader) -> pd.DataFrame:
    """Per held-out lesion: descriptors of the predicted minus the expert mask, and both descriptor scores."""
    from pipeline.datasets import load_mask
    from pipeline.descriptors import describe_lesion, descriptor_features
    from training.stacking_fit import read_predicted_mask

    by_id = {c.case_id: c for c in cases}
    rows = []
    for record in heldout.to_dict("records"):
        case = by_id[str(record["case_id"])]
        image = reader(case.case_id)
        expert, predicted = load_mask(case), read_predicted_mask(masks_dir, case.case_id, image.shape)
        d_exp, d_pred = describe_lesion(image, expert), describe_lesion(image, predicted)
        row = {"case_id": case.case_id, "patient_id": case.patient_id, "label": record["label"],
               "descriptor_score_expert": model.descriptor_score(descriptor_features(d_exp)),
               "descriptor_score_predicted": model.descriptor_score(descriptor_features(d_pred))}
        for name in FIDELITY:
            row[f"{name}_expert"], row[f"{name}_predicted"] = getattr(d_exp, name), getattr(d_pred, name)
            row[f"{name}_difference"] = getattr(d_pred, name) - getattr(d_exp, name)
        rows.append(row)
    return pd.DataFrame(rows)


def _auc(y, score, groups, n_boot: int) -> dict:
    from pipeline.metrics.bootstrap import bootstrap_ci
    from pipeline.metrics.classification import roc_auc

    y, score = np.asarray(y, int), np.asarray(score, float)
    ok = np.isfinite(score)
    low, high = bootstrap_ci(roc_auc, y[ok], score[ok], groups=np.asarray(groups)[ok], n_boot=n_boot)
    return {"auc": roc_auc(y[ok], score[ok]), "ci95": [low, high], "n": int(ok.sum())}


def run(args) -> int:
    from pipeline.datasets import load_cases
    from pipeline.stacking import STACKING_FILE
    from training.stacking_fit import case_image_reader, fit_and_score_fold

    if args.bundle:
        from training.stack_bundle import stack_bundle

        print(json.dumps(stack_bundle(args.bundle, args.dataset), indent=2))
        return 0
    cv = Path(args.cv)
    cases = load_cases(args.dataset)
    folds = json.loads((cv / "folds.json").read_text())
    reader = case_image_reader(cases)
    stacked, fidelity = [], []
    for fold_dir in sorted(cv.glob("fold_*")):
        needed = [fold_dir / n for n in ("predictions.csv", "val_predictions.csv", "masks")]
        if not all(p.exists() for p in needed):
            log.info("%s: no predicted masks (a fold of an older recipe or unfinished): skipped", fold_dir.name)
            continue
        k = int(fold_dir.name.split("_")[1])
        val = _table(pd.read_csv(fold_dir / "val_predictions.csv"))
        heldout = _table(pd.read_csv(fold_dir / "predictions.csv"))
        val_ids = set(pd.read_csv(fold_dir / "val_predictions.csv")["case_id"].astype(str))
        train = [c for c in cases if folds.get(c.case_id) != k and c.case_id not in val_ids]
        model, scored = fit_and_score_fold(train, val, heldout, fold_dir, reader)
        model.save(fold_dir / STACKING_FILE)
        scored = scored.merge(heldout[["case_id", "patient_id", "probability"]], on="case_id")
        scored["fold"] = k
        scored.to_csv(fold_dir / "stacked_predictions.csv", index=False)
        fid = fidelity_rows(cases, heldout, fold_dir / "masks" / "heldout", model, reader)
        fid["fold"] = k
        fid.to_csv(fold_dir / "fidelity.csv", index=False)
        stacked.append(scored)
        fidelity.append(fid)
        log.info("fold %d: stacked on %d held-out images", k, len(scored))
    if not stacked:
        print("no fold with predicted masks in", cv)
        return 2
    summary = summarise(pd.concat(stacked), pd.concat(fidelity), args.n_boot)
    (cv / "stack_summary.json").write_text(json.dumps(summary, indent=2))
    (cv / "stack.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def summarise(stacked: pd.DataFrame, fidelity: pd.DataFrame, n_boot: int) -> dict:
    y = (stacked["label"] == "malignant").astype(int)
    groups = stacked["patient_id"].astype(str)
    fy = (fidelity["label"] == "malignant").astype(int)
    fg = fidelity["patient_id"].astype(str)
    aucs = {
        "cnn": _auc(y, stacked["cnn_logit"], groups, n_boot),
        "stacked (cnn + descriptors)": _auc(y, stacked["stacked_logit"], groups, n_boot),
        "descriptors, predicted masks": _auc(fy, fidelity["descriptor_score_predicted"], fg, n_boot),
        "descriptors, expert masks": _auc(fy, fidelity["descriptor_score_expert"], fg, n_boot),
    }
    differences = {name: {"mean": float(fidelity[f"{name}_difference"].mean()),
                          "mean_abs": float(fidelity[f"{name}_difference"].abs().mean()),
                          "expert_mean": float(fidelity[f"{name}_expert"].mean())} for name in FIDELITY}
    gap = aucs["descriptors, expert masks"]["auc"] - aucs["descriptors, predicted masks"]["auc"]
    return {"folds": sorted(int(f) for f in stacked["fold"].unique()), "n_images": int(len(stacked)), "aucs": aucs,
            "descriptor_auc_gap_expert_minus_predicted": gap, "shape_differences_predicted_minus_expert": differences}


def markdown(summary: dict) -> str:
    lines = [f"Folds {summary['folds']}, {summary['n_images']} held-out images", "",
             "| score | AUC [95% CI] | n |", "|---|---|---:|"]
    for name, a in summary["aucs"].items():
        lines.append(f"| {name} | {a['auc']:.3f} [{a['ci95'][0]:.3f}–{a['ci95'][1]:.3f}] | {a['n']} |")
    lines += ["", f"Descriptor AUC lost to predicted borders: {summary['descriptor_auc_gap_expert_minus_predicted']:+.3f}",
              "", "| descriptor | expert mean | predicted − expert (mean) | mean abs difference |", "|---|---:|---:|---:|"]
    for name, d in summary["shape_differences_predicted_minus_expert"].items():
        lines.append(f"| {name} | {d['expert_mean']:.3f} | {d['mean']:+.3f} | {d['mean_abs']:.3f} |")
    return "\n".join(lines) + "\n"
