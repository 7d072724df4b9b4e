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
from typing import Any

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


def _specs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "dataset" and isinstance(v, str)]
        return found + [s for v in value.values() for s in _specs(v)]
    if isinstance(value, list):
        return [s for v in value for s in _specs(v)]
    return []


def training_specs(card: dict[str, Any]) -> list[str]:
    """Every dataset spec whose images shaped the bundle (its own, nested members', --init-from sources')."""
    training = card.get("training") or {}
    specs = _specs(training)
    config = training.get("config") or {}
    for stage in ("seg", "cls"):
        weights = (config.get(stage) or {}).get("init_weights") if isinstance(config, dict) else None
        if weights:
            source = Path(weights).parents[2] / "bundle.json"  # BUNDLE/members/K/seg.keras
            try:
                specs += training_specs(json.loads(source.read_text()))
            except (OSError, ValueError):
                log.warning("init weights %s: source bundle card not readable, its training data is unknown", weights)
    return list(dict.fromkeys(specs))


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
def _cached(path: str, name: str, version: str, card_json: str) -> TrainingData | None:
    card = json.loads(card_json)
    specs = training_specs(card)
    if not specs:
        return None
    datasets = tuple(dict.fromkeys(store_dataset_name(s) for s in specs))
    own = (card.get("training") or {}).get("dataset")
    # held-out ids are case ids of the card's own dataset; an ensemble saw every fold (none held out)
    held = _held_out_ids(Path(path)) if own and len(specs) == 1 else frozenset()
    return TrainingData(tuple(specs), datasets, held)


def training_data(card: dict[str, Any] | None) -> TrainingData | None:
    """What the store should treat as `card`'s training cases (None: unknown or no card)."""
    if not card:
        return None
    slim = {k: card.get(k) for k in ("training", "name", "version")}
    return _cached(str(card.get("path", "")), str(card.get("name")), str(card.get("version")),
                   json.dumps(slim, sort_keys=True, default=str))
