"""Database engine and sessions for services, tasks and the CLI.

One engine per process and URL. SQLite gets WAL and a busy timeout so the web process, the
worker and the CLI can share the embedded database file; on PostgreSQL a pooled connection
that sat idle is pinged before it is handed out, so a restarted server costs one retry,
not an error page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlmodel import Session, create_engine

from agentflow_app.errors import ConfigError
from agentflow_app.settings import get_settings


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """Create (once) the engine for ``url``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DB_URL is not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            max_overflow=_overflow(10),
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url, pool_size=10, max_overflow=_overflow(20), connect_args={"connect_timeout": 5}
    )
    _ping_when_idle(engine)
    return engine


def _overflow(base: int) -> int:
    """Connections past the pool's size: ``base``, and one per run a worker process runs
    at once. A run's store holds a connection from its first write to its end (for its
    prepared statements), and the runs of a process share a few database threads: a run
    waiting for a connection would hold up the runs that could give one back."""
    return base + get_settings().agentflow_runs_per_process


#: A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before handing it out, unless it was in use a moment ago.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: five round trips of a ``/run``
    (three in the web process, two in the worker), each a query for PostgreSQL too. A
    connection checked in within :data:`PING_AFTER_IDLE_S` was working then; one idle for
    longer may have been closed by a restart or a proxy, and is pinged. A dead one is
    replaced by the pool (up to three tries), as with ``pool_pre_ping``.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                raise DisconnectionError(f"a pooled connection was closed: {err}") from err
            raise


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


def reading(engine: Engine | None = None) -> Connection:
    """A connection for reads that need no transaction of their own.

    On PostgreSQL it is in autocommit: a plain ``connect()`` sends ``BEGIN`` before the
    first statement and ``ROLLBACK`` when the connection goes back to the pool, two round
    trips around reads that, at READ COMMITTED, each take their own snapshot anyway. On
    SQLite the transaction is what keeps a few reads on one snapshot, and costs no round
    trip, so it stays.
    """
    engine = engine or get_engine()
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


@contextmanager
def driver_connection(engine: Engine, *, autocommit: bool = False) -> Iterator[Any]:
    """A pooled connection's own psycopg connection, for statements sent by hand in one
    round trip (a run's insert, its claim, its record): prepared, pipelined, past Core.

    Args:
        autocommit: each statement is its own transaction (reads, a single insert): no
            ``BEGIN``/``COMMIT`` to send. Client-side only, and set back before the
            connection returns to the pool.

    A connection that failed midway is discarded, not pooled again (its flags with it).
    """
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        driver.autocommit = autocommit
        yield driver
        driver.autocommit = False
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()


@lru_cache(maxsize=32)
def statement_text(statement: Any, dialect: Dialect) -> str:
    """The SQL of a module-level Core ``statement`` for ``dialect``, compiled once: what a
    :func:`driver_connection` (or a ``reading()`` connection's own driver) is sent, with
    the driver's own placeholders (``%(name)s`` for psycopg)."""
    return str(statement.compile(dialect=dialect))


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits when the block ends cleanly and rolls back otherwise."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres() -> bool:
    return get_engine().dialect.name == "postgresql"


#: The largest id a row can have (SQLite's and PostgreSQL's 64-bit integers): a larger
#: one names nothing, and drivers cannot even bind it (OverflowError).
MAX_ID = 2**63 - 1


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: datetime | None) -> datetime | None:
    """A timestamp as stored, with its time zone: SQLite gives them back naive, and every
    timestamp AgentFlow stores is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
