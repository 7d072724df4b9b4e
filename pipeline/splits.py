"""Patient-level splits and leakage checks.

Why patient-level: BUS-BRA has two views of one lesion for most patients;
an image-level split would put one view in training and the other in
testing and overstate every metric. All splitters here group by
`Case.patient_id`, stratify by label, and are deterministic for a seed.

Identical image files under different patient ids (BUSI is known for this)
defeat grouping, so `leakage_check` compares the image bytes themselves.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DatasetError
from pipeline.types import Case

log = logging.getLogger(__name__)

# A patient's stratum is their most serious label (a patient with one malignant
# and one benign image counts as malignant).
_SEVERITY = {"normal": 0, "benign": 1, "malignant": 2}


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: index arrays into the case list.

    Unpacks like a tuple (`train, test = fold`) for callers that prefer that.
    """

    number: int  # 1-based
    train: np.ndarray
    test: np.ndarray

    def __iter__(self):
        return iter((self.train, self.test))

    def named(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "test": self.test}


@dataclass(frozen=True)
class ThreeWaySplit:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __iter__(self):
        return iter((self.train, self.val, self.test))

    def named(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class Leak:
    """Identical image bytes found in more than one split."""

    sha256: str
    cases: tuple[tuple[str, str], ...]  # (split name, case id)


def _indices(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.int64))


def _patients(cases: Sequence[Case]) -> tuple[list[str], dict[str, list[int]], dict[str, str]]:
    """(patient ids in first-seen order, patient -> case indices, patient -> stratum label)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        members[case.patient_id].append(i)
    stratum = {p: max((cases[i].label for i in idx), key=lambda l: _SEVERITY.get(l, 0)) for p, idx in members.items()}
    return list(members), members, stratum


def kfold(cases: Sequence[Case], k: int = 5, seed: int = 0) -> list[Fold]:
    """Stratified (by label), grouped (by patient), shuffled k folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_patients = len({c.patient_id for c in cases})
    if k < 2 or n_patients < k:
        raise DatasetError(f"{k}-fold cross-validation needs k >= 2 and at least k patients (have {n_patients})")
    labels = np.array([c.label for c in cases])
    groups = np.array([c.patient_id for c in cases])
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "least populated class has only N members": fine for rare normals
        warnings.filterwarnings("ignore", category=UserWarning)
        parts = list(splitter.split(np.zeros(len(cases)), labels, groups))
    return [Fold(i + 1, _indices(train), _indices(test)) for i, (train, test) in enumerate(parts)]


