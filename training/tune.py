"""Hyperparameter search by cross-validation over a declared space.

Why our own ~250 lines instead of keras-tuner: a trial here is not one
`model.fit` but a whole patient-level CV of the two-model bundle
(`training.cv.run_cv`), which keras-tuner cannot drive without wrapping, and
keras-tuner's own resumability would duplicate ours. What we need is small:
a seeded list of configs, one resumable CV per config, a ranked table.

Space file (YAML): a mapping of dotted config keys (as `load_config`
overrides) to
  - a list of choices:           `seg.model.base_filters: [16, 24]`
  - a range:                     `seg.learning_rate: {low: 5.0e-4, high: 4.0e-3, log: true}`
    (`int: true`, or integer low/high without `log`, samples integers)
  - a scalar: fixed for every trial (handy to pin a key while searching others).
If every key is a list the search is a grid, visited in a seeded random order;
otherwise every trial is sampled independently (choices uniform, ranges
uniform or log-uniform). Both orders are prefix-stable: re-running with a
larger `--trials` keeps the trials already run and adds new ones.

Objective (what `ranking.csv` sorts by): the mean of the fold-mean Dice and
the fold-mean AUC. Both live in [0, 1] and the product needs both a good mask
and a good diagnosis; fold means (not pooled) are what the CV table reports.
A trial missing either number ranks below every complete trial; ties go to
the faster trial. Differences smaller than the fold sd are noise: check the
sd columns before adopting a winner.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipeline.errors import LesionLensError
from training.config import TrainConfig, load_config

log = logging.getLogger(__name__)
OBJECTIVE = "mean of fold-mean Dice and fold-mean AUC (higher is better)"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _coerce(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` (no dot) as a string; a space file means a number."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if isinstance(value, list):
        return [_coerce(v) for v in value]
    return value


@dataclass(frozen=True)
class Dimension:
    """One searched config key: either `choices` or a [low, high] range."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @classmethod
    def parse(cls, key: str, spec: Any) -> "Dimension":
        if isinstance(spec, dict):
            unknown = set(spec) - {"low", "high", "log", "int"}
            if unknown or not {"low", "high"} <= set(spec):
                raise LesionLensError(f"space key {key}: a range needs low and high (and optional log, int)")
            low, high = _coerce(spec["low"]), _coerce(spec["high"])
            if not all(isinstance(v, (int, float)) for v in (low, high)) or low > high:
                raise LesionLensError(f"space key {key}: low and high must be numbers with low <= high")
            log_scale = bool(spec.get("log", False))
            if log_scale and low <= 0:
                raise LesionLensError(f"space key {key}: a log range needs low > 0")
            integer = bool(spec.get("int", isinstance(low, int) and isinstance(high, int) and not log_scale))
            return cls(key, low=float(low), high=float(high), log=log_scale, integer=integer)
        choices = spec if isinstance(spec, list) else [spec]
        if not choices:
            raise LesionLensError(f"space key {key}: empty list of choices")
        return cls(key, choices=tuple(_coerce(choices)))

    @property
    def is_grid(self) -> bool:
        return self.choices is not None

    def sample(self, rng: np.random.Generator) -> Any:
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        lo, hi = self.low, self.high
        value = float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if self.log else float(rng.uniform(lo, hi))
        return int(round(value)) if self.integer else float(f"{value:.4g}")  # 4 digits: readable tables


