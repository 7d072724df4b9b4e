"""The work of a job, independent of where it runs: `validate_spec` and `run_job`.

Two kinds:

* `rescore`: every case of a cohort (the Cohort page's URL query, e.g.
  `?dataset=upload&age=40-70`; empty = all cases) gets a prediction from the
  chosen model; cases that already have one from that model version keep it.
* `batch`: a server-side source is stored and predicted, as the import CLI
  would: `folder:DIR` (every image file in DIR, recursively; cases keyed by
  a hash of the relative path, never the file name) or a dataset spec
  (`busbra:DIR`, `busi:DIR`, `manifest:FILE.csv`, `synthetic:N[:SEED]`).
  Paths must lie under LESIONLENS_JOB_ROOTS (default: <home>/imports and the
  shared data folder): the page must not become a way to read any file the
  server can.

`run_job` takes a Services container (the runner builds one per job
process, so its PredictorPool loads the model once for all items), reports
after every item through the JobStore and stops between items when a cancel
was requested. Item errors are counted and the first few kept (by index or
dataset case id, never file names); the job goes on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import BundleError, DatasetError, ImageLoadError, LesionLensError

log = logging.getLogger(__name__)

KINDS = {"rescore": "Re-score a cohort with a model", "batch": "Batch inference of a server folder or dataset spec"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"}
MAX_ITEMS = 200_000
KEPT_ERRORS = 20
BATCH_DATASET = "batch"


class JobError(LesionLensError):
    """A job spec that cannot run (unknown model, path outside the allowed folders, ...)."""


def allowed_path(text: str, roots: tuple[Path, ...]) -> Path:
    """`text` as a path inside one of `roots` (relative paths are taken from the first root)."""
    raw = Path(text.strip()).expanduser()
    path = (raw if raw.is_absolute() else roots[0] / raw).resolve()
    if not any(path == root or path.is_relative_to(root) for root in roots):
        raise JobError(f"{text.strip()} is outside the folders jobs may read ({', '.join(map(str, roots))}; "
                       "see LESIONLENS_JOB_ROOTS)")
    if not path.exists():
        raise JobError(f"{text.strip()} does not exist on the server")
    return path


def validate_spec(raw: dict[str, Any], settings, models) -> dict[str, Any]:
    """A clean, JSON-safe spec from the form, or JobError with what to fix."""
    from pipeline.datasets import LOADERS

    kind = str(raw.get("kind") or "")
    if kind not in KINDS:
        raise JobError(f"job kind must be one of {', '.join(KINDS)}")
    name = str(raw.get("model") or "").strip()
    card = models.card_by_name(name) if name else models.active_card()
    if card is None:
        raise JobError(f"model {name!r} is not a valid bundle" if name else "no model is available")
    limit = raw.get("limit")
    if limit in (None, ""):
        limit = None
    else:
        try:
            limit = int(limit)
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf
            raise JobError("limit must be a whole number of items") from None
        if not 1 <= limit <= MAX_ITEMS:
            raise JobError(f"limit must be between 1 and {MAX_ITEMS}")
    spec: dict[str, Any] = {"kind": kind, "model": card.name, "limit": limit}
    if kind == "rescore":
        query = str(raw.get("filter") or "").strip()
        if query and not query.startswith("?"):
            query = "?" + query
        spec["filter"] = query
        return spec
    source = str(raw.get("source") or "").strip()
    scheme, _, rest = source.partition(":")
    scheme = scheme.lower()
    if scheme == "folder":
        if not allowed_path(rest, settings.job_roots).is_dir():
            raise JobError(f"{rest.strip()} is not a folder")
    elif scheme == "synthetic":
        pass
    elif scheme in LOADERS and rest.strip():
        allowed_path(rest, settings.job_roots)
    else:
        raise JobError("source must be folder:DIR or a dataset spec (busbra:DIR, busi:DIR, manifest:FILE.csv, "
                       "synthetic:N[:SEED])")
    spec["source"] = f"{scheme}:{rest.strip()}"
    spec["dataset"] = str(raw.get("dataset") or "").strip()[:80] or None
    return spec


# --------------------------------------------------------------------------- planning
def _rescore_items(services, spec) -> list[str]:
    from dashboard.cohort.filters import CohortFilter
    from dashboard.cohort.queries import apply_filter, joined
    from dashboard.store.tables import CaseRow

    cohort = CohortFilter.from_query(spec.get("filter") or "")
    query = apply_filter(joined(services.models.active_identity(), (CaseRow.id,)), cohort).order_by(CaseRow.created)
    with services.store.sessions() as session:
        return list(session.scalars(query))


def _folder_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def plan(services, spec: dict[str, Any]) -> list[Any]:
    """The items of the job: case ids (rescore), file paths (folder) or dataset Cases."""
    if spec["kind"] == "rescore":
        items: list[Any] = _rescore_items(services, spec)
    else:
        scheme, _, rest = spec["source"].partition(":")
        if scheme == "folder":
            items = _folder_files(allowed_path(rest, services.settings.job_roots))
        else:
            from pipeline.datasets import load_cases

            items = load_cases(spec["source"])
    return items[: spec["limit"]] if spec.get("limit") else items


# --------------------------------------------------------------------------- running
def _store_item(services, spec, root: Path | None, item) -> str:
    """Store one batch item through the ingest service (as an upload or an import would); returns its case id."""
    if root is not None:
        return services.ingest.server_file(item, root, spec.get("dataset") or BATCH_DATASET)
    from dashboard.services.ingest import default_dataset_name

    dataset = spec.get("dataset") or default_dataset_name(spec["source"], item.dataset)
    return services.ingest.dataset_case(item, dataset)[0]


def run_job(services, jobs, job_id: str, spec: dict[str, Any],
            on_item: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """Run job `job_id` to its end (done / cancelled / failed); returns the summary stored in its row."""
    started = time.perf_counter()
    card = services.models.card_by_name(spec["model"])
    if card is None:
        jobs.finish(job_id, "failed", f"model {spec['model']!r} is not available")
        raise BundleError(f"model {spec['model']!r} is not available")
    try:
        items = plan(services, spec)
    except (DatasetError, JobError) as exc:
        jobs.finish(job_id, "failed", str(exc))
        raise
    jobs.start(job_id, total=len(items))
    log.info("job %s: %s of %d items with %s %s", job_id, spec["kind"], len(items), card.name, card.version)
    root = None
    if spec["kind"] == "batch" and spec["source"].startswith("folder:"):
        root = allowed_path(spec["source"].partition(":")[2], services.settings.job_roots)
    done = failed = predicted = 0
    errors: list[tuple[str, str]] = []
    status = "done"
    for index, item in enumerate(items):
        label = f"item {index + 1}"
        try:
            if spec["kind"] == "rescore":
                label = case_id = item
            else:
                if root is None:
                    label = item.case_id  # a dataset case id; a server file is named by its index only
                case_id = _store_item(services, spec, root, item)
            _row, source = services.analyzer.predict_case(case_id, card)
            predicted += source == "model"
        except (ImageLoadError, DatasetError, BundleError, KeyError) as exc:
            failed += 1
            if len(errors) < KEPT_ERRORS:
                errors.append((str(label), str(exc) if not isinstance(exc, KeyError) else "case no longer stored"))
        except Exception:  # noqa: BLE001 - one bad item never ends the job
            log.exception("job %s: item %d failed", job_id, index + 1)
            failed += 1
            if len(errors) < KEPT_ERRORS:
                errors.append((str(label), "server error (see the log)"))
        done += 1
        if on_item is not None:
            on_item(done, failed, len(items))
        if jobs.progress(job_id, done, failed, f"{done} of {len(items)} · {failed} failed"):
            status = "cancelled"
            break
    summary = {"items": len(items), "done": done, "failed": failed, "predicted_by_model": predicted,
               "errors": errors, "seconds": round(time.perf_counter() - started, 1)}
    message = (f"{'cancelled after' if status == 'cancelled' else 'finished'} {done} of {len(items)} items; "
               f"{failed} failed; {predicted} predicted by the model, the rest were stored or cached already")
    jobs.finish(job_id, status, message, summary)
    log.info("job %s %s: %d/%d items, %d failed, %.1f s", job_id, status, done, len(items), failed,
             summary["seconds"])
    return {"status": status, **summary}
