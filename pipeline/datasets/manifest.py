"""Manifest CSV loader: the way to bring any other dataset in without code.

Columns (header names are case-insensitive):

- `image` (required): image path; relative paths resolve against the CSV's folder.
- `label` (required): benign | malignant | normal.
- `mask`: mask path(s), several separated by ';' (merged by union); may be
  empty for normal images.
- `patient_id` (default: image stem), `case_id` (default: image stem).
- `age` (years; '45' or DICOM-style '045Y'), `sex` (F/M/O), `history`
  (family history, yes/no), `device`, `birads` ('4a' kept as text, plus a
  numeric `birads_major`), `fold` (official 1-based fold), `spacing_mm`.
- Any other column is kept, as text, under metadata with its own name.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.datasets.common import (
    MASK_SEPARATORS,
    Row,
    check_unique_ids,
    clean,
    parse_birads,
    parse_bool,
    parse_float,
    parse_int,
    parse_label,
    read_table,
)
from pipeline.errors import DatasetError
from pipeline.types import LABELS, Case

NAME = "manifest"
DOCUMENTED = (
    "image", "label", "mask", "patient_id", "case_id",
    "age", "sex", "history", "device", "birads", "fold", "spacing_mm",
)  # fmt: skip
_SEX = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "o": "O", "other": "O"}


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _sex(value: str | None, where: str) -> str | None:
    value = clean(value)
    if value is None:
        return None
    try:
        return _SEX[value.lower()]
    except KeyError:
        raise DatasetError(f"{where}: sex {value!r} is not F, M or O") from None


def _case(row: Row, base: Path, csv_name: str, dataset: str) -> Case:
    where = f"{csv_name} line {row.line}"
    values = Row(row.line, {k.strip().lower(): v for k, v in row.values.items()})
    image_cell = values.get("image")
    if image_cell is None:
        raise DatasetError(f"{where}: the image column is empty")
    image = _resolve(base, image_cell)
    if not image.is_file():
        raise DatasetError(f"{where}: image {image_cell} not found ({image})")
    label = parse_label(values.get("label"), where)
    mask_cell = values.get("mask")
    masks = []
    for part in MASK_SEPARATORS.split(mask_cell) if mask_cell else []:
        if not part:
            continue
        mask = _resolve(base, part)
        if not mask.is_file():
            raise DatasetError(f"{where}: mask {part} not found ({mask})")
        masks.append(mask)
    fold = parse_int(values.get("fold"), where, "fold")
    if fold is not None and fold < 1:
        raise DatasetError(f"{where}: fold {fold} must be 1 or more (folds are 1-based)")
    age = parse_int(values.get("age"), where, "age")
    if age is not None and not 0 <= age <= 130:
        raise DatasetError(f"{where}: age {age} is out of range")
    birads, birads_major = parse_birads(values.get("birads"), where)
    metadata = {
        "age": age,
        "sex": _sex(values.get("sex"), where),
        "history": parse_bool(values.get("history"), where, "history"),
        "device": values.get("device"),
        "spacing_mm": parse_float(values.get("spacing_mm"), where, "spacing_mm"),
        "birads": birads,
        "birads_major": birads_major,
    }
    for key, raw in values.values.items():
        if key and key not in DOCUMENTED:
            metadata[key] = clean(raw)
    stem = image.stem
    return Case(
        case_id=values.get("case_id") or stem,
        patient_id=values.get("patient_id") or stem,
        image_path=image,
        label=label,
        mask_paths=tuple(masks),
        metadata=metadata,
        dataset=dataset,
        fold=fold,
    )


def check_labels(rows: list[Row], csv_name: str, limit: int = 10) -> None:
    """Refuse every row whose label is not benign / malignant / normal at once, grouped by value.

    One message naming all offending rows, rather than one per run, so a manifest with a
    misspelt or an extra class ('malignat', 'BIRADS 4', 'atypical') is fixed in one pass."""
    bad: dict[str, list[int]] = {}
    for row in rows:
        raw = next((v for k, v in row.values.items() if k.strip().lower() == "label"), None)
        value = (raw or "").strip()
        if value.lower() not in LABELS:
            bad.setdefault(value, []).append(row.line)
    if not bad:
        return

    def lines(numbers: list[int]) -> str:
        shown = ", ".join(map(str, numbers[:limit])) + (f" (+{len(numbers) - limit} more)" if len(numbers) > limit else "")
        return f"line{'s' if len(numbers) > 1 else ''} {shown}"

    groups = sorted(bad.items(), key=lambda kv: kv[1][0])
    parts = [(f"unknown label {value!r}" if value else "empty label") + f" on {lines(numbers)}"
             for value, numbers in groups[:limit]]
    if len(groups) > limit:
        parts.append(f"and {len(groups) - limit} other values")
    n = sum(len(v) for v in bad.values())
    raise DatasetError(f"{csv_name}: {n} row{'s' if n > 1 else ''} with a label other than "
                       f"{', '.join(LABELS)}: " + "; ".join(parts))


def load(file: str, dataset: str = NAME) -> list[Case]:
    path = Path(file).expanduser().resolve()
    if path.is_dir():
        raise DatasetError(f"manifest spec needs a CSV file, got a folder: {path}")
    rows = read_table(path)
    header = {k.strip().lower() for k in rows[0].values} if rows else set()
    if rows:
        missing = [c for c in ("image", "label") if c not in header]
        if missing:
            raise DatasetError(f"{path.name}: missing required column(s) {', '.join(missing)}")
    else:
        raise DatasetError(f"{path.name}: the manifest has no rows")
    check_labels(rows, path.name)
    cases = [_case(row, path.parent, path.name, dataset) for row in rows]
    check_unique_ids(cases, path.name)
    return cases
