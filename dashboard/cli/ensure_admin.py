"""`python -m dashboard ensure-admin`: make the store ready before the first worker starts.

Brings the schema to the migrations' head, records the active model (the
configured default, or the newest valid bundle) so every worker agrees from
the first request, and creates the first admin account if there is no active
admin: the username is LESIONLENS_ADMIN_USER (default `admin`), the password
LESIONLENS_ADMIN_PASSWORD when set, else a random one printed once. There is
no default password anywhere in the code. Re-running changes nothing once an
admin exists.
"""

from __future__ import annotations

from dashboard.auth.roles import ADMIN


def add_arguments(parser) -> None:
    parser.set_defaults(run=run)


def ensure_first_admin(auth, username: str = "admin", password: str = "") -> list[str]:
    """Create the first admin if none is active; returns the lines to print.

    `username` and `password` come from settings (LESIONLENS_ADMIN_USER and
    LESIONLENS_ADMIN_PASSWORD); a blank password means a random one, printed once.
    """
    from dashboard.auth.passwords import PasswordPolicyError, generate_password
    from dashboard.cli.users import actor

    admins = [u for u in auth.store.list() if u.role == ADMIN and u.active]
    if admins:
        return [f"admin account(s): {', '.join(u.username for u in admins)} "
                "(manage accounts with `python -m dashboard users …`)"]
    username = (username.strip() or "admin").lower()
    existing = auth.store.get(username)
    if existing is not None:
        return [f"warning: no active admin, and {username!r} exists as {existing.role}"
                f"{'' if existing.active else ' (removed)'}; set LESIONLENS_ADMIN_USER to a new name and re-run, "
                f"or promote someone: python -m dashboard users set-role NAME admin"]
    from_env = bool(password)
    if not from_env:
        password = generate_password()
    try:
        auth.store.add(username, ADMIN, password)
    except PasswordPolicyError as exc:
        return [f"warning: LESIONLENS_ADMIN_PASSWORD rejected ({exc}); no admin was created"]
    auth.audit.record("user.bootstrap", actor=actor(), target=username, detail={"via": "ensure-admin",
                                                                                "password": "env" if from_env else "generated"})
    lines = [f"created the first admin account: {username}"]
    if from_env:
        lines.append(f"sign in at /login as {username} with the password from LESIONLENS_ADMIN_PASSWORD")
    else:
        lines += [f"sign in at /login as {username} with this password (shown once, not stored anywhere):",
                  f"    {password}",
                  "then add accounts on the Admin page or with `python -m dashboard users add NAME --role ROLE`"]
    return lines


def run(_args) -> int:
    from dashboard.factory import create_app
    from dashboard.services.registry import ACTIVE_MODEL_KEY

    _migrate()  # once, here, whatever LESIONLENS_MIGRATE says: web workers may only verify
    app = create_app()
    services = app.server.extensions["lesionlens"]
    swept = services.store.sweep()
    if any(swept.values()):
        print(f"store sweep: removed {swept['temp_files']} temp file(s) and {swept['orphan_cases']} case "
              "folder(s) without a database row (left by a crash)")
    auth = app.server.extensions["lesionlens_auth"]
    name = services.models.active_name()
    if name and services.store.get_setting(ACTIVE_MODEL_KEY) is None:
        services.models.activate(name)
    print(f"store ready at {services.settings.database_url.split('@')[-1]} "
          f"({services.store.count()} cases); active model: {name or 'none available'}")
    auth.store.prune_sessions()
    for line in ensure_first_admin(auth, services.settings.admin_user, services.settings.admin_password):
        print(line)
    return 0


def _migrate() -> None:
    """Bring the schema to the Alembic head under the migration lock (see dashboard/store/migrate.py)."""
    from dashboard.settings import Settings
    from dashboard.store.db import make_engine
    from dashboard.store.migrate import upgrade

    engine = make_engine(Settings.from_env().database_url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before != after:
        print(f"database schema upgraded from {before or 'empty'} to {after}")