def official_folds(cases: Sequence[Case]) -> list[Fold]:
    """The dataset authors' folds from `Case.fold` (fold f = test on f, train on the rest)."""
    missing = [c.case_id for c in cases if c.fold is None]
    if missing:
        raise DatasetError(
            f"{len(missing)} of {len(cases)} cases have no official fold (e.g. {missing[0]}): "
            "this dataset defines no official split; use kfold() instead"
        )
    folds = np.array([c.fold for c in cases])
    numbers = sorted(set(folds.tolist()))
    if len(numbers) < 2:
        raise DatasetError(f"official folds need at least 2 distinct folds, found {numbers}")
    fold_of: dict[str, int | None] = {}
    for case in cases:
        if fold_of.setdefault(case.patient_id, case.fold) != case.fold:
            raise DatasetError(
                f"patient {case.patient_id} is in official folds {fold_of[case.patient_id]} and {case.fold}"
            )
    return [Fold(f, np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in numbers]


def train_val_test_split(
    cases: Sequence[Case], val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> ThreeWaySplit:
    """Patient-level split, stratified by each patient's most serious label.

    Within every label stratum the patients are shuffled with `seed` and
    round(n * fraction) go to test and to val, the rest to train. Fractions
    count patients, not images; a part asked for (fraction > 0) is never left
    empty while train would keep at least one patient.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise DatasetError(f"val_fraction {val_fraction} + test_fraction {test_fraction} must be >= 0 and < 1")
    order, members, stratum = _patients(cases)
    rng = np.random.default_rng(seed)
    strata: dict[str, list[str]] = {}
    for label in sorted({stratum[p] for p in order}):
        patients = sorted(p for p in order if stratum[p] == label)
        rng.shuffle(patients)
        strata[label] = patients
    counts = {label: [round(len(ps) * test_fraction), round(len(ps) * val_fraction)] for label, ps in strata.items()}
    # Small cohorts: a requested val/test part gets at least one patient (from the largest stratum).
    largest = max(strata, key=lambda label: len(strata[label]))
    for part, fraction in ((0, test_fraction), (1, val_fraction)):
        if fraction > 0 and not sum(c[part] for c in counts.values()) and len(strata[largest]) - sum(counts[largest]) > 1:
            counts[largest][part] = 1
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label, patients in strata.items():
        n_test, n_val = counts[label]
        for j, patient in enumerate(patients):
            name = "test" if j < n_test else "val" if j < n_test + n_val else "train"
            parts[name].extend(members[patient])
    return ThreeWaySplit(_indices(parts["train"]), _indices(parts["val"]), _indices(parts["test"]))


def case_lists(cases: Sequence[Case], split: Sequence[Sequence[int]]) -> tuple[list[Case], list[Case]]:
    """The first two parts of a split (train, val or train, test indices) as Case lists."""
    parts = tuple(split)
    return [cases[int(i)] for i in parts[0]], [cases[int(i)] for i in parts[1]]


def inner_split(cases: Sequence[Case], fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    """Training and validation patients of one fold's training part (model selection, calibration)."""
    split = train_val_test_split(cases, val_fraction=fraction, test_fraction=0.0, seed=seed)
    return case_lists(cases, split)


def check_no_patient_overlap(cases: Sequence[Case], **splits: Sequence[int]) -> None:
    """Raise DatasetError when a patient appears in two of the named index sets."""
    owner: dict[str, str] = {}
    for name, indices in splits.items():
        for i in np.asarray(indices, dtype=np.int64).tolist():
            patient = cases[i].patient_id
            if owner.setdefault(patient, name) != name:
                raise DatasetError(
                    f"patient {patient} appears in both {owner[patient]} and {name} (case {cases[i].case_id})"
                )


_HASHES: dict[tuple[str, int, int], str] = {}


def image_sha256(path: Path) -> str:
    """sha256 of the file bytes, memoised by (path, size, mtime) for repeated fold checks."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def duplicate_groups(cases: Sequence[Case]) -> list[list[int]]:
    """Indices of cases whose image files are byte-identical (groups of 2+)."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        by_hash[image_sha256(Path(case.image_path))].append(i)
    return [idx for idx in by_hash.values() if len(idx) > 1]


def leakage_check(
    cases: Sequence[Case], splits: Mapping[str, Sequence[int]] | Fold | ThreeWaySplit | None = None, **named: Sequence[int]
) -> list[Leak]:
    """Identical image bytes sitting in two different splits; each is logged as a warning.

    Call as `leakage_check(cases, fold)`, `leakage_check(cases, split)` or
    `leakage_check(cases, train=idx_a, test=idx_b)`.
    """
    if isinstance(splits, (Fold, ThreeWaySplit)):
        named = {**splits.named(), **named}
    elif splits is not None:
        named = {**dict(splits), **named}
    where: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, indices in named.items():
        for i in np.asarray(indices, dtype=np.int64).tolist():
            where[image_sha256(Path(cases[i].image_path))].append((name, cases[i].case_id))
    leaks = [Leak(h, tuple(locs)) for h, locs in where.items() if len({n for n, _ in locs}) > 1]
    for leak in leaks:
        log.warning(
            "identical image bytes in several splits: %s",
            ", ".join(f"{case} ({name})" for name, case in leak.cases),
        )
    return leaks
