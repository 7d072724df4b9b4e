"""`python -m dashboard import SPEC [--model NAME]`: pre-compute a cohort for the review meeting.

Loads the dataset with pipeline.datasets, stores each image, its metadata and
ground-truth mask, and runs the Predictor over it, so the meeting opens
instantly instead of waiting for inference. Idempotent: cases are keyed on
(dataset, source case id) and their image sha256, so re-running skips what
is stored and predicts only what the chosen model has not seen.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

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


def default_dataset_name(spec: str, case_dataset: str) -> str:
    """Synthetic cohorts reuse case ids across seeds, so their spec is their name."""
    scheme = spec.split(":", 1)[0].strip().lower()
    if scheme == "synthetic":
        return spec.strip()
    return case_dataset or scheme


def truth_mask_of(case, shape):
    """Ground-truth mask at the image's resolution; an empty mask for normal images."""
    from pipeline.datasets import load_mask

    if case.mask_paths:
        mask = np.asarray(load_mask(case), dtype=bool)
        return mask if mask.shape == tuple(shape) else None
    if case.label == "normal":
        return np.zeros(shape, dtype=bool)
    return None


def import_case(services, case, dataset: str, card: dict | None) -> tuple[bool, str | None]:
    """Store one dataset case (and predict it with `card`); returns (created, prediction source or None).

    Same path as an upload: decoded in the sandbox within the per-file time
    limit, a DICOM de-identified with the case id as pseudonym.
    """
    from dashboard.store.cases import new_case_id
    from pipeline.io.source import read_source

    case_id = services.store.find_source(dataset, case.case_id) or new_case_id()
    prepared = services.analyzer.prepare(read_source(case.image_path, services.analyzer.limits), pseudonym=case_id)
    record = prepared.record
    spacing = case.metadata.get("spacing_mm")
    if record.spacing_mm is None and isinstance(spacing, (int, float)) and spacing > 0:
        record.spacing_mm = (float(spacing), float(spacing))
    case_id, created = services.store.add_case(
        record,
        case_id=case_id,
        extra_files=prepared.files,
        dataset=dataset,
        source_case_id=case.case_id,
        patient_id=case.patient_id,
        true_label=case.label,
        truth_mask=truth_mask_of(case, record.shape),
        metadata=case.metadata,
    )
    if card is None:
        return created, None
    _row, source = services.analyzer.predict_case(case_id, card)
    return created, source


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
            created, source = import_case(services, case, dataset, card)
            report.new += created
            report.unchanged += not created
            if source is not None:
                report.predicted += source == "model"
                report.from_cache_or_store += source != "model"
        except (ImageLoadError, DatasetError) as exc:
            report.errors.append((case.case_id, str(exc)))
    report.seconds = time.perf_counter() - started
    return report


def run(args) -> int:
    from dashboard.factory import create_app

    app = create_app()
    services = app.server.extensions["lesionlens"]
    with app.server.app_context():
        report = import_cases(services, args.spec, args.model, args.dataset_name, args.limit,
                              predict=not args.no_predict, progress=not args.quiet)
    for line in report.lines():
        print(line)
    return 1 if report.total and len(report.errors) == report.total else 0
