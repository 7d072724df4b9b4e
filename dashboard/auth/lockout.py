"""Login back-off, per username and per client address, kept in the database so every worker agrees.

Policy (AuthConfig defaults): failures are counted over the last 60 minutes.
After 5 failures for one username (since its last successful login or an
admin's unlock), or 20 failures from one address (whatever the username),
further attempts are refused for 30 s after the latest failure, doubling with
each further failure up to 15 minutes. While refused, the password is not even
checked (no CPU for scrypt, no oracle) and the attempt does not extend the wait.

Usernames are stored as an HMAC under the server secret, so a password typed
into the username box never lands in the database in clear.

Atomic: `reserve` decides and records an attempt in one transaction under a
lock every worker and node shares (PostgreSQL: a transaction-scoped advisory
lock; SQLite: BEGIN IMMEDIATE, the database write lock). The attempt is
written as a failure *before* the password is checked and turned into a
success afterwards if it was one. Deciding first and recording after the
scrypt check (as before) let 40 parallel guesses all see "4 failures so far"
and get 11-12 real checks instead of 5.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime, timedelta

from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, update

from dashboard.settings import AuthConfig
from dashboard.auth.tables import LoginAttemptRow
from dashboard.store.tables import utcnow

FAILED, OK, UNLOCK = "failed", "ok", "unlock"
KEEP = timedelta(days=2)
LOCK_KEY = 0x4C4C_4C4F  # "LLLO": the advisory lock key of login reservations (PostgreSQL)


@dataclass
class Ticket:
    """The outcome of `reserve`: wait > 0 means refused unchecked; else `attempt` is the recorded row."""

    wait: float
    attempt: int | None = None


class Throttle:
    def __init__(self, sessions, config: AuthConfig, secret: str) -> None:
        self.sessions = sessions
        self.config = config
        self._secret = secret.encode()

    def user_key(self, username: str) -> str:
        name = (username or "").strip().lower()[:256]
        return hmac.new(self._secret, f"login-user:{name}".encode(), hashlib.sha256).hexdigest()[:32]

    def _delay(self, failures: int, threshold: int) -> float:
        if failures < threshold:
            return 0.0
        return min(self.config.base_delay_s * 2 ** (failures - threshold), self.config.max_delay_s)

    def wait_seconds(self, username: str, ip: str, now: datetime | None = None) -> float:
        """Seconds until a login for (username, ip) may be tried; 0 when allowed now (read only)."""
        with self.sessions() as session:
            return self._wait(session, username, ip, now or utcnow())

    def _wait(self, session, username: str, ip: str, now: datetime) -> float:
        since = now - timedelta(minutes=self.config.window_minutes)
        key, ip = self.user_key(username), (ip or "unknown")[:64]
        reset = session.scalar(select(func.max(LoginAttemptRow.at)).where(
            LoginAttemptRow.user_key == key, LoginAttemptRow.outcome.in_((OK, UNLOCK)), LoginAttemptRow.at >= since))
        start = max(since, reset) if reset is not None else since
        user_count, user_last = session.execute(select(func.count(), func.max(LoginAttemptRow.at)).where(
            LoginAttemptRow.user_key == key, LoginAttemptRow.outcome == FAILED, LoginAttemptRow.at >= start)).one()
        ip_count, ip_last = session.execute(select(func.count(), func.max(LoginAttemptRow.at)).where(
            LoginAttemptRow.ip == ip, LoginAttemptRow.outcome == FAILED, LoginAttemptRow.at >= since)).one()
        waits = [0.0]
        if user_last is not None:
            waits.append((user_last + timedelta(seconds=self._delay(user_count, self.config.user_failures))
                          - now).total_seconds())
        if ip_last is not None:
            waits.append((ip_last + timedelta(seconds=self._delay(ip_count, self.config.ip_failures))
                          - now).total_seconds())
        return max(waits)

    @staticmethod
    def _lock(session) -> None:
        """Serialise reservations across threads, workers and nodes until this transaction ends."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        elif dialect == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))  # first statement of the session: takes the write lock

    def reserve(self, username: str, ip: str, now: datetime | None = None) -> Ticket:
        """Decide and, when allowed, record the attempt as failed, atomically (see the module doc)."""
        with self.sessions() as session:
            self._lock(session)
            now = now or utcnow()
            wait = self._wait(session, username, ip, now)
            if wait > 0:
                session.rollback()
                return Ticket(wait)
            row = LoginAttemptRow(at=now, user_key=self.user_key(username), ip=(ip or "unknown")[:64],
                                  outcome=FAILED)
            session.add(row)
            if random.random() < 0.02:  # keep the table small without a cron job
                session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < now - KEEP))
            session.commit()
            return Ticket(0.0, row.id)

    def settle(self, ticket: Ticket, ok: bool) -> None:
        """After the password check: a success turns the reserved failure into "ok" (resets the count)."""
        if ok and ticket.attempt is not None:
            with self.sessions() as session:
                session.execute(update(LoginAttemptRow).where(LoginAttemptRow.id == ticket.attempt)
                                .values(outcome=OK, at=utcnow()))
                session.commit()

    def record(self, username: str, ip: str, outcome: str, now: datetime | None = None) -> None:
        with self.sessions() as session:
            session.add(LoginAttemptRow(at=now or utcnow(), user_key=self.user_key(username),
                                        ip=(ip or "unknown")[:64], outcome=outcome))
            if outcome == FAILED and random.random() < 0.02:  # keep the table small without a cron job
                session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < utcnow() - KEEP))
            session.commit()

    def failed(self, username: str, ip: str, now: datetime | None = None) -> None:
        self.record(username, ip, FAILED, now)

    def succeeded(self, username: str, ip: str, now: datetime | None = None) -> None:
        self.record(username, ip, OK, now)

    def unlock(self, username: str, now: datetime | None = None) -> None:
        """Clear a username's back-off (the per-address count stays)."""
        self.record(username, "admin-unlock", UNLOCK, now)
