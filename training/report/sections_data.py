"""Report sections on the study, the data and the method (CLAIM items 3-27).

Why read from the bundle card: bundle.json records the dataset spec, split,
preprocessing, label map, model specs, training config, epochs and minutes of
the run that produced the weights, so the method section cannot describe a
recipe other than the one actually used.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.report.artifacts import Artifacts
from training.report.doc import Figure, Note, Paragraph, Section, not_available, table
from training.report.fmt import get, num, pct
from training.report.history import plot_history


def intro(art: Artifacts) -> Section:
    use = art.card.intended_use
    return Section("intro", "Background, intended use and objectives", claim={3: "yes", 4: "yes", 5: "yes", 6: "yes"}).add(
        Paragraph("Breast ultrasound lesions are segmented and classified benign or malignant by a deep-learning "
                  "model (a U-Net segmenter and a convolutional region classifier). The intended role is decision "
                  "support for a radiologist who reads the image: a second opinion on the lesion border and its "
                  f"probability of malignancy. Intended use: {use}."),
        Paragraph("Objective: estimate segmentation and classification performance on patients never seen in "
                  "training, with uncertainty, and compare it with the radiologists' BI-RADS assessment, another "
                  "hospital's images and a metadata-fusion variant where those artifacts exist."),
        Paragraph("Design: retrospective study on public, already-collected datasets; the study goal is model "
                  "creation with internal (patient-level held-out) and, where available, external validation."))


def composition(df: pd.DataFrame) -> dict[str, str]:
    """Counts of one partition from a predictions CSV (case ids only, no patient identifiers shown)."""
    labels = df["true_label"].value_counts() if "true_label" in df else pd.Series(dtype=int)
    out = {"images": str(len(df)),
           "patients": str(df["patient_id"].nunique()) if "patient_id" in df else "–",
           "benign": str(int(labels.get("benign", 0))), "malignant": str(int(labels.get("malignant", 0))),
           "normal": str(int(labels.get("normal", 0)))}
    labelled = int(labels.get("benign", 0) + labels.get("malignant", 0))
    out["malignant share"] = pct(labels.get("malignant", 0) / labelled) if labelled else "–"
    if "age" in df and pd.to_numeric(df["age"], errors="coerce").notna().any():
        age = pd.to_numeric(df["age"], errors="coerce").dropna()
        out["age median [IQR]"] = f"{age.median():.0f} [{age.quantile(.25):.0f}–{age.quantile(.75):.0f}]"
    for column in ("device", "birads"):
        if column in df and df[column].notna().any():
            counts = df[column].astype(str).value_counts().sort_index()
            out[column] = ", ".join(f"{k}: {v}" for k, v in counts.items())
    return out


def _missing(df: pd.DataFrame) -> str:
    cols = [c for c in ("age", "sex", "device", "birads", "history") if c in df]
    parts = [f"{c} missing for {int(df[c].isna().sum())} of {len(df)}" for c in cols if df[c].isna().any()]
    absent = [c for c in cols if df[c].isna().all()]
    text = "; ".join(p for p in parts if not any(p.startswith(a + " ") for a in absent)) or (
        "no partly missing metadata" if absent else "no missing metadata")
    if absent:
        text += f" (not recorded at all: {', '.join(absent)})"
    return text


def data(art: Artifacts) -> Section:
    s = Section("data", "Data and preprocessing", claim={7: "yes", 9: "yes", 10: "yes", 12: "yes", 13: "yes", 14: "yes"})
    spec = art.card.training.dataset or "not recorded"
    s.add(Paragraph(f"Training data (dataset spec): {spec}. Evaluation data: "
                    f"{get(art.evaluation.data, 'dataset', default='not available')}. Images and masks are read in "
                    "place from the public datasets; the report names cases only by the datasets' case ids (no names "
                    "or patient identifiers; dataset patient ids are used internally for patient-level splitting and "
                    "bootstrapping, never printed)."))
    s.add(Paragraph("Reference standard: the dataset's expert lesion masks (segmentation) and its biopsy- or "
                    "follow-up-proven pathology label (classification); normal images carry no lesion. Cases "
                    "without a benign/malignant label are excluded from classification metrics only."))
    rows: list[tuple[str, object]] = list(art.card.preprocessing.described())
    rows.append(("label map", ", ".join(f"{k} = {v}" for k, v in art.card.label_map.items())))
    rows += [(f"threshold: {k.replace('_', ' ')}", num(v)) for k, v in art.card.thresholds.to_json().items()]
    cal = art.card.calibration
    if cal:
        rows.append(("calibration", f"Platt scaling, scale={num(cal.scale)}, bias={num(cal.bias)}, fitted on {cal.fitted_on}"))
    s.add(table(("setting", "value"), rows, "Preprocessing and output settings recorded in bundle.json."))
    if art.card.data_sources:
        s.add(table(("dataset", "licence", "citation"),
                    [(d.name + (f" ({d.url})" if d.url else ""), d.licence, d.citation or "–")
                     for d in art.card.data_sources], "Training data sources (bundle.json data_sources)."))
    frames = [("evaluation set", art.predictions)]
    if art.oof is not None:
        frames.append(("all cross-validation folds", art.oof))
    frames = [(name, df) for name, df in frames if df is not None]
    if frames:
        comps = [(name, composition(df)) for name, df in frames]
        keys = list(dict.fromkeys(k for _, c in comps for k in c))
        s.add(table(("characteristic", *[n for n, _ in comps]), [(k, *[c.get(k, "–") for _, c in comps]) for k in keys],
                    "Case characteristics (from predictions CSVs)."))
        s.claim[34] = "yes" if art.oof is not None else "partly: held-out set only"
        s.add(Paragraph(f"Missing data ({frames[0][0]}): {_missing(frames[0][1])}. Missing metadata forms an "
                        "'unknown' subgroup; no imputation. Images without a lesion are scored as false detections, "
                        "not as Dice 0."))
    else:
        s.claim.pop(13)
        s.add(not_available("Case characteristics and missing data (predictions.csv)", art.evaluation.command))
    return s


def partitions(art: Artifacts) -> Section:
    s = Section("splits", "Data partitions", claim={20: "yes", 21: "yes", 33: "partly: counts, no diagram"})
    tr = art.card.training
    split = tr.split.to_json()
    s.add(Paragraph(f"Split kind: {split.get('kind', 'not recorded')}; "
                    + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in split.items() if k != "kind")
                    + f". Training images {num(tr.n_train)}, validation images {num(tr.n_val)} "
                    "(validation patients select the best epoch, fit the calibration and the threshold). Partitions "
                    "are disjoint by patient: all images of a patient stay in one partition."))
    if art.oof is not None:
        df = art.oof.copy()
        fold = df["case_id"].astype(str).map(art.folds) if art.folds and "case_id" in df else pd.Series(index=df.index)
        df["fold"] = fold.fillna(df["fold"]) if "fold" in df else fold
        if df["fold"].notna().any():
            comps = {_fold_name(k): composition(g) for k, g in df.groupby("fold")}
            keys = [k for k in dict.fromkeys(k for c in comps.values() for k in c) if k not in ("device", "birads")]
            s.add(table(("held-out fold", *keys), [(name, *[c.get(k, "–") for k in keys]) for name, c in comps.items()],
                        "Held-out folds of the cross-validation (oof_predictions.csv)."))
    elif art.folds:
        counts = pd.Series(art.folds).value_counts().sort_index()
        s.add(table(("fold", "images"), counts.items(), "Images per fold (folds.json)."))
    return s


def _fold_name(value) -> str:
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return str(value)


def model(art: Artifacts) -> Section:
    s = Section("model", "Model", claim={22: "yes", 23: "yes", 24: "yes", 27: "yes"})
    specs = dict(art.card.models)
    keys = list(dict.fromkeys(k for spec in specs.values() for k in spec))
    if specs:
        s.add(table(("setting", *specs), [(k.replace("_", " "), *[num(spec[k]) if isinstance(spec.get(k), float)
                                                                  else spec.get(k, "–") for spec in specs.values()])
                                          for k in keys], "Model specifications (bundle.json models)."))
    members = art.card.members
    prov = art.card.provenance
    s.add(Paragraph(f"Software: TensorFlow {prov.tensorflow or '?'}, Keras {prov.keras or '?'}; "
                    f"code commit {prov.git_commit or 'not recorded'}"
                    + (" (with uncommitted changes)" if prov.git_dirty else "") + "; bundle version "
                    f"{art.card.version}, created {art.card.created or '?'}"
                    + (f"; made by `{prov.command}`" if prov.command else "") + "."))
    cfg = art.card.training.config
    inits = [f"{stage}: {get(cfg, stage, 'init_weights')}" for stage in ("seg", "cls") if get(cfg, stage, "init_weights")]
    s.add(Paragraph("Initialisation: " + ("; ".join(inits) if inits else "random (no pretrained weights)") +
                    f". Ensemble: {len(members)} member(s)" + (", probabilities averaged over members and flips; their "
                    "spread is the reported uncertainty." if len(members) > 1 else "; flip test-time augmentation "
                    f"{'on' if art.card.tta_flip else 'off'}.")))
    if art.card_problem:
        s.add(Note(f"Bundle note: {art.card_problem} (the report needs only bundle.json)."))
    return s


def _flat(prefix: str, value, rows: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, rows)
    else:
        rows.append((prefix, ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value))


def training(art: Artifacts, figures_dir: Path) -> Section:
    s = Section("training", "Training", claim={25: "yes", 26: "yes"})
    tr = art.card.training
    epochs, minutes = tr.epochs, art.history.minutes
    s.add(Paragraph(f"Epochs: segmentation {num(epochs.get('segmentation'))}, classifier "
                    f"{num(epochs.get('classifier'))}; training minutes: segmentation {num(minutes.get('segmentation'), 1)}, "
                    f"classifier {num(minutes.get('classifier'), 1)} (wall clock on the machine used; seed "
                    f"{num(tr.seed)}). Final model: the epoch with the best validation score of each stage "
                    "(validation Dice; validation AUC on the segmenter's own masks), then Platt calibration and a "
                    "Youden threshold on the validation patients."))
    cfg = tr.config
    key_rows = [(f"{stage}: {k.replace('_', ' ')}", num(get(cfg, stage, k)) if isinstance(get(cfg, stage, k), float)
                 else get(cfg, stage, k)) for stage in ("seg", "cls")
                for k in ("epochs", "batch_size", "learning_rate", "weight_decay") if get(cfg, stage, k) is not None]
    if key_rows:
        s.add(table(("hyperparameter", "value"), key_rows, "Key hyperparameters; augmentation and every other setting: "
                    "see the appendix (full configuration)."))
    path = plot_history(art.history, figures_dir / "training_curves.png") if art.history.found else None
    if path:
        s.add(Figure(path, f"Training curves per epoch. Source: {art.history.source}.", 0.9))
    else:
        s.add(Note("Training curves: not available — this bundle keeps no per-epoch history file and no matching "
                   "training log was found (pass `--log FILE` with the log of the `train`/`cv` run)."))
    return s


def config_appendix(art: Artifacts) -> Section:
    """Every training setting, flattened, so the run can be repeated (CLAIM 25)."""
    s = Section("appendix-config", "Appendix: full training configuration", claim={25: "yes"})
    rows: list = []
    _flat("", dict(art.card.training.config), rows)
    if not rows:
        s.claim = {}
        return s.add(Note("bundle.json records no training configuration."))
    return s.add(table(("config key", "value"), rows, "bundle.json training.config, flattened."))
