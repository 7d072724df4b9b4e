"""Per-user daily upload quota (`LESIONLENS_DAILY_UPLOADS`, default 1000 images per UTC day).

Why: every upload is decoded, stored and analysed on the shared CPU and kept
on the shared volume; one account (or one leaked API token) should not be
able to fill the disk or starve everyone else in a day. The count is the
user's `case.upload` audit rows since 00:00 UTC, so it is the same on every
worker and node and needs no table of its own. It is checked before each
file is stored; uploads in flight at the same moment are not yet counted, so
parallel requests can pass the quota by at most the files they carry.
Imports and batch jobs (no signed-in user) are not counted.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

from sqlalchemy import func, select

from pipeline.errors import ImageLoadError


class QuotaExceeded(ImageLoadError):
    """The user has uploaded their daily number of images."""


def uploads_today(sessions, username: str) -> int:
    from dashboard.auth.tables import AuditRow

    midnight = datetime.combine(datetime.now(timezone.utc).date(), time.min)
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditRow).where(
            AuditRow.actor == username, AuditRow.action == "case.upload", AuditRow.at >= midnight)) or 0


def check(sessions, username: str | None, limit: int) -> None:
    if username is None:
        return
    if uploads_today(sessions, username) >= limit:
        raise QuotaExceeded(f"the daily upload limit of {limit} images per user is reached; "
                            "it resets at 00:00 UTC (an admin can raise LESIONLENS_DAILY_UPLOADS)")
