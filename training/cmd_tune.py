"""`python -m training tune`: hyperparameter search by cross-validation.

Every trial is a full patient-level k-fold CV (`training.cv.run_cv`) of the
base config with the trial's keys changed, written to `OUT/trial_NNN/`; all
trials share the same folds, so their differences are paired. Finished
trials and folds are skipped on re-run. `OUT/ranking.csv` and `ranking.md`
rank the trials by the objective documented in `training.tune`.

Budget on the 2-core CPU: one trial costs `folds` trainings, so e.g. 8 trials x
3 folds of the BUS-BRA recipe is ~24 trainings; tune on a few epochs
(`--config`) and confirm the winner with the full `cv`.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, help="dataset spec, e.g. busbra:../shared/data/bus-bra")
    p.add_argument("--space", required=True, help="YAML search space (see training/spaces/)")
    p.add_argument("--out", required=True, help="output folder: trial_NNN/ CV runs, ranking.csv, ranking.md")
    p.add_argument("--folds", type=int, default=3, help="patient-level folds per trial (default 3)")
    p.add_argument("--trials", type=int, help="number of trials (default: the whole grid, or 10 random)")
    p.add_argument("--config", help="base YAML config the trials modify (default: the BUS-BRA recipe)")
    p.add_argument("--seed", type=int, help="seed of sampling, folds and training (default: the config's)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples per fold report (default 200)")
    p.add_argument("--dry-run", action="store_true", help="print the planned trials and exit")
    p.add_argument("--backend", choices=("local", "celery"), default="local",
                   help="celery: every fold of every trial is one task on `python -m training worker`s")
    from training.strategy import add_argument as add_strategy_argument

    add_strategy_argument(p)


def run(args) -> int:
    from training.strategy import set_strategy
    from training.tune import SearchSpace, run_tune

    set_strategy(args.strategy)
    space = SearchSpace.from_yaml(args.space)
    ranking = run_tune(args.dataset, space, Path(args.out), folds=args.folds, trials=args.trials,
                       base_config=args.config, seed=args.seed, n_boot=args.n_boot, dry_run=args.dry_run,
                       backend=args.backend, strategy=args.strategy)
    if not args.dry_run:
        print((Path(args.out) / "ranking.md").read_text() if not ranking.empty else "no trials finished")
    return 0
