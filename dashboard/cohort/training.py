"""Which stored cases a model was trained on: never evidence of its quality.

A bundle card names the dataset(s) its images came from (`training.dataset`,
nested for ensembles, plus the source bundle of `--init-from`) but not the
patients. Cases the store imported from such a dataset are therefore taken
as training cases, except those the bundle lists as held out: the
`test_predictions.csv` that `python -m training train --test-fraction/
--holdout-fold` writes beside bundle.json, or a CV fold bundle's own
`predictions.csv` (its held-out fold). The Metrics page leaves them out and
says how many; a case imported under another `--dataset-name` cannot be
recognised (stated on the page).

Store dataset names follow `python -m dashboard import`: a synthetic cohort
is named by its spec (`synthetic:200:0`), other datasets by their loader's
name (`busbra`, `breast-lesions-usg`, `busi`, `manifest`).
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.bundle import training_specs
from pipeline.card import BundleCard, Training

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    specs: tuple[str, ...]  # dataset specs from the card
    datasets: tuple[str, ...]  # the store's dataset names for them
    held_out: frozenset[str]  # source case ids of those datasets that the model never trained on

    def describe(self) -> str:
        names = ", ".join(self.datasets)
        kept = f"; its {len(self.held_out):,} held-out test cases are kept" if self.held_out else ""
        return f"trained on {names}{kept}"


def store_dataset_name(spec: str) -> str:
    """The `dataset` column `python -m dashboard import SPEC` gives the spec's cases."""
    scheme = spec.split(":", 1)[0].strip().lower()
    if scheme == "synthetic":
        return spec.strip()
    try:
        from pipeline.datasets import LOADERS

        return str(getattr(importlib.import_module(LOADERS[scheme].__module__), "NAME", scheme))
    except (ImportError, KeyError):
        return scheme


def _held_out_ids(bundle_dir: Path) -> frozenset[str]:
    files = [bundle_dir / "test_predictions.csv"]
    if (bundle_dir / "fold_metrics.json").is_file():  # a CV fold bundle: predictions.csv = its held-out fold
        files.append(bundle_dir / "predictions.csv")
    ids: set[str] = set()
    for path in files:
        try:
            with path.open(newline="") as handle:
                ids.update(str(row["case_id"]) for row in csv.DictReader(handle) if row.get("case_id"))
        except (OSError, KeyError, csv.Error):
            continue
    return frozenset(ids)


@lru_cache(maxsize=32)
def _cached(path: str, name: str, version: str, training_json: str) -> TrainingData | None:
    training = Training.from_json(json.loads(training_json))
    specs = training_specs(training)  # own dataset, nested ones, --init-from sources'
    if not specs:
        return None
    datasets = tuple(dict.fromkeys(store_dataset_name(s) for s in specs))
    # held-out ids are case ids of the card's own dataset; an ensemble saw every fold (none held out)
    held = _held_out_ids(Path(path)) if training.dataset and len(specs) == 1 else frozenset()
    return TrainingData(tuple(specs), datasets, held)


def training_data(card: BundleCard | None) -> TrainingData | None:
    """What the store should treat as `card`'s training cases (None: unknown or no card)."""
    if card is None:
        return None
    return _cached(str(card.path or ""), card.name, card.version,
                   json.dumps(card.training.to_json(), sort_keys=True, default=str))
