"""A patient-level subsample of any dataset, written as a manifest CSV that `manifest:` reads back.

Why: "does the recipe hold on a smaller set?" (issue 19) and learning curves need the same images
as the full dataset with fewer patients, never fewer views of the same patients. The manifest keeps
absolute paths to the source files (nothing is copied), the official fold when the source has one,
and the metadata columns the manifest reader documents, so the subsample trains, evaluates and
describes like any other dataset.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import DatasetError
from pipeline.types import Case

METADATA_COLUMNS = ("age", "sex", "history", "device", "birads", "spacing_mm")


def subsample_patients(cases: Sequence[Case], n_patients: int, seed: int = 0) -> list[Case]:
    """Cases of `n_patients` patients drawn at random, stratified by whether a patient has a malignant image.

    Stratifying keeps the malignant share of the source, so a small subsample still has an AUC to measure.
    """
    by_patient: dict[str, list[Case]] = {}
    for case in cases:
        by_patient.setdefault(case.patient_id, []).append(case)
    if not 0 < n_patients <= len(by_patient):
        raise DatasetError(f"asked for {n_patients} patients; the dataset has {len(by_patient)}")
    malignant = sorted(p for p, cs in by_patient.items() if any(c.label == "malignant" for c in cs))
    others = sorted(p for p in by_patient if p not in set(malignant))
    rng = random.Random(seed)
    n_malignant = round(n_patients * len(malignant) / len(by_patient))
    n_malignant = min(len(malignant), max(0, n_malignant), n_patients)
    n_malignant = max(n_malignant, n_patients - len(others))
    chosen = set(rng.sample(malignant, n_malignant)) | set(rng.sample(others, n_patients - n_malignant))
    return [case for case in cases if case.patient_id in chosen]


def write_manifest(cases: Sequence[Case], path: Path) -> Path:
    """Write `cases` as a manifest CSV (absolute paths; one mask column joined by ';')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["image", "label", "mask", "patient_id", "case_id", "fold", *METADATA_COLUMNS]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for case in cases:
            meta = case.metadata
            writer.writerow([
                str(Path(case.image_path).resolve()),
                case.label,
                ";".join(str(Path(m).resolve()) for m in case.mask_paths),
                case.patient_id,
                case.case_id,
                "" if case.fold is None else case.fold,
                *("" if meta.get(key) is None else meta[key] for key in METADATA_COLUMNS),
            ])  # fmt: skip
    return path
