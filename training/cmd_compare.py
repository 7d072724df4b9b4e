"""`python -m training compare`: one markdown table from finished runs.

The README's cross-dataset, ensemble and transfer tables must be rebuilt from
artifacts, not copied by hand, so this command reads what `evaluate`, `cv`
and `train` wrote and prints a single table (also written to `--out`):

  compare --out t.md [LABEL=]PATH ...   PATH: metrics.json, cv_summary.json, or a folder
                                         holding one of them or a bundle.json with metrics
  compare --out t.md --cv CV_DIR --dataset SPEC [--ensemble BUNDLE]
                                         every fold bundle and the ensemble, scored on SPEC
                                         (reports cached under --reports and reused)

Evaluation reports (metrics.json) show AUC with its patient-bootstrap 95% CI.
CV rows show mean ± sd over folds and, in brackets, the 95% CI of the pooled
out-of-fold AUC. When several CV runs share dataset and folds (e.g. fine-tuned
vs from scratch), a paired per-fold difference table follows: with 5 folds the
fold-to-fold spread is the honest yardstick, not the CIs of each run alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import LesionLensError

log = logging.getLogger(__name__)
METRICS = (("dice", "segmentation", "Dice"), ("iou", "segmentation", "IoU"), ("auc", "classification", "AUC (95% CI)"),
           ("sensitivity", "classification", "Sensitivity"), ("specificity", "classification", "Specificity"),
           ("ece", "classification", "ECE"))


@dataclass(frozen=True)
class Stat:
    """One table cell: a value, or a mean with its sd over folds, optionally a CI."""

    mean: float | None
    sd: float | None = None
    ci: tuple[float, float] | None = None

    def cell(self) -> str:
        if self.mean is None:
            return "–"
        text = f"{self.mean:.3f}" if self.sd is None else f"{self.mean:.3f} ± {self.sd:.3f}"
        if self.ci and None not in self.ci:
            text += f" [{self.ci[0]:.3f}–{self.ci[1]:.3f}]"
        return text


@dataclass
class Row:
    label: str
    source: str
    dataset: str | None
    n: int | None
    stats: dict[str, Stat]
    kind: str = "report"  # report | cv | aggregate
    folds: list[int] = field(default_factory=list)
    per_fold: dict[str, list[float]] = field(default_factory=dict)


def _ci(values: Any) -> tuple[float, float] | None:
    return (values[0], values[1]) if isinstance(values, list) and len(values) == 2 and None not in values else None


def row_from_metrics(label: str, metrics: dict[str, Any], source: str) -> Row:
    stats = {key: Stat(metrics.get(sec, {}).get(key)) for key, sec, _ in METRICS}
    stats["auc"] = Stat(metrics["classification"].get("auc"), ci=_ci(metrics["classification"].get("auc_ci95")))
    return Row(label, source, metrics.get("dataset"), metrics.get("n_images"), stats)


def row_from_cv(label: str, table: dict[str, Any], pooled: dict[str, Any] | None, source: str,
                dataset: str | None = None, folds: list[int] | None = None) -> Row:
    stats, per_fold = {}, {}
    for key, sec, _ in METRICS:
        entry = table.get(f"{sec}.{key}") or {}
        stats[key] = Stat(entry.get("mean"), entry.get("sd", 0.0) if entry else None)
        per_fold[key] = entry.get("folds", [])
    if pooled and stats["auc"].mean is not None:
        stats["auc"] = Stat(stats["auc"].mean, stats["auc"].sd, _ci(pooled["classification"].get("auc_ci95")))
    n = pooled.get("n_images") if pooled else None
    return Row(label, source, dataset or (pooled or {}).get("dataset"), n, stats, "cv", folds or [], per_fold)


def read_run(label: str | None, path: Path) -> Row:
    """A row from a metrics.json, a cv_summary.json, or a folder holding one (or a bundle card)."""
    if path.is_dir():
        for name in ("metrics.json", "cv_summary.json", "bundle.json"):
            if (path / name).is_file():
                return read_run(label or path.name, path / name)
        raise LesionLensError(f"{path} holds no metrics.json, cv_summary.json or bundle.json")
    if not path.is_file():
        raise LesionLensError(f"run not found: {path}")
    label = label or path.parent.name
    data = json.loads(path.read_text())
    if "table" in data and "folds_done" in data:  # cv_summary.json
        return row_from_cv(label, data["table"], data.get("pooled"), str(path), data.get("dataset"), data["folds_done"])
    if "members" in data:  # a bundle card: its held-out or cross-validated metrics
        from pipeline.bundle import read_card_file

        card = read_card_file(path)
        if card.metrics.holdout:
            return row_from_metrics(label, dict(card.metrics.holdout), str(path))
        if card.metrics.cross_validation:
            return row_from_cv(label, dict(card.metrics.cross_validation), card.metrics.pooled_oof, str(path),
                               card.training.dataset)
        raise LesionLensError(f"bundle {path.parent.name} carries no held-out or cross-validated metrics")
    if "classification" in data and "segmentation" in data:
        return row_from_metrics(label, data, str(path))
    raise LesionLensError(f"{path} is neither a metrics.json nor a cv_summary.json")


def _evaluate(label: str, bundle: Path, cases, dataset: str, reports: Path, n_boot: int) -> Row:
    """Score a bundle on the cases, or reuse the report already written for this dataset."""
    report = reports / label / "metrics.json"
    if report.is_file():
        cached = json.loads(report.read_text())
        if cached.get("dataset") == dataset and cached.get("n_images") == len(cases):
            log.info("%s: reusing %s", label, report)
            return row_from_metrics(label, cached, str(report))
    from pipeline.predictor import Predictor
    from training.evaluation import metrics_json, predict_cases

    predictor = Predictor(bundle)
    df = predict_cases(predictor, cases, desc=label)
    metrics = metrics_json(predictor.name, dataset, df, predictor.settings.thresholds.malignant, n_boot)
    report.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(report.parent / "predictions.csv", index=False)
    report.write_text(json.dumps(metrics, indent=2))
    return row_from_metrics(label, metrics, str(report))


def ensemble_rows(cv_dir: Path, dataset: str, ensemble: Path | None, reports: Path, n_boot: int,
                  limit: int | None = None) -> tuple[list[Row], list[str]]:
    """Each fold model, their mean ± sd, and the ensemble of all folds, on one dataset."""
    from pipeline.datasets import load_cases

    from training.ensemble import has_weights

    folds = sorted((p for p in cv_dir.glob("fold_*") if (p / "bundle.json").is_file()),
                   key=lambda p: int(p.name.split("_")[1]))
    skipped = [p.name for p in folds if not has_weights(p)]
    folds = [p for p in folds if p.name not in skipped]
    if not folds:
        raise LesionLensError(f"no fold bundles with weights in {cv_dir}")
    summary = json.loads((cv_dir / "cv_summary.json").read_text()) if (cv_dir / "cv_summary.json").is_file() else {}
    trained_on = summary.get("dataset")
    if ensemble is None:
        from training.ensemble import write_ensemble

        ensemble = reports / "ensemble-bundle"
        if not (ensemble / "bundle.json").is_file():
            write_ensemble(cv_dir, ensemble, trained_on or dataset)
    cases = load_cases(dataset)[:limit] if limit else load_cases(dataset)
    singles = [_evaluate(f.name, f, cases, dataset, reports, n_boot) for f in folds]
    aggregate = {key: [r.stats[key].mean for r in singles if r.stats[key].mean is not None] for key, _, _ in METRICS}
    mean_row = Row(f"single models (mean ± sd of {len(singles)})", "the rows above", dataset, len(cases),
                   {k: Stat(float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) if v else Stat(None)
                    for k, v in aggregate.items()}, "aggregate")
    ens = _evaluate("ensemble", ensemble, cases, dataset, reports, n_boot)
    ens.label = f"ensemble ({len(folds)} members)"
    notes = []
    if skipped:
        notes.append(f"Not scored (weights not on this machine, text results only): {', '.join(skipped)}.")
    if trained_on and trained_on == dataset:
        notes.append(f"**Caution**: {dataset} is the dataset these models were cross-validated on; every fold "
                     "model trained on most of it, so these numbers are optimistic. Use an external dataset.")
    return singles + [mean_row, ens], notes


def paired_differences(rows: list[Row]) -> list[str]:
    """Per-fold differences of CV runs vs the first, when they share dataset and folds."""
    cvs = [r for r in rows if r.kind == "cv" and r.folds]
    if len(cvs) < 2:
        return []
    ref = cvs[0]
    lines = []
    for other in cvs[1:]:
        if other.dataset != ref.dataset or other.folds != ref.folds:
            continue
        cells = []
        for key in ("dice", "auc"):
            a, b = ref.per_fold.get(key, []), other.per_fold.get(key, [])
            if len(a) == len(b) == len(ref.folds) and a:
                d = np.array(b) - np.array(a)
                cells.append(f"{d.mean():+.3f} ± {d.std(ddof=1) if len(d) > 1 else 0:.3f} "
                             f"(better in {int((d > 0).sum())}/{len(d)} folds)")
            else:
                cells.append("–")
        lines.append(f"| {other.label} − {ref.label} | {len(ref.folds)} | {cells[0]} | {cells[1]} |")
    if not lines:
        return []
    return ["", "Paired per-fold differences (same dataset and folds):", "",
            "| comparison | folds | Δ Dice | Δ AUC |", "|---|---:|---|---|", *lines, *pooled_differences(ref, cvs[1:])]


def pooled_differences(ref: Row, others: list[Row], n_boot: int = 1000) -> list[str]:
    """Pooled out-of-fold paired differences vs the first CV run (`paired_oof`), where both kept their
    `oof_predictions.csv`."""
    import pandas as pd

    from training.paired_oof import markdown_lines, oof_beside, paired_oof

    ref_oof = oof_beside(ref.source)
    if ref_oof is None:
        return []
    reference, lines = pd.read_csv(ref_oof), []
    for other in others:
        other_oof = oof_beside(other.source)
        if other_oof is None or other.dataset != ref.dataset or other.folds != ref.folds:
            continue
        lines += markdown_lines(ref.label, other.label, paired_oof(reference, pd.read_csv(other_oof), n_boot))
    if not lines:
        return []
    return ["", "Pooled out-of-fold paired differences (images scored by both runs; patient-bootstrap 95% CI; "
            "HD95 in px, lower is better):", "", "| comparison | Dice | HD95 (px) | AUC |", "|---|---|---|---|", *lines]


def _short(spec: str | None) -> str:
    if not spec:
        return "–"
    scheme, _, rest = spec.partition(":")
    if scheme == "synthetic":
        return spec
    return f"manifest:{Path(rest).parent.name}" if scheme == "manifest" else scheme


def markdown(rows: list[Row], title: str | None = None, notes: list[str] | None = None) -> str:
    lines = [f"# {title}", ""] if title else []
    lines += ["| run | data | n | " + " | ".join(h for _, _, h in METRICS) + " |",
              "|---|---|---:|" + "---|" * len(METRICS)]
    for r in rows:
        lines.append(f"| {r.label} | {_short(r.dataset)} | {r.n if r.n is not None else '–'} | "
                     + " | ".join(r.stats[k].cell() for k, _, _ in METRICS) + " |")
    lines += paired_differences(rows)
    lines += ["", "Evaluation rows: value [patient-bootstrap 95% CI]. CV rows: mean ± sd over folds "
              "[95% CI of the pooled out-of-fold AUC]; n = images scored. Sensitivity/specificity at each "
              "bundle's own threshold (Youden on validation); ECE with 10 bins."]
    lines += [""] + [f"- {n}" for n in notes or []] + [f"- {r.label}: `{r.source}`" for r in rows]
    return "\n".join(lines).rstrip() + "\n"


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="[LABEL=]PATH of a metrics.json, cv_summary.json or folder")
    p.add_argument("--run", action="append", default=[], metavar="LABEL=PATH", help="same as RUN (repeatable)")
    p.add_argument("--out", required=True, help="markdown file to write (also printed)")
    p.add_argument("--title", help="heading of the table")
    p.add_argument("--cv", help="CV folder: score each fold bundle and the ensemble on --dataset")
    p.add_argument("--ensemble", help="ensemble bundle of --cv (default: built from the folds)")
    p.add_argument("--dataset", help="dataset spec the --cv bundles are scored on (external data!)")
    p.add_argument("--reports", help="where --cv evaluations are cached and reused (default: beside --out; delete to recompute)")
    p.add_argument("--limit", type=int, help="score only the first N cases (quick checks)")
    p.add_argument("--n-boot", type=int, default=1000)


def _split(item: str) -> tuple[str | None, Path]:
    label, sep, path = item.partition("=")
    return (label, Path(path)) if sep and label else (None, Path(item))


def run(args) -> int:
    rows, notes = [], []
    if args.cv:
        if not args.dataset:
            raise LesionLensError("--cv needs --dataset: the data the fold models and the ensemble are scored on")
        out = Path(args.out)
        reports = Path(args.reports) if args.reports else out.parent / f"{out.stem}-reports"
        cv_rows, notes = ensemble_rows(Path(args.cv), args.dataset, Path(args.ensemble) if args.ensemble else None,
                                       reports, args.n_boot, args.limit)
        rows += cv_rows
    rows += [read_run(*_split(item)) for item in [*args.runs, *args.run]]
    if not rows:
        raise LesionLensError("nothing to compare: give RUN paths and/or --cv DIR --dataset SPEC")
    text = markdown(rows, args.title, notes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0
