"""Accounts, browser sessions and API tokens in the database (shared by every worker).

Nothing secret is stored in clear: passwords as scrypt hashes, session and API
tokens as sha256 of 256-bit random values (a fast hash is enough for values
that cannot be guessed). Role and active flag are read on every request, so a
role change or a removal takes effect at once in every worker.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from dashboard.auth import passwords
from dashboard.settings import AuthConfig
from dashboard.auth.tables import ApiTokenRow, SessionRow, UserRow
from dashboard.auth.roles import ADMIN, ROLES
from dashboard.store.tables import utcnow
from pipeline.errors import LesionLensError

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
TOKEN_PREFIX = "llt_"
LAST_SEEN_EVERY = timedelta(seconds=60)
DISABLED_HASH = "!"  # not a werkzeug hash: verify_password refuses it  # write a session's last_seen at most this often


class AccountError(LesionLensError):
    """A user-management request that cannot be done (unknown user, bad role, last admin…)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool = True
    created: datetime | None = None
    last_login: datetime | None = None

    @classmethod
    def of(cls, row: UserRow) -> "User":
        return cls(row.id, row.username, row.role, row.active, row.created, row.last_login)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def clean_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not USERNAME.match(name):
        raise AccountError("a username is 2–40 characters: lower-case letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


class AuthStore:
    def __init__(self, sessions, config: AuthConfig | None = None) -> None:
        self.sessions = sessions  # SQLAlchemy sessionmaker (the case store's)
        self.config = config or AuthConfig()

    # ----------------------------------------------------------------- users
    def _row(self, session, username: str) -> UserRow:
        row = session.scalar(select(UserRow).where(UserRow.username == clean_username(username)))
        if row is None:
            raise AccountError(f"no user {username!r}")
        return row

    def get(self, username: str) -> User | None:
        try:
            name = clean_username(username)
        except AccountError:
            return None
        with self.sessions() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == name))
            return None if row is None else User.of(row)

    def get_by_id(self, user_id: int) -> User | None:
        with self.sessions() as session:
            row = session.get(UserRow, user_id)
            return None if row is None else User.of(row)

    def list(self) -> list[User]:
        with self.sessions() as session:
            return [User.of(r) for r in session.scalars(select(UserRow).order_by(UserRow.username))]

    def count_active_admins(self, session=None) -> int:
        query = select(func.count()).select_from(UserRow).where(UserRow.role == ADMIN, UserRow.active.is_(True))
        if session is not None:
            return session.scalar(query)
        with self.sessions() as own:
            return own.scalar(query)

    def add(self, username: str, role: str, password: str) -> User:
        name = clean_username(username)
        check_role(role)
        passwords.check_policy(password, name)
        with self.sessions() as session:
            existing = session.scalar(select(UserRow).where(UserRow.username == name))
            if existing is not None:
                state = "exists" if existing.active else "was removed (names are not reused, so the audit log stays unambiguous)"
                raise AccountError(f"user {name!r} {state}")
            row = UserRow(username=name, role=role, password_hash=passwords.hash_password(password), active=True)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise AccountError(f"user {name!r} exists") from None
            return User.of(row)

    def set_role(self, username: str, role: str) -> tuple[str, str]:
        """Returns (old role, new role). Refuses to demote the last active admin."""
        check_role(role)
        with self.sessions() as session:
            row = self._row(session, username)
            if not row.active:
                raise AccountError(f"user {row.username!r} was removed")
            old = row.role
            if old == ADMIN and role != ADMIN and self.count_active_admins(session) <= 1:
                raise AccountError("cannot demote the last admin; make someone else admin first")
            row.role = role
            session.commit()
            return old, role

    def set_password(self, username: str, password: str) -> None:
        """New password; ends the user's sessions (API tokens stay: revoke them separately)."""
        with self.sessions() as session:
            row = self._row(session, username)
            if not row.active:
                raise AccountError(f"user {row.username!r} was removed")
            passwords.check_policy(password, row.username)
            row.password_hash = passwords.hash_password(password)
            row.password_changed = utcnow()
            session.commit()
            self.revoke_sessions(row.id)

    def remove(self, username: str) -> None:
        """Deactivate: no login, sessions and tokens revoked. The row (and name) stays for the audit log."""
        with self.sessions() as session:
            row = self._row(session, username)
            if not row.active:
                raise AccountError(f"user {row.username!r} was already removed")
            if row.role == ADMIN and self.count_active_admins(session) <= 1:
                raise AccountError("cannot remove the last admin; make someone else admin first")
            row.active = False
            row.password_hash = DISABLED_HASH  # matches no password
            session.commit()
            user_id = row.id
        self.revoke_sessions(user_id)
        self.revoke_tokens(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user whose password matches, else None (same work either way)."""
        try:
            name = clean_username(username)
        except AccountError:
            name = None
        row = None
        if name:
            with self.sessions() as session:
                row = session.scalar(select(UserRow).where(UserRow.username == name))
        usable = row is not None and row.active
        if not passwords.verify_password(row.password_hash if usable else None, password):
            return None
        with self.sessions() as session:
            session.execute(update(UserRow).where(UserRow.id == row.id).values(last_login=utcnow()))
            session.commit()
        return User.of(row)

    # -------------------------------------------------------------- sessions
    def create_session(self, user: User, ip: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.sessions() as session:
            session.add(SessionRow(id=sha256_hex(token), user_id=user.id, created=now, last_seen=now,
                                   expires=now + timedelta(hours=self.config.session_hours), ip=(ip or "")[:64]))
            session.commit()
        return token

    def session_user(self, token: str | None) -> User | None:
        """The user of a live session token (not revoked, not expired, not idle, account active)."""
        if not token or len(token) > 128:
            return None
        idle = timedelta(minutes=self.config.idle_minutes)
        return self._live_user(SessionRow, SessionRow.id == sha256_hex(token), "last_seen",
                               lambda row, now: row.expires <= now or row.last_seen + idle <= now)

    def end_session(self, token: str | None) -> None:
        if not token:
            return
        with self.sessions() as session:
            session.execute(update(SessionRow).where(SessionRow.id == sha256_hex(token), SessionRow.revoked.is_(None))
                            .values(revoked=utcnow()))
            session.commit()

    def revoke_sessions(self, user_id: int) -> int:
        with self.sessions() as session:
            result = session.execute(update(SessionRow).where(SessionRow.user_id == user_id,
                                                              SessionRow.revoked.is_(None)).values(revoked=utcnow()))
            session.commit()
            return result.rowcount or 0

    def prune_sessions(self, older_than: timedelta = timedelta(days=7)) -> None:
        from sqlalchemy import delete

        with self.sessions() as session:
            session.execute(delete(SessionRow).where(SessionRow.expires < utcnow() - older_than))
            session.commit()

    # ---------------------------------------------------------------- tokens
    def create_token(self, username: str, label: str = "") -> tuple[int, str]:
        """(token id, token). The token is shown once; only its sha256 is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.sessions() as session:
            user = self._row(session, username)
            if not user.active:
                raise AccountError(f"user {user.username!r} was removed")
            row = ApiTokenRow(user_id=user.id, label=(label or "")[:80], token_hash=sha256_hex(token),
                              prefix=token[:10])
            session.add(row)
            session.commit()
            return row.id, token

    def list_tokens(self, username: str) -> list[dict]:
        with self.sessions() as session:
            user = self._row(session, username)
            rows = session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user.id).order_by(ApiTokenRow.id))
            return [{"id": r.id, "label": r.label, "prefix": r.prefix, "created": r.created, "last_used": r.last_used,
                     "revoked": r.revoked} for r in rows]

    def revoke_tokens(self, username: str, token_id: int | None = None) -> int:
        """Revoke one token of the user (by id) or all of them; returns how many were live."""
        with self.sessions() as session:
            user = self._row(session, username)
            query = update(ApiTokenRow).where(ApiTokenRow.user_id == user.id, ApiTokenRow.revoked.is_(None))
            if token_id is not None:
                query = query.where(ApiTokenRow.id == token_id)
            result = session.execute(query.values(revoked=utcnow()))
            session.commit()
            return result.rowcount or 0

    def token_user(self, token: str | None) -> User | None:
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        return self._live_user(ApiTokenRow, ApiTokenRow.token_hash == sha256_hex(token), "last_used",
                               lambda _row, _now: False)  # a token lives until it is revoked

    def _live_user(self, table: type[SessionRow] | type[ApiTokenRow], where: Any, seen: str,
                   expired: Callable[[Any, datetime], bool]) -> User | None:
        """The user of the credential row `where` picks (a session or an API token), or None when there
        is none, it is revoked or `expired(row, now)`, or the account was removed. The row's `seen`
        time is written at most every LAST_SEEN_EVERY, so a busy client does not write on each request."""
        now = utcnow()
        with self.sessions() as session:
            found = session.execute(
                select(table, UserRow).join(UserRow, UserRow.id == table.user_id).where(where)
            ).first()
            if found is None:
                return None
            row, user = found
            if row.revoked is not None or expired(row, now) or not user.active:
                return None
            last = getattr(row, seen)
            if last is None or now - last >= LAST_SEEN_EVERY:
                session.execute(update(table).where(table.id == row.id).values({seen: now}))
                session.commit()
            return User.of(user)
