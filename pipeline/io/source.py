"""Turn a path or an in-memory upload into bytes, within the size limit.

Everything downstream works on one immutable `bytes` object: it is hashed
(sha256 of exactly what the user gave us), sniffed, and decoded from memory,
so a file that changes on disk while we read it cannot yield a record whose
hash does not match its pixels. Files are size-checked with `stat` before
they are read, so an oversized upload is refused without reading it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import ImageLoadError
from pipeline.io.limits import Limits, check_file_size

Source = str | os.PathLike[str] | bytes | bytearray | memoryview


def read_source(source: Source, limits: Limits) -> bytes:
    """Bytes of `source`; str and PathLike are paths, bytes-likes are content.

    Error messages never repeat the path: file names of clinical exports often
    contain patient names or IDs.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = source.nbytes if isinstance(source, memoryview) else len(source)
        check_file_size(size, limits)  # before copying an oversized upload
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return _read_path(Path(source), limits)
    raise ImageLoadError(
        f"cannot read an image from a {type(source).__name__}: give a file path or the file's bytes"
    )


def _read_path(path: Path, limits: Limits) -> bytes:
    try:
        if path.is_dir():
            raise ImageLoadError("the path is a folder, not an image file")
        size = path.stat().st_size
        check_file_size(size, limits)
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)  # +1 catches a file that grew
    except FileNotFoundError:
        raise ImageLoadError("image file not found") from None
    except PermissionError:
        raise ImageLoadError("image file cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, ImageLoadError):
            raise
        raise ImageLoadError("image file cannot be read") from None
    check_file_size(len(data), limits)
    return data
