"""`python -m training train`: fit a deployable bundle on a dataset.

Patients are split into training and validation (model selection,
calibration, threshold); `--holdout-fold K` (official folds) or
`--test-fraction F` additionally holds patients out and scores them, writing
metrics into the bundle card. The default config is the BUS-BRA recipe.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from pipeline.bundle import read_bundle_card, write_bundle_card
from pipeline.card import BundleCard
from pipeline.datasets import load_cases
from training.config import load_config
from training.validation_report import format_summary

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="bundle folder, e.g. models/busbra")
    p.add_argument("--config", help="YAML config; omitted keys keep the BUS-BRA recipe defaults")
    p.add_argument("--name", help="bundle name (default: the folder name)")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int, help="override every stage's epochs")
    p.add_argument("--holdout-fold", type=int, help="hold out this official fold as a test set")
    p.add_argument("--test-fraction", type=float, default=0.0, help="hold out this fraction of patients")
    p.add_argument("--cv-summary", help="cv_summary.json whose cross-validated metrics go into the card")
    p.add_argument("--init-from", metavar="BUNDLE_DIR", help="transfer learning: start every model from this "
                   "bundle's member 0 (sets seg, refine and cls init_weights)")
    from training.strategy import add_argument as add_strategy_argument

    add_strategy_argument(p)


def init_from(bundle_dir: str) -> dict[str, str]:
    """`--init-from`: config overrides pointing both stages at a bundle's member 0.

    Member 0 because one starting point is needed; of a CV ensemble it is
    fold 1's model, trained on (k-1)/k of the source data. Weights are copied
    where layer shapes match (training.fit._load_init), so the target config
    should keep the source architecture: a mismatch is logged, not fatal.
    """
    from pipeline.errors import BundleError

    card = read_bundle_card(bundle_dir)
    paths = {f"{stage}.init_weights": str((Path(bundle_dir) / rel).resolve())
             for stage, rel in card.members[0].weight_files.items()}
    missing = [p for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise BundleError(f"--init-from {bundle_dir}: weights missing ({', '.join(missing)})")
    return paths


def check_init_source(cfg, bundle_dir: str) -> None:
    """Warn when the source bundle's models or preprocessing differ from the config's."""
    card = read_bundle_card(bundle_dir)
    mine = {"segmentation": cfg.seg.model.to_dict(), "classifier": cfg.cls.model.to_dict()}
    for role, spec in card.models.items():
        if role in mine and spec != mine[role]:
            log.warning("--init-from: %s architecture differs from the source; only layers of equal shape are copied", role)
    if card.preprocessing.work_max_side != cfg.work_max_side:
        log.warning("--init-from: work_max_side differs from the source bundle's")


def config_for(config_path: str | None, overrides: dict, init_bundle: str | None):
    """The config a run trains: YAML + overrides, pointed at `--init-from`'s weights (and checked against them)."""
    if init_bundle:
        overrides = {**overrides, **init_from(init_bundle)}
    cfg = load_config(config_path, overrides)
    if init_bundle:
        check_init_source(cfg, init_bundle)
    return cfg


def run(args) -> int:
    from pipeline import splits
    from pipeline.splits import case_lists
    from training.evaluation import metrics_json, predict_cases
    from training.run import train_bundle
    from training.strategy import set_strategy

    set_strategy(args.strategy)
    overrides = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.epochs is not None:
        overrides["seg.epochs"] = overrides["refine.epochs"] = overrides["cls.epochs"] = args.epochs
    cfg = config_for(args.config, overrides, args.init_from)
    cases = load_cases(args.dataset)
    test = []
    if args.holdout_fold:
        test = [c for c in cases if c.fold == args.holdout_fold]
        cases = [c for c in cases if c.fold != args.holdout_fold]
    elif args.test_fraction > 0:
        s = splits.train_val_test_split(cases, val_fraction=0.0, test_fraction=args.test_fraction, seed=cfg.seed)
        keep, test = case_lists(cases, (s.train, s.test))
        cases = keep
    s = splits.train_val_test_split(cases, val_fraction=cfg.val_fraction, test_fraction=0.0, seed=cfg.seed)
    train, val = case_lists(cases, s)
    out = Path(args.out)
    split = {"kind": "train/val", "seed": cfg.seed, "n_test": len(test), "holdout_fold": args.holdout_fold,
             "test_fraction": args.test_fraction}
    trained = train_bundle(train, val, cfg, out, name=args.name or out.name, dataset_spec=args.dataset, split=split)
    card = read_bundle_card(out)
    metrics = replace(card.metrics, validation=validate(trained.predictor, train, val, out, card))
    if test:
        df = predict_cases(trained.predictor, test, desc="held-out test")
        df.to_csv(out / "test_predictions.csv", index=False)
        metrics = replace(metrics, holdout=metrics_json(card.name, args.dataset, df, card.thresholds.malignant))
    if args.cv_summary:
        metrics = replace(metrics, cross_validation=json.loads(Path(args.cv_summary).read_text()).get("table"))
    card = write_bundle_card(out, replace(card, metrics=metrics))
    print(json.dumps({"bundle": str(out), "metrics": card.metrics.to_json()}, indent=2))
    print(format_summary(metrics.validation), file=sys.stderr)
    return 0


def validate(predictor, train, val, out: Path, card: BundleCard) -> dict:
    """Validation metrics of the final model with CIs and warnings; training Dice on up to 100
    training images (seeded) as the overfitting reference."""
    import random

    from training.evaluation import metrics_json, predict_cases
    from training.validation_report import validation_summary

    df = predict_cases(predictor, val, desc="validation")
    df.to_csv(out / "validation_predictions.csv", index=False)
    sample = random.Random(0).sample(train, min(100, len(train)))
    train_df = predict_cases(predictor, [c for c in sample if c.mask_paths], desc="training sample")
    train_dice = float(train_df["dice"].mean()) if train_df["dice"].notna().any() else None
    metrics = metrics_json(card.name, card.training.dataset, df, card.thresholds.malignant)
    return validation_summary(metrics, df, train_dice)
