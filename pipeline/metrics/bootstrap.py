"""Percentile bootstrap confidence intervals, by image or by patient.

Several images of one patient are not independent: resampling images as if
they were makes intervals too narrow. With `groups` (patient ids) the bootstrap
draws patients with replacement and keeps all of a drawn patient's images
together (cluster bootstrap), the same unit the data splits use.

The resampling itself is vectorised (one random draw for all replicates, and
group members gathered by index arithmetic rather than Python lists); the
metric is then called once per replicate, so pass a numpy metric such as
`classification.roc_auc` (rank based) rather than an sklearn scorer when
speed matters: 1000 replicates of AUC over 2000 images take well under a
second that way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np

__all__ = ["BootstrapOptions", "BootstrapResult", "bootstrap", "bootstrap_ci", "percentile_result", "resample_indices"]

MetricFn = Callable[..., float]


def _group_codes(groups: Sequence[Hashable] | np.ndarray, n: int) -> np.ndarray:
    """Integer codes 0..G-1 for the group labels, in order of first appearance."""
    values = list(groups)
    if len(values) != n:
        raise ValueError(f"groups has {len(values)} entries for {n} items")
    codes: dict[Hashable, int] = {}
    out = np.empty(n, dtype=np.intp)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError("groups (patient ids) must not be missing")
        out[i] = codes.setdefault(value, len(codes))
    return out


def resample_indices(
    n_items: int,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
) -> Iterator[np.ndarray]:
    """Yield `n_boot` arrays of item indices, one bootstrap replicate each.

    Without groups every replicate draws `n_items` items with replacement.
    With groups it draws as many groups as there are, with replacement, and
    yields the indices of all their items (so replicate sizes vary with the
    sizes of the drawn groups).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if groups is None:
        draws = rng.integers(0, n_items, size=(n_boot, n_items))
        yield from draws
        return
    codes = _group_codes(groups, n_items)
    n_groups = int(codes.max()) + 1 if n_items else 0
    members = np.argsort(codes, kind="stable")  # items laid out group by group
    sizes = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    for drawn in draws:
        drawn_sizes = sizes[drawn]
        ends = np.cumsum(drawn_sizes)
        # Position k of the replicate belongs to drawn group j (found by repeat);
        # its offset inside that group is k minus where group j starts.
        offset = np.arange(ends[-1]) - np.repeat(ends - drawn_sizes, drawn_sizes)
        yield members[np.repeat(starts[drawn], drawn_sizes) + offset]


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Percentile interval plus how many replicates defined the metric."""

    low: float
    high: float
    n_boot: int
    n_valid: int
    alpha: float
    replicates: np.ndarray  # metric value of each valid replicate


def bootstrap(
    metric_fn: MetricFn,
    *arrays,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    min_valid_fraction: float = 0.5,
) -> BootstrapResult:
    """Bootstrap `metric_fn(*arrays)`; see `bootstrap_ci` for the rules."""
    if not arrays:
        raise ValueError("bootstrap needs at least one array to resample")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    data = [np.asarray(a) for a in arrays]
    n = data[0].shape[0] if data[0].ndim else 0
    if any(a.ndim == 0 or a.shape[0] != n for a in data):
        raise ValueError("all arrays must have the same length along the first axis")
    values = np.full(n_boot, np.nan)
    if n:
        rng = np.random.default_rng(seed)
        with warnings.catch_warnings():
            # sklearn scorers warn on single-class replicates; those are skipped anyway.
            warnings.simplefilter("ignore")
            for b, idx in enumerate(resample_indices(n, groups, n_boot=n_boot, rng=rng)):
                try:
                    values[b] = float(metric_fn(*(a[idx] for a in data)))
                except (ValueError, ZeroDivisionError, FloatingPointError):
                    pass  # metric undefined on this replicate (e.g. one class only)
    return percentile_result(values, n_boot, alpha, min_valid_fraction)


def percentile_result(values: np.ndarray, n_boot: int, alpha: float, min_valid_fraction: float) -> BootstrapResult:
    """The percentile interval of the replicate values (NaN = metric undefined on that replicate);
    NaN bounds when fewer than `min_valid_fraction` of the `n_boot` replicates (and at least 2) are valid."""
    valid = values[np.isfinite(values)]
    needed = max(2, math.ceil(min_valid_fraction * n_boot))
    if valid.size < needed:
        low = high = math.nan
    else:
        low, high = (float(q) for q in np.quantile(valid, [alpha / 2, 1 - alpha / 2]))
    return BootstrapResult(low, high, n_boot, int(valid.size), alpha, valid)


class BootstrapOptions(TypedDict, total=False):
    """The options `bootstrap_ci` passes on to `bootstrap` (defaults there: items, 1000, 0.05, seed 0)."""

    groups: Sequence[Hashable] | np.ndarray | None
    n_boot: int
    alpha: float
    seed: int | None


def bootstrap_ci(metric_fn: MetricFn, *arrays, **options: Unpack[BootstrapOptions]) -> tuple[float, float]:
    """(low, high) percentile interval of `metric_fn(*arrays)` at level 1 - alpha.

    `arrays` are resampled together along their first axis. With `groups`
    (one patient id per item) whole patients are resampled (cluster
    bootstrap); otherwise items. Replicates where the metric is undefined
    (NaN/inf, or it raises ValueError, e.g. AUC of a single class) are skipped;
    if fewer than half of the replicates are usable, or the data are empty,
    the interval is (nan, nan) rather than a misleading one. `seed` makes the
    interval reproducible.
    """
    result = bootstrap(metric_fn, *arrays, **options)
    return result.low, result.high
