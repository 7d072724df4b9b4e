"""`python -m training cv`: patient-level k-fold cross-validation.

Each fold trains a full bundle on the other folds (with an inner validation
split for model selection and calibration), then predicts its held-out fold.
Folds are written as they finish (`fold_K/` bundle + predictions.csv), and a
re-run skips finished folds, so a 3-hour CV survives interruptions. The fold
bundles together form the ensemble (`--ensemble-out`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path


from pipeline.datasets import load_cases
from training.strategy import add_argument as add_strategy_argument, set_strategy

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, help="dataset spec, e.g. busbra:../shared/data/bus-bra")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--official-folds", action="store_true", help="use the dataset's own patient folds")
    p.add_argument("--config", help="YAML training config (defaults: the BUS-BRA recipe)")
    p.add_argument("--out", required=True, help="output folder (fold bundles, out-of-fold predictions, summary)")
    p.add_argument("--only", help="comma-separated fold numbers to run now (others are left for later)")
    p.add_argument("--ensemble-out", help="also write an ensemble bundle of the fold models here")
    p.add_argument("--seed", type=int)
    p.add_argument("--init-from", metavar="BUNDLE_DIR", help="transfer learning: every fold starts from this "
                   "bundle's member 0 (sets seg.init_weights and cls.init_weights)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--backend", choices=("local", "celery"), default="local",
                   help="local: folds one after another here; celery: one task per fold on `python -m training worker`s "
                        "(broker LESIONLENS_BROKER_URL), this command waits, shows progress and writes the summary")
    add_strategy_argument(p)


def fold_assignment(cases, folds: int, official: bool, seed: int) -> list[int]:
    """1-based fold of every case, patient-level."""
    from pipeline import splits

    if official:
        from pipeline.errors import DatasetError

        if any(c.fold is None for c in cases):
            raise DatasetError("--official-folds: this dataset does not define official folds")
        return [int(c.fold) for c in cases]
    assignment = [0] * len(cases)
    for k, (_, test_idx) in enumerate(splits.kfold(cases, folds, seed), start=1):
        for i in test_idx:
            assignment[i] = k
    return assignment


def run(args) -> int:
    from training.cv import run_cv

    set_strategy(args.strategy)
    from training.cmd_train import config_for

    cfg = config_for(args.config, {"seed": args.seed} if args.seed is not None else {}, args.init_from)
    cases = load_cases(args.dataset)
    folds = fold_assignment(cases, args.folds, args.official_folds, cfg.seed)
    only = [int(x) for x in args.only.split(",")] if args.only else None
    summary = run_cv(cases, folds, cfg, Path(args.out), args.dataset, only=only, n_boot=args.n_boot,
                     backend=args.backend, strategy=args.strategy)
    print(json.dumps(summary.get("table", {}), indent=2))
    if args.ensemble_out:
        from training.ensemble import write_ensemble

        write_ensemble(Path(args.out), Path(args.ensemble_out), args.dataset)
    return 0
