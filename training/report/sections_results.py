"""Result sections: segmentation, classification, CV, subgroups, errors (CLAIM 28-37).

Why figures are reused first: `evaluate` already drew ROC, PR, calibration,
confusion matrix and the best/median/worst overlays; redrawing them could
differ. Only when they are absent (e.g. a CV fold folder, where `cv` writes
predictions but no figures) are the curve figures drawn here from the saved
predictions.csv — the overlays need the images and the model, so they are
reported as not available instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.report.artifacts import Artifacts
from training.report.doc import Figure, Paragraph, Section, not_available, table
from training.report.fmt import DASH, first_records, get, mean_sd, num, records_table, scalar_rows, with_ci

CAPTIONS = {"roc": "ROC curve with AUC and its patient-bootstrap 95% CI.", "pr": "Precision-recall curve.",
            "calibration": "Calibration: observed fraction malignant per predicted-probability bin.",
            "confusion": "Confusion matrix at the bundle's threshold.",
            "overlays": "Best, median and worst segmentations by Dice (expert blue solid, model orange dashed).",
            "dice_hist": "Distribution of per-image Dice (images with a lesion; from predictions.csv)."}


def dice_histogram(dice: np.ndarray, path: Path) -> Path:
    """Per-image Dice distribution: shows the tail of failed segmentations a mean hides."""
    from training.figures import PRED_COLOUR, _save, plt

    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.hist(dice, bins=np.linspace(0, 1, 21), color=PRED_COLOUR, edgecolor="white")
    ax.axvline(np.median(dice), ls="--", color="black", label=f"median {np.median(dice):.3f}")
    ax.set(xlabel="Dice per image", ylabel="images", title=f"Dice distribution ({dice.size} images)")
    ax.legend(loc="upper left")
    return _save(fig, path)


def eval_figures(art: Artifacts, figures_dir: Path) -> dict[str, Path]:
    """The evaluate PNGs, completed from predictions.csv where missing."""
    found = dict(art.evaluation.figures)
    df = art.predictions
    if df is not None and "dice" in df and df["dice"].notna().any():
        figures_dir.mkdir(parents=True, exist_ok=True)
        found["dice_hist"] = dice_histogram(df["dice"].dropna().to_numpy(float), figures_dir / "dice_histogram.png")
    if df is None or "malignant" not in df or "probability" not in df or art.threshold is None:
        return found
    labelled = df[df["malignant"].notna() & df["probability"].notna()]
    y, p = labelled["malignant"].to_numpy(int), labelled["probability"].to_numpy(float)
    if len(np.unique(y)) < 2 or all(k in found for k in ("roc", "pr", "calibration", "confusion")):
        return found
    from training import figures

    figures_dir.mkdir(parents=True, exist_ok=True)
    drawers = {"roc": lambda path: figures.roc_figure(y, p, path, get(art.evaluation.data, "classification", "auc_ci95")),
               "pr": lambda path: figures.pr_figure(y, p, path),
               "calibration": lambda path: figures.calibration_figure(y, p, path),
               "confusion": lambda path: figures.confusion_figure(y, p, float(art.threshold), path)}
    for name, draw in drawers.items():
        if name not in found:
            found[name] = draw(figures_dir / f"{name}.png")
    return found


def results(art: Artifacts, figures: dict[str, Path]) -> list[Section]:
    metrics = art.evaluation.data if isinstance(art.evaluation.data, dict) else None
    seg = Section("segmentation", "Results: segmentation", claim={28: "yes", 29: "yes", 35: "partly: held-out set"})
    cls = Section("classification", "Results: classification", claim={28: "yes", 29: "yes", 36: "yes", 35: "partly: held-out set"})
    if metrics is None:
        note = not_available("Held-out evaluation (metrics.json)", art.evaluation.command)
        seg.claim, cls.claim = {}, {}
        return [seg.add(note), cls.add(note)]
    source = f"Source: {art.evaluation.path} (dataset {metrics.get('dataset', '?')}, {num(metrics.get('n_images'))} images)."
    s = metrics.get("segmentation") or {}
    seg.add(Paragraph(source), table(("measure", "value"), [
        ("Dice, mean [95% CI, patient bootstrap]", with_ci(s.get("dice"), s.get("dice_ci95"))),
        ("Dice, median", num(s.get("dice_median"))), ("IoU, mean", num(s.get("iou"))),
        ("HD95 (px of the original image), mean", num(s.get("hd95_px"), 1)),
        ("images with a lesion", num(s.get("n_with_lesion"))), ("images without a lesion", num(s.get("n_without_lesion"))),
        ("false detections on those", num(s.get("false_detections_on_normals")))], "Segmentation on held-out images."))
    if "dice_hist" in figures:
        seg.add(Figure(figures["dice_hist"], CAPTIONS["dice_hist"], 0.5))
    c = metrics.get("classification") or {}
    cls.add(Paragraph(source), table(("measure", "value"), scalar_rows(c),
                                     "Classification at the bundle's threshold; AUC CI by patient bootstrap."))
    for name in ("confusion", "roc", "pr", "calibration"):
        if name in figures:
            cls.add(Figure(figures[name], CAPTIONS[name], 0.5))
    return [seg, cls]


def cross_validation(art: Artifacts) -> Section:
    s = Section("cv", "Results: cross-validation", claim={35: "yes", 29: "yes"})
    data = art.cv.data if isinstance(art.cv.data, dict) else None
    if data is None:
        s.claim = {}
        return s.add(not_available("Cross-validation summary (cv_summary.json)", art.cv.command))
    rows = []
    for m in data.get("per_fold") or []:
        sg, cl = m.get("segmentation") or {}, m.get("classification") or {}
        rows.append((num(m.get("fold")), num(m.get("n_images")), num(sg.get("dice")), num(sg.get("iou")),
                     num(sg.get("hd95_px"), 1), with_ci(cl.get("auc"), cl.get("auc_ci95")), num(cl.get("sensitivity")),
                     num(cl.get("specificity")), num(cl.get("ece")), num(m.get("train_minutes"), 1)))
    t = data.get("table") or {}
    rows.append(("mean ± sd", "", mean_sd(t.get("segmentation.dice")), mean_sd(t.get("segmentation.iou")), "",
                 mean_sd(t.get("classification.auc")), mean_sd(t.get("classification.sensitivity")),
                 mean_sd(t.get("classification.specificity")), mean_sd(t.get("classification.ece")), ""))
    pooled = data.get("pooled") or {}
    if pooled:
        ps, pc = pooled.get("segmentation") or {}, pooled.get("classification") or {}
        rows.append(("pooled out-of-fold", num(pooled.get("n_images")), with_ci(ps.get("dice"), ps.get("dice_ci95")),
                     num(ps.get("iou")), num(ps.get("hd95_px"), 1), with_ci(pc.get("auc"), pc.get("auc_ci95")),
                     num(pc.get("sensitivity")), num(pc.get("specificity")), num(pc.get("ece")), ""))
    s.add(Paragraph(f"Source: {art.cv.path}; dataset {data.get('dataset', '?')}; folds done: "
                    f"{', '.join(map(str, data.get('folds_done') or [])) or 'see table'}. Each fold's model never saw "
                    "its held-out patients; pooled metrics use the median of the folds' thresholds."),
          table(("fold", "images", "Dice", "IoU", "HD95 px", "AUC [95% CI]", "sens.", "spec.", "ECE", "train min"), rows,
                "Per-fold held-out results, mean ± sd over folds, and pooled out-of-fold predictions."))
    return s


def subgroup_blocks(sub, title: str) -> list:
    """Tables (and the forest plot) of one subgroups.json artifact."""
    blocks: list = []
    records = first_records(sub.data)
    if records:
        header, body = records_table(records, max_columns=10)
        blocks.append(table(header, body, f"{title} ({sub.path})."))
    else:
        blocks.append(table(("measure", "value"), scalar_rows(sub.data), f"{title} ({sub.path})."))
    if isinstance(sub.data, dict) and isinstance(sub.data.get("note"), str):
        blocks.append(Paragraph(f"Note: {sub.data['note']}."))
    if "subgroups" in sub.figures:
        blocks.append(Figure(sub.figures["subgroups"], f"{title}: forest plot.", 0.8))
    return blocks


def subgroups(art: Artifacts) -> Section:
    s = Section("subgroups", "Results: subgroups", claim={30: "partly: subgroup analysis only"})
    rows = get(art.evaluation.data, "subgroups")
    if art.subgroups.found:
        s.add(*subgroup_blocks(art.subgroups, "Subgroups of the evaluation set"))
    elif isinstance(rows, list) and rows:
        header, body = records_table(rows, max_columns=10)
        s.add(table(header, body, f"Subgroups of the held-out set at the bundle's threshold ({art.evaluation.path})."))
    if not s.blocks:
        s.claim = {}
        s.add(not_available("Subgroup results (subgroups.json)", art.subgroups.command))
    s.add(Paragraph("Small subgroups have wide uncertainty: differences between them are descriptive, not tested."))
    return s


def _case_rows(df: pd.DataFrame, columns: list[str]) -> list[tuple[str, ...]]:
    cols = [c for c in columns if c in df]
    return [tuple(num(r[c]) if isinstance(r[c], float) else (DASH if pd.isna(r[c]) else str(r[c])) for c in cols)
            for _, r in df[cols].iterrows()]


def errors(art: Artifacts, figures: dict[str, Path], top: int = 10) -> Section:
    s = Section("errors", "Error analysis", claim={37: "yes"})
    df = art.predictions
    if "overlays" in figures:
        s.claim[31] = "partly: contour overlays only, no saliency maps"
        s.add(Figure(figures["overlays"], CAPTIONS["overlays"], 1.0))
    else:
        s.add(not_available("Best/median/worst overlays (overlays.png)", art.evaluation.command))
    if df is None:
        s.claim = {}
        return s.add(not_available("Per-case predictions (predictions.csv)", art.evaluation.command))
    cols = ["case_id", "true_label", "probability", "dice", "device", "birads"]
    header = [c.replace("_", " ") for c in cols if c in df]
    if "dice" in df and df["dice"].notna().any():
        worst = df[df["dice"].notna()].nsmallest(top, "dice")
        s.add(table(header, _case_rows(worst, cols), f"The {len(worst)} worst segmentations by Dice."))
    threshold = art.threshold
    if threshold is not None and "malignant" in df:
        fn = df[(df["malignant"] == 1) & (df["probability"] < threshold)].sort_values("probability")
        fp = df[(df["malignant"] == 0) & (df["probability"] >= threshold)].sort_values("probability", ascending=False)
        s.add(Paragraph(f"At threshold {num(threshold)}: {len(fn)} false negatives (malignant called benign) and "
                        f"{len(fp)} false positives (benign called malignant) among {int(df['malignant'].notna().sum())} "
                        "labelled images. Lowest-probability misses and highest-probability false alarms:"))
        if len(fn):
            s.add(table(header, _case_rows(fn.head(top), cols), "False negatives, lowest probability first."))
        if len(fp):
            s.add(table(header, _case_rows(fp.head(top), cols), "False positives, highest probability first."))
    if "truth_has_lesion" in df and "lesion_found" in df:
        normals = df[~df["truth_has_lesion"].astype(bool)]
        if len(normals):
            flagged = normals[normals["lesion_found"].astype(bool)]
            s.add(Paragraph(f"Images without a lesion: {len(normals)}; the model reported a lesion on {len(flagged)} "
                            f"({', '.join(map(str, flagged['case_id'].head(top))) or 'none'})."))
    return s
