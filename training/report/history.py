"""Training curves from what a run left behind (no re-training, no TensorFlow).

Why this parsing: `training/fit.py` keeps no per-epoch history file in the
bundle; what it does record is `work/<stage>/minutes.json` and one log line
per epoch (`EpochLog`: "seg epoch 3/25 loss=… val_hard_dice=…"), written to
the job's log (e.g. `$LESIONLENS_HOME/logs/cv-busbra.log`). A Keras
`history.csv` (CSVLogger format) is preferred when present; otherwise the log
is parsed and the run is matched to this bundle by its training/validation
sizes ("training on N images, validating on M"), which differ between folds.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.card import BundleCard

STAGES = {"seg": "segmentation", "cls": "classifier"}
RUN_START = re.compile(r"training on (\d+) images, validating on (\d+)")
EPOCH_LINE = re.compile(r"\b(seg|cls) epoch (\d+)/(\d+) (.*?) elapsed=")
PAIR = re.compile(r"([A-Za-z_][\w]*)=(-?[\d.]+(?:e-?\d+)?|nan)")


@dataclass
class StageHistory:
    """Per-epoch values of one stage; epochs sorted, NaN where a metric is absent."""

    stage: str
    epochs: list[int]
    metrics: dict[str, list[float]]
    planned_epochs: int | None = None


@dataclass
class History:
    stages: dict[str, StageHistory] = field(default_factory=dict)
    source: str | None = None
    minutes: dict[str, float] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return any(s.epochs for s in self.stages.values())


def _stage_from_rows(stage: str, rows: dict[int, dict[str, float]], planned: int | None = None) -> StageHistory:
    epochs = sorted(rows)
    names: list[str] = []
    for epoch in epochs:
        names += [k for k in rows[epoch] if k not in names and k not in ("epoch", "learning_rate", "lr")]
    return StageHistory(stage, epochs, {n: [rows[e].get(n, math.nan) for e in epochs] for n in names}, planned)


def read_history_csv(path: Path, stage: str) -> StageHistory | None:
    """Keras CSVLogger file: an `epoch` column (0-based) and one column per metric."""
    rows: dict[int, dict[str, float]] = {}
    try:
        with path.open() as handle:
            for record in csv.DictReader(handle):
                epoch = int(float(record.pop("epoch"))) + 1
                rows[epoch] = {k: float(v) for k, v in record.items() if v not in ("", None)}
    except (OSError, ValueError, KeyError):
        return None
    return _stage_from_rows(stage, rows) if rows else None


def parse_log(text: str) -> dict[tuple[int, int], dict[str, StageHistory]]:
    """All runs in a log, keyed by (n_train, n_val); a resumed run's epochs overwrite older ones."""
    runs: dict[tuple[int, int], dict[str, dict[int, dict[str, float]]]] = {}
    planned: dict[tuple[int, int], dict[str, int]] = {}
    current: tuple[int, int] | None = None
    for line in text.splitlines():
        start = RUN_START.search(line)
        if start:
            current = (int(start.group(1)), int(start.group(2)))
            runs.setdefault(current, {})
            continue
        epoch = EPOCH_LINE.search(line)
        if epoch and current is not None:
            stage, number, total, items = epoch.group(1), int(epoch.group(2)), int(epoch.group(3)), epoch.group(4)
            runs[current].setdefault(stage, {})[number] = {k: float(v) for k, v in PAIR.findall(items)}
            planned.setdefault(current, {})[stage] = total
    return {key: {s: _stage_from_rows(s, rows, planned.get(key, {}).get(s)) for s, rows in stages.items()}
            for key, stages in runs.items() if stages}


def _candidate_logs(model_dir: Path, card: BundleCard) -> list[Path]:
    from pipeline.paths import home  # LESIONLENS_HOME, read in one place

    folders = [model_dir, model_dir.parent, home() / "logs"]
    logs = [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.log"))]
    preferred = {model_dir.name, model_dir.parent.name, card.name}
    return sorted(dict.fromkeys(logs), key=lambda p: p.stem not in preferred)


def _minutes(model_dir: Path, card: BundleCard) -> dict[str, float]:
    minutes = dict(card.training.minutes)
    for short, long in STAGES.items():
        path = model_dir / "work" / short / "minutes.json"
        if long not in minutes and path.is_file():
            try:
                minutes[long] = round(float(path.read_text()), 1)
            except ValueError:
                pass
    return minutes


def load_history(model_dir: Path, card: BundleCard, logs: list[Path]) -> History:
    history = History(minutes=_minutes(model_dir, card))
    for short in STAGES:
        for path in (model_dir / "work" / short / "history.csv", model_dir / f"history_{short}.csv"):
            if path.is_file():
                stage = read_history_csv(path, short)
                if stage:
                    history.stages[short], history.source = stage, str(path)
                    break
    if history.found:
        return history
    key = (card.training.n_train, card.training.n_val)
    if None in key:
        return history
    for path in logs or _candidate_logs(model_dir, card):
        try:
            runs = parse_log(path.read_text(errors="replace"))
        except OSError:
            continue
        if key in runs:
            history.stages = runs[key]
            history.source = f"{path} (run with {key[0]} training / {key[1]} validation images)"
            return history
    return history


def plot_history(history: History, path: Path) -> Path | None:
    """Loss and score per epoch, one row per stage (train solid, validation dashed)."""
    from training.figures import PRED_COLOUR, TRUTH_COLOUR, _save, plt

    stages = [s for s in history.stages.values() if s.epochs]
    if not stages:
        return None
    fig, axes = plt.subplots(len(stages), 2, figsize=(9, 3.2 * len(stages)), squeeze=False)
    for row, stage in zip(axes, stages):
        losses = [n for n in stage.metrics if n.endswith("loss") and not n.startswith("val_")]
        scores = [n for n in stage.metrics if not n.endswith("loss") and not n.startswith("val_")]
        for ax, names, kind in ((row[0], losses, "loss"), (row[1], scores, "score")):
            for name in names:
                ax.plot(stage.epochs, stage.metrics[name], "-", color=TRUTH_COLOUR, label=f"train {name}")
                if f"val_{name}" in stage.metrics:
                    ax.plot(stage.epochs, stage.metrics[f"val_{name}"], "--", color=PRED_COLOUR, label=f"validation {name}")
            ax.set(xlabel="epoch", ylabel=kind, title=f"{STAGES.get(stage.stage, stage.stage)}: {kind}")
            if names:
                ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(fig, path)
