"""Find and read every artifact the report draws on, tolerating absences.

Why one loader: the report and the slides must quote the same numbers, and
every optional input (cross-validation, fusion, radiologists, external
validation, subgroups, training history) may not exist yet when a report is
built. Each is an `Artifact` that is either found (path + parsed data) or
carries the command that would produce it, so sections can print a visible
"not available" note instead of failing. Nothing here runs a model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.bundle import read_bundle_card
from pipeline.card import BundleCard
from pipeline.errors import BundleError
from training.report.history import History, load_history

log = logging.getLogger(__name__)
EVAL_FIGURES = ("roc", "pr", "calibration", "confusion", "overlays")
COMMANDS = {
    "evaluation": "python -m training evaluate --model {model} --dataset SPEC --out {out}",
    "cv": "python -m training cv --dataset SPEC --out DIR",
    "fusion": "python -m training fuse --dataset SPEC --image-model {model} --out {out}/fusion",
    "radiologists": "python -m training radiologists --predictions PRED_CSV --out DIR",
    "external": "python -m training external --model {model} --dataset SPEC --out DIR",
    "subgroups": "python -m training evaluate --model {model} --dataset SPEC --out {out}",
}


@dataclass
class Artifact:
    """One input of the report: parsed `data` when found, else how to make it."""

    name: str
    command: str
    path: Path | None = None
    data: Any = None
    figures: dict[str, Path] = field(default_factory=dict)
    problem: str | None = None  # why a file that exists could not be used

    @property
    def found(self) -> bool:
        return self.data is not None


@dataclass
class Artifacts:
    """Everything a report or slide deck may quote, read once."""

    model_dir: Path
    out: Path
    card: BundleCard
    card_problem: str | None
    evaluation: Artifact
    predictions: pd.DataFrame | None
    cv: Artifact
    oof: pd.DataFrame | None
    folds: dict[str, int]
    fusion: Artifact
    radiologists: Artifact
    external: Artifact
    subgroups: Artifact
    external_subgroups: Artifact  # subgroups.json beside external.json: the external data's subgroups
    history: History

    @property
    def threshold(self) -> float | None:
        value = (self.evaluation.data or {}).get("classification", {}).get("threshold")
        return value if value is not None else self.card.thresholds.malignant


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text()), None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None, f"{path} could not be read ({exc})"


def _read_csv(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def read_card(model_dir: Path) -> tuple[BundleCard, str | None]:
    """The bundle card; weights are not needed for a report, so a valid card whose weight files
    are missing or changed is still read (with the problem noted). An invalid card is an error."""
    try:
        return read_bundle_card(model_dir), None
    except BundleError as exc:
        return read_bundle_card(model_dir, require_weights=False, verify=False), str(exc)


def find_file(name: str, roots: list[Path], max_depth: int = 3) -> Path | None:
    """`name` directly in a root, else the shallowest match below it."""
    for root in roots:
        if root.is_file() and root.name == name:
            return root
        if not root.is_dir():
            continue
        if (root / name).is_file():
            return root / name
        hits = [p for p in root.rglob(name)
                if len(p.relative_to(root).parts) <= max_depth and "work" not in p.relative_to(root).parts]
        if hits:
            return min(hits, key=lambda p: (len(p.parts), str(p)))
    return None


def _figures(near: Path, names: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for stem in names:
        for folder in (near, near / "figures"):
            if (folder / f"{stem}.png").is_file():
                found[stem] = folder / f"{stem}.png"
                break
    return found


def locate(kind: str, filename: str, explicit: str | None, defaults: list[Path], figure_names=(),
           max_depth: int = 3, **fmt: str) -> Artifact:
    """An optional JSON artifact: from `explicit` (file or folder) or by searching `defaults`."""
    art = Artifact(kind, COMMANDS[kind].format(**fmt) if fmt else COMMANDS[kind])
    roots = [Path(explicit)] if explicit else defaults
    path = find_file(filename, roots, max_depth)
    if path is None:
        if explicit:
            art.problem = f"no {filename} in {explicit}"
        return art
    art.path = path
    art.data, art.problem = _read_json(path)
    art.figures = _figures(path.parent, figure_names)
    return art


def _evaluation(model_dir: Path, out: Path, card: BundleCard) -> tuple[Artifact, pd.DataFrame | None]:
    """metrics.json of `evaluate` in --out, else what `cv`/`train` left in the bundle."""
    art = Artifact("evaluation", COMMANDS["evaluation"].format(model=model_dir, out=out))
    candidates = [(out / "metrics.json", out / "predictions.csv"),
                  (model_dir / "metrics.json", model_dir / "predictions.csv"),
                  (model_dir / "fold_metrics.json", model_dir / "predictions.csv")]
    for metrics_path, predictions_path in candidates:
        if metrics_path.is_file():
            art.data, art.problem = _read_json(metrics_path)
            if isinstance(art.data, dict):
                art.path = metrics_path
                art.figures = {**_figures(out, EVAL_FIGURES), **_figures(metrics_path.parent, EVAL_FIGURES)}
                return art, _read_csv(predictions_path)
    holdout = card.metrics.holdout
    if holdout is not None:
        art.data, art.path = dict(holdout), model_dir / "bundle.json"
        return art, _read_csv(model_dir / "test_predictions.csv")
    return art, None


def _cv(explicit: str | None, model_dir: Path, out: Path, card: BundleCard) -> Artifact:
    defaults = [out, model_dir, model_dir.parent] if card.training.split.kind == "cv" else [out, model_dir]
    art = Artifact("cv", COMMANDS["cv"])
    roots = [Path(explicit)] if explicit else defaults
    for root in roots:
        path = root if root.is_file() else root / "cv_summary.json"
        if path.is_file():
            art.path = path
            art.data, art.problem = _read_json(path)
            return art
    if explicit:
        art.problem = f"no cv_summary.json in {explicit}"
        return art
    metrics = card.metrics
    if metrics.cross_validation:  # an ensemble or train --cv-summary card carries the CV table
        art.data = {"table": dict(metrics.cross_validation), "pooled": metrics.pooled_oof, "per_fold": []}
        art.path = model_dir / "bundle.json"
    return art


def load_artifacts(model: str | Path, out: str | Path, *, cv: str | None = None, fusion: str | None = None,
                   radiologists: str | None = None, external: str | None = None,
                   logs: list[str] | None = None) -> Artifacts:
    model_dir, out = Path(model), Path(out)
    card, card_problem = read_card(model_dir)
    evaluation, predictions = _evaluation(model_dir, out, card)
    cv_art = _cv(cv, model_dir, out, card)
    oof, folds = None, {}
    if cv_art.path is not None and cv_art.path.name == "cv_summary.json":
        oof = _read_csv(cv_art.path.parent / "oof_predictions.csv")
        folds_data, _ = _read_json(cv_art.path.parent / "folds.json") if (cv_art.path.parent / "folds.json").is_file() \
            else (None, None)
        folds = folds_data if isinstance(folds_data, dict) else {}
    defaults = [out, model_dir]
    names = {"model": str(model_dir), "out": str(out)}
    ext = locate("external", "external.json", external, defaults, ("calibration_external",), **names)
    ext_subgroups = locate("subgroups", "subgroups.json", None, [ext.path.parent] if ext.path else [], ("subgroups",),
                           max_depth=1, **names)
    return Artifacts(
        model_dir=model_dir, out=out, card=card, card_problem=card_problem,
        evaluation=evaluation, predictions=predictions, cv=cv_art, oof=oof, folds=folds,
        fusion=locate("fusion", "fusion_metrics.json", fusion, defaults, ("roc_fusion",), **names),
        radiologists=locate("radiologists", "radiologists.json", radiologists, defaults, ("roc_radiologists",), **names),
        external=ext,
        subgroups=locate("subgroups", "subgroups.json", None, defaults, ("subgroups",), max_depth=1, **names),
        external_subgroups=ext_subgroups,
        history=load_history(model_dir, card, [Path(p) for p in logs or []]),
    )
