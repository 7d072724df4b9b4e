"""Every dataset the project reads, behind one spec string.

`load_cases("busbra:../shared/data/bus-bra")` returns `Case` records whatever
the source layout, so training, evaluation and the dashboard never know
which dataset they are looking at. Specs:

- `busbra:DIR`              BUS-BRA (official 5-fold split in `Case.fold`)
- `breast-lesions-usg:DIR`  BrEaST-Lesions-USG (aliases `breast:`, `brEaST:`)
- `busi:DIR`                BUSI folder layout (benign/ malignant/ normal/)
- `manifest:FILE.csv`       any dataset described by a CSV (see `manifest.py`)
- `synthetic:N[:SEED]`      generated cohort, cached under $LESIONLENS_HOME

Every problem (missing folder, file, column, bad row, unknown scheme) is a
single `DatasetError` naming the file and line, because these messages are
read by people setting up data, not by programmers.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.datasets import breast_usg, busbra, busi, manifest, synth
from pipeline.datasets.common import image_size, load_mask, read_gray
from pipeline.errors import DatasetError
from pipeline.types import Case

LOADERS: dict[str, Callable[[str], list[Case]]] = {
    "busbra": busbra.load,
    "bus-bra": busbra.load,
    "breast-lesions-usg": breast_usg.load,
    "breast": breast_usg.load,
    "busi": busi.load,
    "manifest": manifest.load,
    "synthetic": synth.load,
}


def parse_spec(spec: str) -> tuple[str, str]:
    """'scheme:rest' -> (scheme, rest); rest keeps any further colons (paths, seeds)."""
    scheme, sep, rest = spec.strip().partition(":")
    scheme = scheme.strip().lower()
    if not sep or not rest.strip():
        raise DatasetError(
            f"dataset spec {spec!r} must look like SCHEME:LOCATION, e.g. busbra:../shared/data/bus-bra "
            f"(schemes: {', '.join(sorted(LOADERS))})"
        )
    if scheme not in LOADERS:
        raise DatasetError(f"unknown dataset scheme {scheme!r} in {spec!r} (known: {', '.join(sorted(LOADERS))})")
    return scheme, rest.strip()


def load_cases(spec: str) -> list[Case]:
    """Cases of the dataset named by `spec`, in the source's own order."""
    scheme, rest = parse_spec(spec)
    cases = LOADERS[scheme](rest)
    if not cases:
        raise DatasetError(f"dataset {spec!r} holds no cases")
    return cases


__all__ = ["LOADERS", "DatasetError", "image_size", "load_cases", "load_mask", "parse_spec", "read_gray"]
