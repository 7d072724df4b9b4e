"""`python -m training synth --out DIR --cases N --seed S`: write a synthetic cohort.

The folder it writes (images/, masks/, dicom/, manifest.csv) loads with the
`manifest:DIR/manifest.csv` spec; `synthetic:N:S` builds the same cohort in
the cache automatically. See `pipeline.synthetic` for the stated label model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import DatasetError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; files are overwritten)")
    parser.add_argument("--cases", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes (default 0)")
    parser.add_argument("--no-dicom", action="store_true", help="skip the DICOM copies")


def run(args: argparse.Namespace) -> int:
    from pipeline.synthetic import write_cohort

    if args.cases < 1 or args.seed < 0:
        raise DatasetError("--cases must be at least 1 and --seed must not be negative")
    if args.out.exists() and not args.out.is_dir():
        raise DatasetError(f"--out {args.out} exists and is not a folder")
    summary = write_cohort(args.out, args.cases, args.seed, dicom=not args.no_dicom)
    labels = ", ".join(f"{k} {v}" for k, v in summary.labels.items())
    print(f"wrote {summary.cases} images of {summary.patients} patients ({labels}) to {summary.out_dir}")
    print(f"manifest: {summary.manifest}  (spec: manifest:{summary.manifest})")
    print(f"time: {summary.seconds:.1f} s")
    return 0
