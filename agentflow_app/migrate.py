"""Schema migrations: the one way tables come to exist (Alembic owns the schema)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from agentflow_app.db import get_engine
from agentflow_app.errors import ConfigError

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logging"] = False
    return config


def upgrade_head() -> None:
    """Bring the configured database to the newest schema.

    Raises:
        ConfigError: when the database cannot be reached or written.
    """
    engine = get_engine()
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{reason}; check DB_URL"
        ) from None


@contextmanager
def sqlite_rebuilds(bind: Connection, revision: str) -> Iterator[None]:
    """Foreign keys off around a revision's table rebuilds on SQLite (elsewhere: nothing).

    Batch mode rebuilds a SQLite table by copying it, dropping the original and renaming
    the copy; with foreign keys on (``db.py`` turns them on), the DROP first deletes every
    row that references the table through ON DELETE CASCADE: rebuilding ``users`` would
    empty workflows, credentials and API keys, rebuilding ``executions`` their steps and
    events. The pragma is ignored inside a transaction, so what earlier revisions of the
    run wrote is committed first; the rebuild runs in a transaction of its own and is
    committed only when no foreign key is left pointing at nothing.

    Raises:
        RuntimeError: the revision left dangling references (nothing of it is kept).
    """
    if bind.dialect.name != "sqlite":
        yield
        return
    raw = bind.connection.dbapi_connection
    raw.commit()  # the earlier revisions of this run, so the pragma below takes effect
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN")
    try:
        yield
        if broken := bind.exec_driver_sql("PRAGMA foreign_key_check").all():
            raise RuntimeError(f"migration {revision} left dangling foreign keys: {broken[:5]}")
        raw.commit()
    finally:
        raw.rollback()  # nothing left after the commit; everything if the rebuild failed
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")  # the connection goes back to the pool
