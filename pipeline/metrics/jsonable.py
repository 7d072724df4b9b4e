"""Turn metric results into plain JSON values.

Reports are written to disk by the training CLI and sent to the browser by the
dashboard; both use the standard `json` module, which rejects numpy scalars
and writes NaN as the invalid token `NaN`. Undefined metrics therefore become
`null` (None), which every JSON reader understands.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Recursively convert to dict/list/str/int/float/bool/None.

    numpy scalars and arrays become Python numbers and lists; tuples and sets
    become lists; dataclasses become dicts; NaN and +/-inf become None; mapping
    keys become strings.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    pd = sys.modules.get("pandas")  # only if the caller already uses pandas
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")
