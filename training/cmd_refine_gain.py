"""`python -m training refine-gain --cv DIR --dataset SPEC`: the border stage's gain in Dice and HD95, per fold.

Every finished fold of `training cv` whose weights are on this machine segments its held-out lesions
with the refinement stage on and off (same weights); see `training.refine_gain`. Writes
`fold_K/refine_gain.csv` (per image), `refine_gain.json` and `refine_gain.md` into the CV folder.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--cv", required=True, help="a `training cv` output folder")
    p.add_argument("--dataset", required=True, help="the dataset spec the CV was trained on")
    p.add_argument("--n-boot", type=int, default=1000)


def run(args) -> int:
    from pipeline.datasets import load_cases
    from training.refine_gain import run_refine_gain

    summary = run_refine_gain(Path(args.cv), load_cases(args.dataset), args.n_boot)
    print((Path(args.cv) / "refine_gain.md").read_text())
    print(json.dumps({"not_measured": summary["not_measured"]}))
    return 0
