"""`python -m training cv-status OUT [OUT ...]`: where every fold of a CV stands, from its folder.

The same lines the Jobs page shows (pipeline/cv_progress.py reads the fold
folders: done with Dice/AUC, training on host:pid at stage and epoch, lost,
stopped, waiting), for a CV run on either backend, from any machine that
sees the folder. `--watch S` prints again whenever a fold's state or epoch
changes, until every fold is done.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("out", nargs="+", help="CV output folder(s) (the --out of cv; a tune folder's trial_NNN)")
    p.add_argument("--watch", type=float, metavar="S", help="poll every S seconds until every fold is done")


def run(args) -> int:
    from pipeline.cv_progress import cv_progress

    shown: dict[str, list[str]] = {}
    while True:
        finished = True
        for out in args.out:
            progress = cv_progress(Path(out))
            if progress is None:
                print(f"{out}: not a CV folder (no folds.json)", file=sys.stderr)
                return 2
            lines = progress.lines()
            if lines != shown.get(out):
                shown[out] = lines
                print(f"[{time.strftime('%H:%M:%S')}] " + "\n".join(lines), flush=True)
            finished &= all(f.state == "done" for f in progress.folds)
        if not args.watch or finished:
            return 0
        time.sleep(args.watch)
