"""The predictor's runtimes side by side on one image, interleaved run by run (used by bench_predictor.py).

Why interleaved: this CPU is often shared (a training run); timing runtime A for a minute and then
runtime B compares two different loads. Here every run goes through every runtime (the order rotated
each run), so all of them see the same load; the load average of every run is recorded.

Per runtime, on the same image and the same weights:
- `calls`: time inside the network calls of one prediction (segment, refine, classify: one call each,
  every member and TTA flip/view batched) — what the FLOP floor bounds;
- `stages`: the predictor's own segment + classify timings (calls plus the numpy around them: letterbox,
  refinement window, classifier crops, components), the figure earlier reports called "model stages";
- `end_to_end`: load_image + predict;
- outputs against `tf.function` (the Keras reference): |P(malignant) difference| and Dice of the masks.
`naive` is the same network work as per-image `model.predict` calls of each Keras model (no batching,
no tf.function): 12 calls for one member with flips and the classifier's 4 views.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NAIVE = "naive model.predict"


class CallTimer:
    """Wraps a predictor's stage runners: sums the time spent in them and keeps the last inputs."""

    def __init__(self, predictor: Any) -> None:
        self.seconds = 0.0
        self.inputs: dict[str, np.ndarray] = {}
        for attr in ("_segment", "_refine", "_classify"):
            runner = getattr(predictor, attr)
            if runner is not None:
                setattr(predictor, attr, self._wrap(attr.strip("_"), runner))

    def _wrap(self, stage: str, runner: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        def timed(batch: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            out = runner(batch)
            self.seconds += time.perf_counter() - t0
            self.inputs[stage] = batch
            return out

        return timed


def naive_models(bundle: Path, card: Any) -> dict[str, list[Any]]:
    """stage -> the members' Keras models, loaded afresh from the same files."""
    import keras

    roles = {"seg": "segment", "refine": "refine", "cls": "classify"}
    out: dict[str, list[Any]] = {}
    for member in card.members:
        for role, rel in member.weight_files.items():
            out.setdefault(roles[role], []).append(keras.saving.load_model(bundle / rel, compile=False))
    return out


def naive_seconds(models: dict[str, list[Any]], inputs: dict[str, np.ndarray]) -> float:
    """The stages' network work as one `model.predict` per image per model (what a first version would do)."""
    t0 = time.perf_counter()
    for stage, batch in inputs.items():
        for model in models.get(stage, []):
            for image in batch:
                model.predict(image[None], verbose=0)
    return time.perf_counter() - t0


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def compare(bundle: Path, png: bytes, runtimes: list[str], runs: int, warmup: int) -> dict[str, Any]:
    """Interleaved runs of every runtime (plus the naive baseline) on one image; samples in ms."""
    from pipeline.bundle import read_bundle_card
    from pipeline.io import load_image
    from pipeline.predictor import Predictor

    predictors, unavailable, timers = {}, {}, {}
    for name in runtimes:
        predictor = Predictor(bundle, runtime=name)
        if predictor.runtime_fallback:
            unavailable[name] = predictor.runtime_fallback.split(": ", 1)[1]
            continue
        predictors[name], timers[name] = predictor, CallTimer(predictor)
    models = naive_models(bundle, read_bundle_card(bundle))
    names = list(predictors)
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in [*names, NAIVE]}
    outputs: dict[str, Any] = {}
    loads = []
    for i in range(warmup + runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            timer = timers[name]
            timer.seconds = 0.0
            t0 = time.perf_counter()
            pred = predictors[name].predict(load_image(png))
            e2e = time.perf_counter() - t0
            outputs[name] = pred
            if i >= warmup:
                t = pred.timings_ms
                for key, value in (("calls", timer.seconds * 1000), ("stages", t["segment"] + t["classify"]),
                                   ("end_to_end", e2e * 1000)):
                    samples[name].setdefault(key, []).append(value)
        naive = naive_seconds(models, timers[names[0]].inputs)
        if i >= warmup:
            samples[NAIVE].setdefault("calls", []).append(naive * 1000)
            loads.append(os.getloadavg()[0])
    reference = outputs.get("tf.function")
    results: dict[str, Any] = {}
    for name, series in samples.items():
        row: dict[str, Any] = {k: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
                               for k, v in series.items()}
        if reference is not None and name in outputs:
            pred = outputs[name]
            row["probability_abs_diff"] = abs(pred.probability - reference.probability)
            row["probability_map_max_abs_diff"] = float(np.abs(pred.probability_map - reference.probability_map).max())
            row["mask_dice"] = _dice(pred.mask, reference.mask)
        results[name] = row
    for name, why in unavailable.items():
        results[name] = {"unavailable": why}
    return {"runtimes": results, "order": [*runtimes, NAIVE], "runs": runs, "warmup": warmup,
            "load_average_per_run": {"min": min(loads), "mean": float(np.mean(loads)), "max": max(loads)},
            "threads": {"usable_cores": _cores()}}


def _cores() -> int:
    from pipeline.runtimes import usable_cores

    return usable_cores()


def markdown_table(comparison: dict[str, Any], floor_ms: float) -> str:
    """The per-runtime table: p50/p95 of the network calls and of the model stages, and their ratios."""
    rows = comparison["runtimes"]
    naive = rows.get(NAIVE, {}).get("calls", {}).get("p50")
    lines = ["| runtime | calls p50 ms | calls p95 ms | calls / floor | calls / naive | stages p50 ms | stages p95 ms "
             "| stages / floor | end-to-end p50 ms | max abs dP | mask Dice |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in comparison["order"]:
        row = rows.get(name)
        if row is None:
            continue
        if "unavailable" in row:
            lines.append(f"| {name} | not available: {row['unavailable'][:90]} |" + " |" * 9)
            continue
        calls, stages, e2e = row["calls"], row.get("stages"), row.get("end_to_end")

        def cell(value: float | None, fmt: str = ".1f") -> str:
            return "" if value is None else format(value, fmt)

        lines.append(
            f"| {name} | {cell(calls['p50'])} | {cell(calls['p95'])} | {cell(calls['p50'] / floor_ms)}x "
            f"| {cell(calls['p50'] / naive if naive else None, '.2f')} "
            f"| {cell(stages and stages['p50'])} | {cell(stages and stages['p95'])} "
            f"| {cell(stages['p50'] / floor_ms) + 'x' if stages else ''} | {cell(e2e and e2e['p50'])} "
            f"| {cell(row.get('probability_abs_diff'), '.1e')} | {cell(row.get('mask_dice'), '.4f')} |"
        )
    return "\n".join(lines)
