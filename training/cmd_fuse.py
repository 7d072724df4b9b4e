"""`python -m training fuse`: image model + lesion shape + patient data, cross-validated.

Compares, on one set of patient-level folds and out-of-fold predictions only:
metadata alone, the image model alone (as is and recalibrated), image +
lesion features, and the fused logistic and gradient-boosting models.
Writes to --out:

* `fusion_metrics.json` - dataset, image model, n, folds, features, one row
  per model (AUC, 95% CI by patient bootstrap, Brier, ECE), paired tests;
* `oof_fusion.csv` - case_id, y, fold and each model's out-of-fold probability;
* `fusion_table.md`, `roc_fusion.png` - the table and the ROC curves;
* `fusion.json` - the fused logistic model refitted on every case, as plain
  numbers (`pipeline.fusion.FusionModel`); `--install` copies it into the
  image-model bundle so `Predictor.predict(record, metadata)` fuses;
* `image_features.csv` - the image model's per-case outputs (cache).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from pipeline.datasets import load_cases
from pipeline.errors import DatasetError
from pipeline.fusion import FUSION_FILE
from pipeline.metrics import youden_threshold
from pipeline.metrics.jsonable import to_jsonable

log = logging.getLogger(__name__)
PAIRS = (
    ("fused (logistic)", "image only (as is)"),
    ("fused (gradient boosting)", "image only (as is)"),
    ("image + lesion features (logistic)", "image only (as is)"),
    ("fused (logistic)", "image + lesion features (logistic)"),
    ("fused (logistic)", "metadata only (logistic)"),
)


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, help="dataset spec with patient metadata, e.g. breast-lesions-usg:DIR")
    p.add_argument("--image-model", help="bundle folder of the image model (must not be trained on --dataset)")
    p.add_argument("--image-predictions", help="out-of-fold predictions.csv (case_id, probability, area_px, ...) "
                                               "instead of running the image model")
    p.add_argument("--out", required=True, help="output folder, e.g. reports/NAME/fusion")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--install", action="store_true", help="copy fusion.json into the --image-model bundle folder")


def _image_table(args, cases, out: Path):
    from training.fusion_data import check_out_of_sample, image_features_from_bundle, image_features_from_csv

    if args.image_predictions:
        table = image_features_from_csv(Path(args.image_predictions), cases)
        if args.image_model and (Path(args.image_model) / "bundle.json").is_file():
            from pipeline.bundle import read_card_file

            name = read_card_file(Path(args.image_model) / "bundle.json").name
        else:
            name = Path(args.image_model).name if args.image_model else f"predictions:{Path(args.image_predictions).name}"
        return table, name, f"out-of-fold predictions {args.image_predictions}"
    if not args.image_model:
        raise DatasetError("give --image-model BUNDLE or --image-predictions CSV")
    from pipeline.bundle import read_bundle_card

    check_out_of_sample(read_bundle_card(args.image_model), args.dataset)
    from training.fusion_data import CACHE_NAME

    table, name = image_features_from_bundle(Path(args.image_model), cases, out / CACHE_NAME)
    return table, name, f"Predictor of {args.image_model} on every case"


def run(args) -> int:
    from training.fusion_cv import DEPLOYED, MODEL_SPECS, FusionConfig, cross_validate, features_of, fit_deployable
    from training.fusion_data import build_table, feature_groups
    from training.fusion_report import markdown_table, roc_figure
    from training.fusion_stats import paired_test, score_row

    if args.install and not (args.image_model and (Path(args.image_model) / "bundle.json").is_file()):
        raise DatasetError("--install needs --image-model pointing at a bundle folder")
    cfg = FusionConfig(folds=args.folds, seed=args.seed, n_boot=args.n_boot)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cases = load_cases(args.dataset)
    image, image_model, source = _image_table(args, cases, out)
    table = build_table(cases, image)
    groups = feature_groups(table)
    if not groups["image"]:
        raise DatasetError("the image probabilities are constant: nothing to fuse")
    oof, _ = cross_validate(table, groups, cfg)
    oof.to_csv(out / "oof_fusion.csv", index=False)

    y, patients = oof["y"].to_numpy(int), oof["patient_id"].astype(str).to_numpy()
    rows = []
    for spec in MODEL_SPECS:
        rows.append({"model": spec.name, "inputs": spec.inputs,
                     **score_row(y, oof[spec.name].to_numpy(float), patients, cfg.n_boot, cfg.seed)})
    tests = [paired_test(y, oof[a].to_numpy(float), oof[b].to_numpy(float), patients, a, b, cfg.n_boot, cfg.seed)
             for a, b in PAIRS]
    threshold = float(youden_threshold(y, oof[DEPLOYED].to_numpy(float)))
    deployed_spec = next(s for s in MODEL_SPECS if s.name == DEPLOYED)
    model = fit_deployable(table, features_of(deployed_spec, groups), cfg, image_model, threshold, args.dataset)
    deployed_row = next(r for r in rows if r["model"] == DEPLOYED)
    model = type(model)(**{**model.__dict__, "metrics": to_jsonable(
        {"oof_auc": deployed_row["auc"], "oof_auc_ci95": deployed_row["auc_ci95"], "n": len(y)})})
    model.save(out / FUSION_FILE)

    all_names = set(table.columns) - {"case_id", "patient_id", "y", "image_probability"}
    metrics = to_jsonable({
        "dataset": args.dataset, "image_model": image_model, "image_source": source,
        "n": int(len(y)), "n_malignant": int(y.sum()), "folds": cfg.folds, "seed": cfg.seed,
        "features": {**groups, "dropped_constant": sorted(all_names - {n for g in groups.values() for n in g})},
        "rows": rows, "paired_tests": tests, "deployed": DEPLOYED, "deployed_threshold": threshold,
        "config": cfg.__dict__,
        "never_inputs": "birads, birads_major, radiologist_*, histology, verification (pipeline.patient_features)",
    })
    (out / "fusion_metrics.json").write_text(json.dumps(metrics, indent=2))
    table_md = markdown_table(metrics)
    (out / "fusion_table.md").write_text(table_md)
    roc_figure(oof, metrics, out / "roc_fusion.png")
    if args.install:
        target = Path(args.image_model) / FUSION_FILE
        shutil.copyfile(out / FUSION_FILE, target)
        log.info("installed %s", target)
    print(table_md)
    print(f"deployed: {DEPLOYED} -> {out / FUSION_FILE} (threshold {threshold:.3f}, OOF Youden)")
    return 0 if np.isfinite(deployed_row["auc"]) else 1
