"""`python -m training datasets describe SPEC [--json]`: look before you train.

`python -m training datasets subsample SPEC --patients N [--seed S] --out FILE.csv` writes a
patient-level subsample as a manifest (`manifest:FILE.csv`), for learning curves and for checking
that the recipe holds on a small dataset (`pipeline.datasets.subsample`).

Prints cases, patients, labels, official folds, image sizes and colour modes
(from headers) and, per metadata key, how many cases have a value, so a
missing column or a wrong folder shows up here rather than halfway through a
training run. Then a "Problems" section, one plain-language line each: too
few malignant images for a usable AUC confidence interval, lesion images
without a mask or with an empty one, mixed colour modes or image sizes, the
same image file under several patients, unreadable files
(`pipeline.datasets.describe.find_problems`).

Exit status: 0 no problem found, 1 problems found (JSON: `"ok": false` and
`"problems": [{"code", "message", "cases"}]`), 2 the spec cannot be loaded at
all (the loader's message names the file, line and value, e.g. every row with
a label other than benign / malignant / normal).
"""

from __future__ import annotations

import argparse
import json

from pathlib import Path

from pipeline.datasets import load_cases
from pipeline.datasets.describe import describe, format_summary
from pipeline.datasets.subsample import subsample_patients, write_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("describe", help="summarise a dataset spec (cases, patients, labels, folds, sizes, metadata) "
                       "and list its problems; exit status 1 when there are any")
    p.add_argument("spec", help="e.g. busbra:../shared/data/bus-bra, breast-lesions-usg:DIR, busi:DIR, "
                   "manifest:FILE.csv, synthetic:200:0")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    s = sub.add_parser("subsample", help="write a patient-level, label-stratified subsample of SPEC as a manifest CSV")
    s.add_argument("spec")
    s.add_argument("--patients", type=int, required=True, help="number of patients to keep")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="manifest CSV to write (read back with manifest:FILE.csv)")


def run(args: argparse.Namespace) -> int:
    if args.action == "subsample":
        return _subsample(args)
    if args.action != "describe":  # argparse enforces this; kept for direct callers
        raise SystemExit(f"unknown datasets action {args.action!r}")
    summary = describe(load_cases(args.spec), spec=args.spec)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_summary(summary))
    return 0 if summary.ok else 1


def _subsample(args: argparse.Namespace) -> int:
    cases = subsample_patients(load_cases(args.spec), args.patients, seed=args.seed)
    path = write_manifest(cases, Path(args.out))
    malignant = sum(c.label == "malignant" for c in cases)
    print(f"{path}: {len(cases)} images of {args.patients} patients ({malignant} malignant); "
          f"train on it with --dataset manifest:{path}")  # fmt: skip
    return 0
