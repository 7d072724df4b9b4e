"""BUS-BRA loader (Gómez-Flores et al., Medical Physics 2023).

Layout: `Images/bus_XXXX-s.png`, `Masks/mask_XXXX-s.png` (s = l/r/s view),
`bus_data.csv` (one row per image; `Case` is the patient) and
`5-fold-cv.csv` (the authors' patient-level folds, `kFold`, 1-based).

The CSV's Width/Height are wrong for a few IDs, so sizes are never taken
from it: callers read them from the image headers. BIRADS here is the
radiologist's assessment, kept as metadata for benchmarking only.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.datasets.common import (
    Row,
    check_unique_ids,
    parse_birads,
    parse_int,
    parse_label,
    read_table,
    require_dir,
)
from pipeline.errors import DatasetError
from pipeline.types import Case

NAME = "busbra"
FOLDS_FILE = "5-fold-cv.csv"


def _folds(root: Path) -> dict[str, int]:
    """ID -> official fold; empty when the folds file is absent (fold stays None)."""
    path = root / FOLDS_FILE
    if not path.is_file():
        return {}
    folds: dict[str, int] = {}
    for row in read_table(path, required=("ID", "kFold")):
        where = f"{FOLDS_FILE} line {row.line}"
        fold = parse_int(row.get("kFold"), where, "kFold")
        ident = row.get("ID")
        if ident is None or fold is None or fold < 1:
            raise DatasetError(f"{where}: needs an ID and a kFold >= 1")
        folds[ident] = fold
    return folds


def _case(row: Row, root: Path, images: set[str], masks: set[str], folds: dict[str, int]) -> Case:
    where = f"bus_data.csv line {row.line}"
    ident, patient = row.get("ID"), row.get("Case")
    if ident is None or patient is None:
        raise DatasetError(f"{where}: ID and Case (patient) are required")
    label = parse_label(row.get("Pathology"), where)
    image_name = f"{ident}.png"
    mask_name = "mask_" + ident.removeprefix("bus_") + ".png"
    if image_name not in images:
        raise DatasetError(f"{where}: image Images/{image_name} not found")
    if mask_name not in masks:
        raise DatasetError(f"{where}: mask Masks/{mask_name} not found")
    _, birads = parse_birads(row.get("BIRADS"), where)  # BUS-BRA has no 4a/4b/4c: an int
    metadata = {
        "age": None,
        "sex": None,
        "history": None,
        "device": row.get("Device"),
        "spacing_mm": None,
        "birads": birads,
        "birads_major": birads,
        "histology": row.get("Histology"),
        "side": row.get("Side"),
    }
    return Case(
        case_id=ident,
        patient_id=patient,
        image_path=root / "Images" / image_name,
        label=label,
        mask_paths=(root / "Masks" / mask_name,),
        metadata=metadata,
        dataset=NAME,
        fold=folds.get(ident),
    )


def load(directory: str) -> list[Case]:
    root = require_dir(Path(directory).expanduser().resolve(), "BUS-BRA")
    require_dir(root / "Images", "BUS-BRA Images")
    require_dir(root / "Masks", "BUS-BRA Masks")
    # One directory listing instead of 3,000 stat calls.
    images = set(os.listdir(root / "Images"))
    masks = set(os.listdir(root / "Masks"))
    folds = _folds(root)
    rows = read_table(root / "bus_data.csv", required=("ID", "Case", "Pathology"))
    cases = [_case(row, root, images, masks, folds) for row in rows]
    if folds:
        unfolded = [c.case_id for c in cases if c.fold is None]
        if unfolded:
            raise DatasetError(f"{FOLDS_FILE}: no fold for {len(unfolded)} image(s), e.g. {unfolded[0]}")
    check_unique_ids(cases, "bus_data.csv")
    return cases
