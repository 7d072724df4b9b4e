"""BrEaST-Lesions-USG loader (Pawłowska et al., Scientific Data 2024).

Layout: `images_and_masks/caseNNN.png` (RGBA; read as gray), `caseNNN_tumor.png`
(the target lesion; absent for the 4 normal cases) and `caseNNN_otherK.png`
(other findings, deliberately ignored: they are not the lesion the label is
about). `clinical-data.csv` has one row per image; each case is its own patient.

Patient data a clinic knows before the scan is read (age, symptoms, signs,
tissue composition) goes under plain keys; the radiologist's BI-RADS
descriptors go under `radiologist_*` so no model accidentally takes the
radiologist's read of the image as an input. BIRADS stays a string ('4a')
with a numeric `birads_major` (4).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.datasets.common import (
    MASK_SEPARATORS,
    Row,
    check_unique_ids,
    parse_birads,
    parse_float,
    parse_int,
    parse_label,
    read_table,
    require_dir,
)
from pipeline.errors import DatasetError
from pipeline.types import Case

NAME = "breast-lesions-usg"
CSV_NAME = "clinical-data.csv"
FOLDER = "images_and_masks"

# CSV column -> metadata key for the radiologist's read (benchmark, not model input).
RADIOLOGIST_COLUMNS = {
    "Shape": "radiologist_shape",
    "Margin": "radiologist_margin",
    "Echogenicity": "radiologist_echogenicity",
    "Posterior_features": "radiologist_posterior_features",
    "Halo": "radiologist_halo",
    "Calcifications": "radiologist_calcifications",
    "Skin_thickening": "radiologist_skin_thickening",
    "Interpretation": "radiologist_interpretation",
}


def family_history(symptoms: str | None) -> bool | None:
    """True when the symptoms mention family history; None when symptoms are unrecorded."""
    if symptoms is None:
        return None
    return "family history" in symptoms.lower()


def _case(row: Row, folder: Path, files: set[str]) -> Case:
    where = f"{CSV_NAME} line {row.line}"
    image_name = row.get("Image_filename")
    if image_name is None:
        raise DatasetError(f"{where}: Image_filename is empty")
    if image_name not in files:
        raise DatasetError(f"{where}: image {FOLDER}/{image_name} not found")
    label = parse_label(row.get("Classification"), where)
    mask_cell = row.get("Mask_tumor_filename")
    mask_names = [m for m in MASK_SEPARATORS.split(mask_cell) if m] if mask_cell else []
    for name in mask_names:
        if name not in files:
            raise DatasetError(f"{where}: mask {FOLDER}/{name} not found")
    if label != "normal" and not mask_names:
        raise DatasetError(f"{where}: {label} case has no Mask_tumor_filename")
    birads, birads_major = parse_birads(row.get("BIRADS"), where)
    pixel_cm = parse_float(row.get("Pixel_size"), where, "Pixel_size")
    symptoms = row.get("Symptoms")
    diagnosis = row.get("Diagnosis")
    metadata = {
        "age": parse_int(row.get("Age"), where, "Age"),
        "sex": None,
        "history": family_history(symptoms),
        "device": None,  # the dataset does not say which scanner took each image
        "spacing_mm": None if pixel_cm is None else pixel_cm * 10.0,
        "tissue_composition": row.get("Tissue_composition"),
        "signs": row.get("Signs"),
        "symptoms": symptoms,
        "birads": birads,
        "birads_major": birads_major,
        "verification": row.get("Verification"),
        "histology": None if diagnosis == "not applicable" else diagnosis,
    }
    for column, key in RADIOLOGIST_COLUMNS.items():
        metadata[key] = row.get(column)
    case_id = Path(image_name).stem
    return Case(
        case_id=case_id,
        patient_id=case_id,
        image_path=folder / image_name,
        label=label,
        mask_paths=tuple(folder / name for name in mask_names),
        metadata=metadata,
        dataset=NAME,
        fold=None,
    )


def load(directory: str) -> list[Case]:
    root = require_dir(Path(directory).expanduser().resolve(), "BrEaST-Lesions-USG")
    folder = require_dir(root / FOLDER, "BrEaST-Lesions-USG images_and_masks")
    files = set(os.listdir(folder))
    rows = read_table(root / CSV_NAME, required=("Image_filename", "Classification"))
    cases = [_case(row, folder, files) for row in rows]
    check_unique_ids(cases, CSV_NAME)
    return cases
