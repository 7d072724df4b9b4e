"""Typed errors whose messages are written for the people who will read them.

The UI and the API show `str(error)` to clinicians and data scientists, so every
message names the problem in plain words and never carries patient identifiers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class LesionLensError(ValueError):
    """Base class: a problem with the user's input, not a bug in the program."""


class ImageLoadError(LesionLensError):
    """An image or DICOM file could not be read (bad bytes, too large, unsupported)."""


class DatasetError(LesionLensError):
    """A dataset spec, folder or CSV is wrong (missing files, unknown labels, bad rows)."""


class BundleError(LesionLensError):
    """A model bundle folder is missing, damaged, or from an incompatible version."""


def run_command(run: Callable[[Any], int | None], args: Any) -> int:
    """`run(args)` as a process exit code for the command lines (`python -m training`, `python -m dashboard`):
    None is 0, and a LesionLensError is one `error: ...` line on stderr and exit code 2."""
    try:
        return int(run(args) or 0)
    except LesionLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