@dataclass(frozen=True)
class SearchSpace:
    dims: tuple[Dimension, ...]

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SearchSpace":
        path = Path(path)
        if not path.is_file():
            raise LesionLensError(f"space file not found: {path}")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or not data:
            raise LesionLensError(f"space file {path} must map dotted config keys to choices or ranges")
        return cls(tuple(Dimension.parse(str(k), v) for k, v in data.items()))

    @property
    def is_grid(self) -> bool:
        return all(d.is_grid for d in self.dims)

    def grid_size(self) -> int | None:
        return math.prod(len(d.choices) for d in self.dims) if self.is_grid else None

    def plan(self, trials: int | None, seed: int, valid=lambda params: True) -> list[dict[str, Any]]:
        """The trials' parameters, deterministic for (space, seed) and prefix-stable in `trials`."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E5E]))
        if self.is_grid:
            points = [dict(zip([d.key for d in self.dims], combo)) for combo in itertools.product(*(d.choices for d in self.dims))]
            ordered = [points[i] for i in rng.permutation(len(points))]
            kept = [p for p in ordered if valid(p)]
            return kept[: trials] if trials else kept
        wanted = trials or 10
        plan: list[dict[str, Any]] = []
        for _ in range(wanted * 50):  # bounded: a small space may hold fewer distinct points than asked for
            params = {d.key: d.sample(rng) for d in self.dims}
            if params not in plan and valid(params):
                plan.append(params)
                if len(plan) == wanted:
                    break
        return plan


def trial_config(base: str | None, params: dict[str, Any], seed: int) -> TrainConfig:
    return load_config(base, {**params, "seed": seed})


def check_config(cfg: TrainConfig) -> str | None:
    """Why a config cannot train (None if it can): caught before hours are spent."""
    depth, size = cfg.seg.model.depth, cfg.seg.model.input_size
    if size % (2**depth):
        return f"seg.model.input_size {size} is not divisible by 2**depth = {2**depth}"
    return None


@dataclass
class TrialResult:
    trial: str
    params: dict[str, Any]
    dice_mean: float | None
    dice_sd: float | None
    auc_mean: float | None
    auc_sd: float | None
    minutes: float
    folds_done: int

    @property
    def objective(self) -> float:
        if self.dice_mean is None or self.auc_mean is None:
            return math.nan
        return (self.dice_mean + self.auc_mean) / 2


def _result(trial: str, params: dict[str, Any], summary: dict[str, Any]) -> TrialResult:
    table = summary.get("table", {})
    dice, auc = table.get("segmentation.dice", {}), table.get("classification.auc", {})
    return TrialResult(trial, params, dice.get("mean"), dice.get("sd"), auc.get("mean"), auc.get("sd"),
                       train_minutes(summary), len(summary.get("folds_done", [])))


def train_minutes(summary: dict[str, Any]) -> float:
    """Training minutes of a trial: the sum of its folds' `train_minutes` (cv_summary.json; a fold that did not
    record them counts 0). Summaries written before the key was renamed carry `minutes`."""
    minutes = summary.get("train_minutes") or summary.get("minutes") or []
    return round(float(sum(m for m in minutes if m is not None)), 1)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _pm(mean: float | None, sd: float | None) -> str:
    return "–" if mean is None else f"{mean:.3f} ± {sd or 0:.3f}"


def write_ranking(out: Path, results: list[TrialResult], header: dict[str, Any]) -> pd.DataFrame:
    """ranking.csv (one column per parameter) and ranking.md (readable), best first."""
    rows = []
    for r in results:
        row = {"trial": r.trial, "objective": None if math.isnan(r.objective) else round(r.objective, 4),
               "dice_mean": r.dice_mean, "dice_sd": r.dice_sd, "auc_mean": r.auc_mean, "auc_sd": r.auc_sd,
               "minutes": r.minutes, "folds_done": r.folds_done}
        row.update({f"param:{k}": v for k, v in r.params.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values(["objective", "minutes"], ascending=[False, True], na_position="last").reset_index(drop=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    df.to_csv(out / "ranking.csv", index=False)
    by_trial = {r.trial: r for r in results}
    lines = [f"# Tuning: {header['dataset']}", "",
             f"{header['folds']}-fold patient-level CV per trial, seed {header['seed']}, base config "
             f"`{header['base_config'] or 'defaults'}`. Objective: {OBJECTIVE}. Dice/AUC: mean ± sd over folds.", "",
             "| rank | trial | params | objective | Dice | AUC | minutes |", "|---:|---|---|---:|---|---|---:|"]
    for _, row in df.iterrows():
        r = by_trial[row["trial"]]
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r.params.items())
        objective = "–" if math.isnan(r.objective) else f"{r.objective:.3f}"
        partial = "" if r.folds_done == header["folds"] else f" ({r.folds_done}/{header['folds']} folds)"
        lines.append(f"| {row['rank']} | {r.trial}{partial} | {params} | {objective} | {_pm(r.dice_mean, r.dice_sd)} "
                     f"| {_pm(r.auc_mean, r.auc_sd)} | {r.minutes:.1f} |")
    (out / "ranking.md").write_text("\n".join(lines) + "\n")
    return df


def _check_same_search(out: Path, header: dict[str, Any]) -> None:
    """A resumed search must be the same search: otherwise trial_NNN would mean two configs."""
    path = out / "tune.json"
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("dataset", "folds", "seed", "space", "base_config_values"):
            if old.get(key) != header.get(key):
                raise LesionLensError(f"{out} holds a different search ({key} changed); use a new --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(header, indent=2, default=str))


def run_tune(dataset: str, space: SearchSpace, out: Path, *, folds: int = 3, trials: int | None = None,
             base_config: str | None = None, seed: int | None = None, n_boot: int = 200,
             dry_run: bool = False, backend: str = "local", strategy: str | None = None) -> pd.DataFrame:
    """Run (or resume) every planned trial's CV, then rank; returns the ranking table.

    backend "celery": every unfinished fold of every trial goes to the workers at once and
    this waits for all of them; the loop below then only summarises and ranks."""
    from pipeline.datasets import load_cases
    from training.cmd_cv import fold_assignment
    from training.cv import run_cv

    base = load_config(base_config)
    seed = base.seed if seed is None else seed

    def valid(params: dict[str, Any]) -> bool:
        problem = check_config(trial_config(base_config, params, seed))  # unknown keys raise here
        if problem:
            log.info("skipping %s: %s", params, problem)
        return problem is None

    plan = space.plan(trials, seed, valid)
    if not plan:
        raise LesionLensError("the space holds no trainable configuration")
    header = {"dataset": dataset, "folds": folds, "seed": seed, "base_config": base_config,
              "base_config_values": base.to_dict(), "space": [asdict(d) for d in space.dims],
              "objective": OBJECTIVE, "trials_planned": len(plan)}
    header = json.loads(json.dumps(header, default=str))  # tuples -> lists, as they read back
    if dry_run:
        for i, params in enumerate(plan, start=1):
            print(f"trial_{i:03d}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()))
        return pd.DataFrame(plan)
    _check_same_search(out, header)
    cases = load_cases(dataset)
    assignment = fold_assignment(cases, folds, False, seed)  # the same patients per fold in every trial
    if backend == "celery":
        from training.celery_cv import run_on_workers
        from training.cv import fold_jobs, prepare_cv

        jobs = []
        for i, params in enumerate(plan, start=1):
            cfg, trial_dir = trial_config(base_config, params, seed), out / f"trial_{i:03d}"
            prepare_cv(cases, assignment, cfg, trial_dir)
            jobs += fold_jobs(assignment, cfg, trial_dir, dataset, n_boot=n_boot, strategy=strategy)
        run_on_workers(jobs)
    results = []
    for i, params in enumerate(plan, start=1):
        name = f"trial_{i:03d}"
        trial_dir = out / name
        trial_dir.mkdir(parents=True, exist_ok=True)
        (trial_dir / "params.json").write_text(json.dumps(params, indent=2))
        summary_path = trial_dir / "cv_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        if len(summary.get("folds_done", [])) == folds:
            log.info("%s already done", name)
        else:
            log.info("%s (%d/%d): %s", name, i, len(plan), params)
            summary = run_cv(cases, assignment, trial_config(base_config, params, seed), trial_dir, dataset,
                             n_boot=n_boot)
            _release_memory()
        results.append(_result(name, params, summary))
        write_ranking(out, results, header)  # after every trial: a long search is readable while it runs
    return write_ranking(out, results, header)


def _release_memory() -> None:
    """Drop the finished trial's Keras graphs; a 20-trial search would otherwise keep them all."""
    import keras

    keras.backend.clear_session()
    gc.collect()
