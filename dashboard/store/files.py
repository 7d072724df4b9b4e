"""Image files of the case store, written atomically beside the database.

Each case owns one folder (`<root>/<id[:2]>/<id>/`): display.png (what the
browser shows), pixels.npz (modality units, for window/level and re-analysis:
compressed, in the narrowest integer type that holds the values exactly, so
an 8-bit image costs about what its PNG does and not 4 bytes a pixel as the
float32 pixels.npy of older cases did), thumb.png,
truth.png (ground-truth mask) and per-model prediction masks and probability
maps, and for DICOM uploads source.dcm (the de-identified file, zeroed
preamble; served only inside the SEG bundle, exports/seg_bundle.py, after
re-checking its de-identification marks). Writes go to a temp file in the same folder, are
fsynced, `os.replace`d, and the folder is fsynced too (a rename is only
durable once its directory entry is on disk), so a crash, a power cut or a
second worker reading at the same moment never sees half a PNG. New folders
are fsynced into their parents the same way. `sweep` removes what a crash
can leave behind: temp files, and (with the store's help) case folders whose
database row was never committed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.io import to_png_bytes

CASE_ID = re.compile(r"^[a-z0-9_-]{4,32}$")
THUMB_SIDE = 96
TEMP_SUFFIX = ".tmp"
SOURCE_DICOM = "source.dcm"  # de-identified DICOM as stored (served only in the SEG bundle)
ORIGINAL = "original.bin"  # the uploaded bytes, only with LESIONLENS_KEEP_ORIGINALS=1 (never served)


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


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """mkdir -p, fsyncing each parent that gained an entry so the new folders survive a crash."""
    path = Path(path)
    if path.is_dir():
        return
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another worker made it first
            continue
        fsync_dir(folder.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers and crashes see the old file or the new one, never a mix."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
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


PIXELS = "pixels.npz"  # compressed, narrowest exact dtype (this version on)
LEGACY_PIXELS = "pixels.npy"  # float32, uncompressed (cases stored before): still read
INTEGER_TYPES = (np.uint8, np.uint16, np.int16, np.int32)


def compact(pixels: np.ndarray) -> np.ndarray:
    """The same values in the narrowest integer dtype that holds them exactly, else float32."""
    values = np.asarray(pixels)
    if values.size and np.issubdtype(values.dtype, np.number) and np.isfinite(values).all():
        low, high = float(values.min()), float(values.max())
        if np.array_equal(values, np.round(values)):
            for dtype in INTEGER_TYPES:
                info = np.iinfo(dtype)
                if info.min <= low and high <= info.max:
                    return values.astype(dtype)
    return values.astype(np.float32)


def pixels_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, pixels=np.ascontiguousarray(compact(pixels)))
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

    def write_image(self, case_id: str, pixels: np.ndarray, display: np.ndarray) -> str:
        """Write pixels.npz, display.png and thumb.png; returns the sha256 of pixels.npz (the stored image)."""
        pixel_bytes = pixels_bytes(pixels)
        self.write(case_id, PIXELS, pixel_bytes)
        legacy = self.path(case_id, LEGACY_PIXELS)
        if legacy.exists():  # a re-import replacing an old case's image: one pixels file per case
            legacy.unlink()
        self.write(case_id, "display.png", png_bytes(display))
        self.write(case_id, "thumb.png", thumbnail_png(display))
        return hashlib.sha256(pixel_bytes).hexdigest()

    def pixels_name(self, case_id: str) -> str:
        """The case's pixels file: pixels.npz, or pixels.npy for a case stored before compaction."""
        return LEGACY_PIXELS if self.path(case_id, LEGACY_PIXELS).is_file() and not \
            self.path(case_id, PIXELS).is_file() else PIXELS

    def image_sha256(self, case_id: str) -> str | None:
        data = self.read_bytes(case_id, self.pixels_name(case_id))
        return None if data is None else hashlib.sha256(data).hexdigest()

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
        """Modality pixels as float32 (whichever format the case was stored in)."""
        try:
            name = self.pixels_name(case_id)
            if name == LEGACY_PIXELS:
                return np.load(self.path(case_id, name), allow_pickle=False).astype(np.float32, copy=False)
            with np.load(self.path(case_id, name), allow_pickle=False) as loaded:
                return loaded["pixels"].astype(np.float32)
        except (FileNotFoundError, ValueError, KeyError, OSError):
            return None

    def read_display(self, case_id: str) -> np.ndarray | None:
        data = self.read_bytes(case_id, "display.png")
        return None if data is None else read_png(data)

    def delete(self, case_id: str) -> None:
        folder = self.folder(case_id)
        shutil.rmtree(folder, ignore_errors=True)
        if folder.parent.is_dir():
            fsync_dir(folder.parent)

    def case_ids(self):
        """Ids of every case folder on disk (whatever the database says)."""
        for shard in sorted(self.root.iterdir()) if self.root.is_dir() else ():
            if shard.is_dir() and not shard.name.startswith("."):
                for folder in sorted(shard.iterdir()):
                    if folder.is_dir() and CASE_ID.match(folder.name):
                        yield folder.name

    def sweep_temp_files(self, min_age_s: float = 600.0) -> int:
        """Remove temp files a crashed writer left behind (older than `min_age_s`, so never a live write)."""
        removed = 0
        cutoff = time.time() - min_age_s
        for path in self.root.rglob(f".*{TEMP_SUFFIX}"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def folder_age_s(self, case_id: str) -> float:
        folder = self.folder(case_id)
        try:
            newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
        except FileNotFoundError:
            return 0.0
        return time.time() - newest
