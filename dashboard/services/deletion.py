"""Deleting a case everywhere it lives, with an audit row: the one path for the Case page and the CLI.

Why a service and not a store method: a case lives in three places, its
rows, its image files (both `store/deletion.py`) and the prediction cache
(Redis or the FileSystemCache), whose entries hold the summary and the mask
and probability PNGs keyed by the image's content and the model, not by the
case. They are dropped for every model that predicted the case and every
bundle present, so no image-derived data of a deleted case stays in the
cache. The deletion waits for a prediction of the same case running in
another worker (the per-case lock of `inference.process_claim`), so that
prediction cannot write masks after the folder is gone.

Who may delete: admins. The Case page's callback checks the role
(`auth.require`) behind the request guard; the CLI is for whoever can open
the database (the OS account running the service), recorded as
`cli:<os user>` like `users`.

The audit row (`case.delete`, target = the pseudonymous case id) carries
counts, the dataset name and the reason only: never the source case id (it
can be a file name), dates, metadata or the image's hash. Retention writes
one `retention.run` row per run, dry or not, and one `case.delete` per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from dashboard.services.inference import cache_content_key, process_claim
from dashboard.store.deletion import DeletedCase, cases_older_than, delete_case

# record(action, target, detail): AuditLog.record with the actor filled in, or dashboard.auth.audit
Recorder = Callable[[str, str | None, dict], None]
REASONS = ("admin", "retention")


def purge_cached_predictions(cache, models, deleted: DeletedCase) -> int:
    """Drop the prediction cache's entries of a deleted case's image; returns how many keys were tried."""
    identities = set(deleted.predicted_by)
    if models is not None:
        identities |= {c.identity for c in models.valid_bundles()}
    contents = {deleted.content_sha256, cache_content_key(deleted.content_sha256, deleted.metadata)}
    keys = {cache.prediction_key(content, name, version) for content in contents for name, version in identities}
    for key in keys:
        cache.delete(key)
    return len(keys)


def remove_case(
    services, case_id: str, record: Recorder, reason: str = "admin", extra: dict | None = None
) -> DeletedCase | None:
    """Delete one case (rows, files, cached predictions) and write its `case.delete` audit row.

    `services` needs `.store`, `.cache`, `.models` and `.settings` (the app's
    Services, or the CLI's small stand-in). None when the case does not exist.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown deletion reason {reason!r}")
    wait_s = float(services.settings.file_time_limit_s) + 120.0  # a running prediction may finish first
    with process_claim(services.settings.home / "locks", case_id, wait_s):
        deleted = delete_case(services.store, case_id)
    if deleted is None:
        return None
    purge_cached_predictions(services.cache, services.models, deleted)
    record("case.delete", deleted.case_id, {"reason": reason, **deleted.audit_detail(), **(extra or {})})
    return deleted


@dataclass
class RetentionReport:
    days: float
    datasets: tuple[str, ...]
    applied: bool
    candidates: list[str] = field(default_factory=list)
    deleted: int = 0
    bytes: int = 0


def run_retention(
    services, days: float, record: Recorder, datasets: Iterable[str] = (), apply: bool = False
) -> RetentionReport:
    """Cases stored more than `days` days ago: listed (dry run, the default) or deleted (`apply`)."""
    chosen = tuple(sorted({d for d in datasets if d}))
    report = RetentionReport(
        days=float(days), datasets=chosen, applied=apply, candidates=cases_older_than(services.store, days, chosen)
    )
    if apply:
        for case_id in report.candidates:
            deleted = remove_case(services, case_id, record, reason="retention", extra={"older_than_days": days})
            if deleted is not None:  # deleted meanwhile by someone else: nothing to count
                report.deleted += 1
                report.bytes += deleted.bytes
    record(
        "retention.run",
        None,
        {
            "older_than_days": days,
            "datasets": list(chosen),
            "dry_run": not apply,
            "matched": len(report.candidates),
            "deleted": report.deleted,
        },
    )
    return report
