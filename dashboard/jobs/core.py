"""What a job is, independent of where it runs: `validate_spec` (the form -> a spec) and `plan` (its items).

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

The work itself (the item loop, progress, the summary) is in `work.py`; the
task functions that run it, locally or on Celery workers, in `tasks.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import LesionLensError

KINDS = {"rescore": "Re-score a cohort with a model", "batch": "Batch inference of a server folder or dataset spec"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"}
MAX_ITEMS = 200_000


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
        where = "" if raw.is_absolute() else f" (a relative path starts at {roots[0]}: looked for {path})"
        raise JobError(f"{text.strip()} does not exist on the server{where}")
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
