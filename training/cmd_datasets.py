"""`python -m training datasets describe SPEC [--json]`: look before you train.

Prints cases, patients, labels, official folds, image sizes (from headers)
and, per metadata key, how many cases have a value, so a missing column or a
wrong folder shows up here rather than halfway through a training run.
"""

from __future__ import annotations

import argparse
import json

from pipeline.datasets import load_cases
from pipeline.datasets.describe import describe, format_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("describe", help="summarise a dataset spec (cases, patients, labels, folds, sizes, metadata)")
    p.add_argument("spec", help="e.g. busbra:../shared/data/bus-bra, breast-lesions-usg:DIR, busi:DIR, "
                   "manifest:FILE.csv, synthetic:200:0")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    if args.action != "describe":  # argparse enforces this; kept for direct callers
        raise SystemExit(f"unknown datasets action {args.action!r}")
    summary = describe(load_cases(args.spec), spec=args.spec)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_summary(summary))
    return 0
