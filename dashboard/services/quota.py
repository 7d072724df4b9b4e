"""Per-user daily upload quota (`LESIONLENS_DAILY_UPLOADS`, default 1000 images per UTC day).

Why: every upload is decoded, stored and analysed on the shared CPU and kept
on the shared volume; one account (or one leaked API token) should not be
able to fill the disk or starve everyone else in a day.

Why a counter table: the quota used to count the user's `case.upload` audit
rows before each file was stored, so uploads in flight at the same moment
were not counted yet and parallel requests could pass the quota by the files
they carried. Now each file first takes a slot in the user's row of
`ll_upload_counts` for today (UTC) with one conditional UPDATE (`count =
count + 1 WHERE count < limit`): the database serialises it (PostgreSQL row
lock, SQLite write lock), so however many gunicorn workers and nodes upload
at once, at most `limit` files get a slot. A file that is then rejected or
fails to store gives its slot back (`release`); a process killed in between
keeps it (the quota errs on the side of refusing). Imports and batch jobs
(no signed-in user) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from dashboard.store.tables import UploadCountRow
from dashboard.store.upsert import insert_ignore, rows_changed
from pipeline.errors import ImageLoadError


class QuotaExceeded(ImageLoadError):
    """The user has uploaded their daily number of images."""


@dataclass(frozen=True)
class Reservation:
    """One file's slot in a user's count for a day (the day it was taken, so a release after midnight gives
    back the right one)."""

    username: str
    day: date


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def uploads_today(sessions: sessionmaker[Session], username: str) -> int:
    """Slots the user holds today: files stored, plus any being stored right now."""
    with sessions() as session:
        return session.scalar(select(UploadCountRow.count).where(
            UploadCountRow.username == username, UploadCountRow.day == utc_today())) or 0


def reserve(sessions: sessionmaker[Session], username: str | None, limit: int) -> Reservation | None:
    """Take one of today's `limit` slots for `username`, or raise QuotaExceeded; None when no user is signed in.

    One transaction: make today's row if missing (and drop the user's older
    days), then the conditional increment whose row count says whether a
    slot was free.
    """
    if username is None:
        return None
    day = utc_today()
    row = (UploadCountRow.username == username, UploadCountRow.day == day)
    with sessions() as session:
        if insert_ignore(session, UploadCountRow, {"username": username, "day": day, "count": 0}):
            session.execute(delete(UploadCountRow).where(UploadCountRow.username == username,
                                                         UploadCountRow.day < day))
        taken = rows_changed(session, update(UploadCountRow).where(*row, UploadCountRow.count < limit)
                             .values(count=UploadCountRow.count + 1))
        session.commit()
    if not taken:
        raise QuotaExceeded(f"the daily upload limit of {limit} images per user is reached; "
                            "it resets at 00:00 UTC (an admin can raise LESIONLENS_DAILY_UPLOADS)")
    return Reservation(username, day)


def release(sessions: sessionmaker[Session], reservation: Reservation | None) -> None:
    """Give back a slot whose file was not stored (rejected, or the store failed)."""
    if reservation is None:
        return
    with sessions() as session:
        session.execute(update(UploadCountRow).where(
            UploadCountRow.username == reservation.username, UploadCountRow.day == reservation.day,
            UploadCountRow.count > 0).values(count=UploadCountRow.count - 1))
        session.commit()
