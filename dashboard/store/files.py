"""Image files of the case store, written atomically beside the database.

Each case owns one folder (`<root>/<id[:2]>/<id>/`): display.png (what the
browser shows), pixels.npy (modality units, for window/level), thumb.png,
truth.png (ground-truth mask) and per-model prediction masks and probability
maps. Writes go to a temp file in the same folder, are fsynced, then
`os.replace`d, so a crash or a second worker reading at the same moment never
sees half a PNG.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.io import to_png_bytes

CASE_ID = re.compile(r"^[a-z0-9_-]{4,32}$")
THUMB_SIDE = 96


def safe_part(text: str) -> str:
    """A model name/version made safe to use in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "_"


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of a uint8 grey / RGB / RGBA array, or of a bool mask as 0/255."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return to_png_bytes(array)


def read_png(data_or_path: bytes | Path) -> np.ndarray:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with Image.open(source) as image:
        return np.asarray(image)


def thumbnail_png(display: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    image = Image.fromarray(display)
    image.thumbnail((side, side), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class CaseFiles:
    """Paths and atomic reads/writes for the files of every case."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, case_id: str) -> Path:
        if not CASE_ID.match(case_id):
            raise ValueError(f"not a case id: {case_id!r}")
        return self.root / case_id[:2] / case_id

    def path(self, case_id: str, name: str) -> Path:
        return self.folder(case_id) / name

    @staticmethod
    def prediction_name(kind: str, model_name: str, model_version: str) -> str:
        return f"{kind}-{safe_part(model_name)}-{safe_part(model_version)}.png"

    def write(self, case_id: str, name: str, data: bytes) -> Path:
        path = self.path(case_id, name)
        atomic_write(path, data)
        return path

    def write_image(self, case_id: str, pixels: np.ndarray, display: np.ndarray) -> None:
        self.write(case_id, "pixels.npy", npy_bytes(pixels.astype(np.float32)))
        self.write(case_id, "display.png", png_bytes(display))
        self.write(case_id, "thumb.png", thumbnail_png(display))

    def write_mask(self, case_id: str, name: str, mask: np.ndarray) -> None:
        self.write(case_id, name, png_bytes(np.asarray(mask, dtype=bool)))

    def write_probability(self, case_id: str, name: str, probability_map: np.ndarray) -> None:
        scaled = np.clip(np.asarray(probability_map, dtype=np.float32), 0.0, 1.0) * 255.0
        self.write(case_id, name, png_bytes(np.round(scaled).astype(np.uint8)))

    def read_bytes(self, case_id: str, name: str) -> bytes | None:
        try:
            return self.path(case_id, name).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def read_mask(self, case_id: str, name: str) -> np.ndarray | None:
        data = self.read_bytes(case_id, name)
        return None if data is None else read_png(data) >= 128

    def read_probability(self, case_id: str, name: str) -> np.ndarray | None:
        data = self.read_bytes(case_id, name)
        return None if data is None else read_png(data).astype(np.float32) / 255.0

    def read_pixels(self, case_id: str) -> np.ndarray | None:
        try:
            return np.load(self.path(case_id, "pixels.npy"), allow_pickle=False)
        except (FileNotFoundError, ValueError):
            return None

    def read_display(self, case_id: str) -> np.ndarray | None:
        data = self.read_bytes(case_id, "display.png")
        return None if data is None else read_png(data)

    def delete(self, case_id: str) -> None:
        shutil.rmtree(self.folder(case_id), ignore_errors=True)
