"""Riding out a database that is away for a while (a PostgreSQL restart or failover, a
SQLite file locked past its busy timeout).

A run's writes and reads are retried with backoff for up to :data:`RETRY_FOR_S` instead of
failing the run at the first refused connection: the run then ends as it would have, and
nothing it already did is done again by a recovery. Only errors of the connection kind are
retried (``OperationalError`` / ``InterfaceError``, the DBAPI's and SQLAlchemy's); a
constraint or a bad statement fails at once, and so does a full disk (:func:`disk_full`),
which waiting does not cure: the run fails at once with :class:`~.disk.DiskFull`, which
says which disk to free.

Every such failure is also noted (:func:`note_unreachable`), in this process and in Redis
for the others: while the database was away, no worker could renew its leases, so the
reaper leaves leases alone until :data:`QUIET_S` after the last failure anyone saw, giving
the workers a turn to renew them (it would otherwise take back runs that are alive and
run their steps a second time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from agentflow_app.redis_client import redis_or_none
from agentflow_app.services import disk
from agentflow_app.services.executions.lifecycle import LEASE_RENEW_S, LEASE_S

log = logging.getLogger(__name__)

#: How long a run waits for its database before the error stands.
RETRY_FOR_S = 120.0
#: The first pause between attempts; it doubles up to :data:`MAX_PAUSE_S`.
FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 5.0

#: After the database was last unreachable, leases are not judged for this long.
QUIET_S = LEASE_S + LEASE_RENEW_S
UNREACHABLE_KEY = "agentflow:database:unreachable"

T = TypeVar("T")


class _Sighting:
    """When this process last found the database unreachable (monotonic seconds)."""

    at = float("-inf")


def note_unreachable() -> None:
    """Record that the database was unreachable just now (here, and in Redis for all)."""
    _Sighting.at = time.monotonic()
    client = redis_or_none()
    if client is None:
        return
    try:
        client.set(UNREACHABLE_KEY, "1", ex=int(QUIET_S))
    except Exception as exc:  # Redis is away too: this process's own note still holds
        log.debug("noting the database outage in Redis failed: %s", exc)


def recently_unreachable() -> bool:
    """Whether any process found the database unreachable within :data:`QUIET_S`."""
    if time.monotonic() - _Sighting.at < QUIET_S:
        return True
    client = redis_or_none()
    if client is None:
        return False
    try:
        return bool(client.exists(UNREACHABLE_KEY))
    except Exception:  # Redis is away: judge by this process's own sightings
        return False


#: SQLite raises OperationalError for "no such table" and "database or disk is full" too;
#: only these pass by themselves. ("disk I/O error" is also what a new connection meets on
#: a full disk, as it cannot create the WAL index: :func:`disk_full` tells the two apart.)
SQLITE_TRANSIENT = ("database is locked", "database is busy", "disk i/o error")
#: What SQLite and PostgreSQL (with SQLSTATE 53100) say when a write finds no space.
DISK_FULL_WORDS = ("database or disk is full", "no space left on device", "could not extend")
PG_DISK_FULL = "53100"


def _message(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).lower()


def database_dir(engine: Engine) -> Path | None:
    """The folder of a SQLite database file (None for a server database)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    return Path(engine.url.database).resolve().parent


def disk_full(engine: Engine, error: BaseException) -> bool:
    """Whether ``error`` says the database's disk is full."""
    if not isinstance(error, (*unreachable_errors(engine), sa_exc.DBAPIError)):
        return False
    message = _message(error)
    if any(words in message for words in DISK_FULL_WORDS):
        return True
    if getattr(getattr(error, "orig", error), "sqlstate", None) == PG_DISK_FULL:
        return True
    folder = database_dir(engine)
    if folder is None or "disk i/o error" not in message:
        return False
    try:
        return disk.free_bytes(folder) < disk.LOW_BYTES
    except OSError:
        return False


def unreachable_errors(engine: Engine) -> tuple[type[BaseException], ...]:
    """The exception types that mean "the database is away", for ``engine``'s driver."""
    dbapi = engine.dialect.loaded_dbapi
    return (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DisconnectionError,
        dbapi.OperationalError,
        dbapi.InterfaceError,
    )


def is_unreachable(engine: Engine, error: BaseException) -> bool:
    """Whether ``error`` says the database is away (worth waiting for), not that the
    statement is wrong."""
    if not isinstance(error, unreachable_errors(engine)):
        return False
    if engine.dialect.name != "sqlite":
        return True
    return any(word in _message(error) for word in SQLITE_TRANSIENT)


def retrying(engine: Engine, call: Callable[[], T], what: str) -> T:
    """``call()``, again after a growing pause while the database is unreachable.

    Raises:
        DiskFull: at once, when the database's disk is full (the reserve is released so
            the caller can record the failure; see :mod:`agentflow_app.services.disk`).
        Whatever ``call`` raised last, once :data:`RETRY_FOR_S` has passed, or at once for
        an error that is not about reaching the database.
    """
    deadline = time.monotonic() + RETRY_FOR_S
    pause = FIRST_PAUSE_S
    while True:
        try:
            return call()
        except Exception as exc:
            if disk_full(engine, exc):
                raise disk.note_full(database_dir(engine)) from exc
            if not is_unreachable(engine, exc):
                raise
            note_unreachable()
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: the database is unreachable (%s); again in %.1f s", what, exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
