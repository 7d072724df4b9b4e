"""Shared reading helpers for every dataset loader.

Loaders read their CSVs with the standard `csv` module rather than pandas:
pandas silently pads short rows with NaN and turns empty cells into floats,
whereas every value here must be either a clean Python value or None (never
NaN), and every malformed row must be reported with its line number.

Images and masks are read with Pillow only (no per-pixel Python), because
training decodes all 1,592 BUS-BRA images on a 2-core machine.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.errors import DatasetError, ImageLoadError
from pipeline.types import LABELS, Case

# Cell values that mean "nobody recorded this": all become None.
MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "not available", "unknown", "?"})

# Separators used when one CSV cell lists several mask files (BrEaST uses '&').
MASK_SEPARATORS = re.compile(r"\s*[&;|]\s*")


@dataclass(frozen=True)
class Row:
    """One CSV record with the line it started on, for error messages."""

    line: int
    values: dict[str, str]

    def get(self, key: str) -> str | None:
        """The stripped cell, or None when the column is absent or the cell is a missing token."""
        return clean(self.values.get(key))


def clean(value: Any) -> Any:
    """Map missing tokens and float NaN to None; strip strings."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        return None if value.lower() in MISSING else value
    return value


def read_table(path: Path, required: tuple[str, ...] = ()) -> list[Row]:
    """Read a CSV file strictly: header required, every row must have the header's width."""
    if not path.is_file():
        raise DatasetError(f"CSV file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise DatasetError(f"{path.name}: the file is empty or has no header row")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetError(
                    f"{path.name}: missing required column(s) {', '.join(missing)} "
                    f"(found: {', '.join(header)})"
                )
            rows: list[Row] = []
            line = reader.line_num
            for record in reader:
                start, line = line + 1, reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank line
                if len(record) != len(header):
                    raise DatasetError(
                        f"{path.name} line {start}: expected {len(header)} fields, found {len(record)}"
                    )
                rows.append(Row(start, dict(zip(header, record))))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path.name}: not a UTF-8 text CSV ({exc.reason})") from None
    except csv.Error as exc:
        raise DatasetError(f"{path.name}: malformed CSV ({exc})") from None
    return rows


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what} folder not found: {path}")
    return path


def parse_label(value: str | None, where: str) -> str:
    label = (value or "").strip().lower()
    if label not in LABELS:
        raise DatasetError(f"{where}: unknown label {value!r} (expected one of {', '.join(LABELS)})")
    return label


def parse_int(value: str | None, where: str, column: str) -> int | None:
    """Integers, also written as '45.0' or DICOM-style '045Y'."""
    value = clean(value)
    if value is None:
        return None
    text = value.upper().removesuffix("Y")
    try:
        number = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {column} {value!r} is not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise DatasetError(f"{where}: {column} {value!r} is not a whole number")
    return int(number)


def parse_float(value: str | None, where: str, column: str) -> float | None:
    value = clean(value)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise DatasetError(f"{where}: {column} {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise DatasetError(f"{where}: {column} {value!r} must be a positive number")
    return number


_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def parse_bool(value: str | None, where: str, column: str) -> bool | None:
    value = clean(value)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise DatasetError(f"{where}: {column} {value!r} is not yes/no")


def parse_birads(value: str | None, where: str) -> tuple[str | None, int | None]:
    """BI-RADS as text ('4a', '2': one type per column) plus its numeric major category (4, 2)."""
    value = clean(value)
    if value is None:
        return None, None
    match = re.fullmatch(r"([0-6])([a-cA-C]?)", value)
    if not match:
        raise DatasetError(f"{where}: BIRADS {value!r} is not a BI-RADS category (0-6, optionally 4a/4b/4c)")
    return value.lower(), int(match.group(1))


def check_unique_ids(cases: list[Case], source: str) -> None:
    seen: dict[str, Case] = {}
    for case in cases:
        if case.case_id in seen:
            raise DatasetError(
                f"{source}: case id {case.case_id!r} appears twice "
                f"({seen[case.case_id].image_path.name} and {case.image_path.name})"
            )
        seen[case.case_id] = case


# ---------------------------------------------------------------- pixel reading


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise ImageLoadError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageLoadError(f"cannot read image {path.name}: {exc}") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header only: no pixel decoding."""
    with _open(path) as im:
        w, h = im.size
    return h, w


def read_gray(path: Path | str) -> np.ndarray:
    """8-bit grayscale H x W. Colour is averaged by Pillow's luma; alpha is ignored.

    16-bit images are rescaled to their own min..max so faint images are not
    clipped to black (Pillow's I;16 -> L conversion clips at 255).
    """
    path = Path(path)
    with _open(path) as im:
        try:
            if im.mode == "L":
                return np.asarray(im)
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                arr = np.asarray(im, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
                return np.round(scaled).astype(np.uint8)
            return np.asarray(im.convert("L"))
        except OSError as exc:  # truncated file
            raise ImageLoadError(f"cannot decode image {path.name}: {exc}") from None


def _read_mask_file(path: Path) -> np.ndarray:
    with _open(path) as im:
        try:
            if im.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
                return np.asarray(im) > 0
            return np.asarray(im.convert("L")) > 0  # RGB(A)/palette: alpha ignored
        except OSError as exc:
            raise ImageLoadError(f"cannot decode mask {path.name}: {exc}") from None


def load_mask(case: Case) -> np.ndarray:
    """Union of the case's mask files (any nonzero pixel) as a bool H x W array.

    Normal cases without masks get an all-False array of the image's size.
    A benign/malignant case without any mask file is an error rather than an
    empty mask, which would silently teach a segmenter that lesions are background.
    """
    if not case.mask_paths:
        if case.label != "normal":
            raise DatasetError(f"case {case.case_id} ({case.label}) has no lesion mask")
        return np.zeros(image_size(case.image_path), dtype=bool)
    union: np.ndarray | None = None
    for path in case.mask_paths:
        mask = _read_mask_file(Path(path))
        if union is None:
            union = mask.copy()
        elif mask.shape != union.shape:
            raise DatasetError(
                f"case {case.case_id}: mask {Path(path).name} is {mask.shape[1]}x{mask.shape[0]} px, "
                f"other masks are {union.shape[1]}x{union.shape[0]} px"
            )
        else:
            union |= mask
    assert union is not None
    return union
