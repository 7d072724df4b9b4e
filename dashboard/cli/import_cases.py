"""`python -m dashboard import SPEC [--model NAME]`: pre-compute a cohort for the review meeting.

Loads the dataset with pipeline.datasets, stores each image, its metadata and
ground-truth mask through the ingest service (the path uploads take), and runs
the Predictor over it, so the meeting opens instantly instead of waiting for
inference. Idempotent: cases are keyed on (dataset, source case id) and their
image sha256, so re-running skips what is stored and predicts only what the
chosen model has not seen.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from dashboard.services.ingest import default_dataset_name
from pipeline.errors import BundleError, DatasetError, ImageLoadError


def add_arguments(parser) -> None:
    parser.add_argument("spec", help="dataset spec, e.g. synthetic:200:0 or busbra:../shared/data/bus-bra")
    parser.add_argument("--model", help="bundle name to predict with (default: the active model)")
    parser.add_argument("--dataset-name", help="name stored as the cases' dataset (default: from the spec)")
    parser.add_argument("--limit", type=int, help="import only the first N cases")
    parser.add_argument("--no-predict", action="store_true", help="store cases without running the model")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


@dataclass
class ImportReport:
    total: int = 0
    new: int = 0
    unchanged: int = 0
    predicted: int = 0
    from_cache_or_store: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"{self.total} cases: {self.new} new, {self.unchanged} already stored; "
            f"{self.predicted} predicted, {self.from_cache_or_store} already had a prediction; "
            f"{len(self.errors)} errors; {self.seconds:.1f} s"
        ]
        out += [f"  {case_id}: {message}" for case_id, message in self.errors[:20]]
        if len(self.errors) > 20:
            out.append(f"  … and {len(self.errors) - 20} more")
        return out


def import_cases(services, spec: str, model: str | None = None, dataset_name: str | None = None,
                 limit: int | None = None, predict: bool = True, progress: bool = True) -> ImportReport:
    from pipeline.datasets import load_cases

    started = time.perf_counter()
    cases = load_cases(spec)
    if limit:
        cases = cases[:limit]
    card = None
    if predict:
        card = services.models.card_by_name(model) if model else services.models.require_active()
        if card is None:
            raise BundleError(f"model {model!r} is not a valid bundle under {services.settings.models_dir}")
    report = ImportReport(total=len(cases))
    iterator = cases
    if progress:
        from tqdm import tqdm

        iterator = tqdm(cases, desc=f"import {spec}", unit="case", file=sys.stderr)
    for case in iterator:
        try:
            dataset = dataset_name or default_dataset_name(spec, case.dataset)
            case_id, created = services.ingest.dataset_case(case, dataset)
            report.new += created
            report.unchanged += not created
            if card is not None:
                _row, source = services.analyzer.predict_case(case_id, card)
                report.predicted += source == "model"
                report.from_cache_or_store += source != "model"
        except (ImageLoadError, DatasetError) as exc:
            report.errors.append((case.case_id, str(exc)))
    report.seconds = time.perf_counter() - started
    return report


def run(args) -> int:
    import flask

    from dashboard.services import build_services
    from dashboard.settings import Settings

    server = flask.Flask("lesionlens-import")  # the services without the web app (no pages, no accounts)
    services = build_services(Settings.from_env(), server)
    try:
        with server.app_context():
            report = import_cases(services, args.spec, args.model, args.dataset_name, args.limit,
                                  predict=not args.no_predict, progress=not args.quiet)
    finally:
        services.ingest.sandbox.close()
    for line in report.lines():
        print(line)
    return 1 if report.total and len(report.errors) == report.total else 0
