"""`synthetic:N[:SEED]` spec: generate the synthetic cohort once, then reuse it.

The cohort is cached under `cache_dir("synthetic")/N_SEED/`. Generation goes
to a temporary sibling folder that is renamed into place only after the
completion marker is written, so an interrupted or concurrent run never
leaves a half-written cohort that a later run would trust.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.errors import DatasetError
from pipeline.paths import cache_dir
from pipeline.types import Case

log = logging.getLogger(__name__)

NAME = "synthetic"
MARKER = ".complete"
MAX_CASES = 100_000


def parse(rest: str) -> tuple[int, int]:
    """'200' -> (200, 0); '200:7' -> (200, 7)."""
    parts = rest.split(":")
    try:
        if len(parts) > 2:
            raise ValueError
        n = int(parts[0])
        seed = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise DatasetError(f"synthetic spec must be synthetic:N or synthetic:N:SEED, got synthetic:{rest}") from None
    if not 1 <= n <= MAX_CASES or seed < 0:
        raise DatasetError(f"synthetic spec needs 1 <= N <= {MAX_CASES} and SEED >= 0, got synthetic:{rest}")
    return n, seed


def ensure_cohort(n: int, seed: int) -> Path:
    """Folder of a complete cohort for (n, seed), generating it if needed."""
    from pipeline.synthetic import write_cohort  # numpy/scipy only; imported lazily

    root = cache_dir(NAME)
    target = root / f"{n}_{seed}"
    if (target / MARKER).is_file():
        return target
    log.info("generating synthetic cohort of %d cases (seed %d) in %s", n, seed, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{n}_{seed}.", dir=root))
    try:
        write_cohort(tmp, n, seed)
        (tmp / MARKER).write_text("ok\n")
        if target.exists():  # stale, incomplete cohort from an interrupted run
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / MARKER).is_file():  # lost a race with nobody finishing
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(rest: str) -> list[Case]:
    from pipeline.datasets import manifest

    n, seed = parse(rest)
    folder = ensure_cohort(n, seed)
    return manifest.load(str(folder / "manifest.csv"), dataset=NAME)
