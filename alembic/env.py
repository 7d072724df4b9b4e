"""Alembic environment: the app's own metadata and database URL.

Run two ways. Programmatically (`dashboard.store.migrate.upgrade`, used by
`python -m dashboard ensure-admin` and by app startup) the caller passes an
open connection in `config.attributes["connection"]`, already holding the
migration lock. From the `alembic` command line the URL comes from
DATABASE_URL (default: the SQLite file under LESIONLENS_HOME), exactly as
the app computes it.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from dashboard.store.migrate import target_metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    from dashboard.settings import Settings
    from dashboard.store.db import normalize_url

    context.configure(url=normalize_url(Settings.from_env().database_url), target_metadata=target_metadata(),
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    from dashboard.settings import Settings
    from dashboard.store.db import make_engine

    engine = make_engine(Settings.from_env().database_url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
