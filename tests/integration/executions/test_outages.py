"""Which database errors a run waits out, with errors raised by the real drivers: a refused
PostgreSQL connection and a locked SQLite file are waited for; a wrong statement fails at
the first attempt (a run must not spend two minutes retrying a bug), and so does a full
database, as :class:`DiskFull` naming the disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from agentflow_app.services import disk
from agentflow_app.services.executions.outages import disk_full, is_unreachable, retrying
from tests.helpers.outages import free_port


def _error(engine, statement: str) -> BaseException:
    with pytest.raises(Exception) as raised, engine.connect() as conn:
        conn.execute(text(statement))
    return raised.value


def test_a_refused_postgres_connection_is_waited_for_a_bad_statement_is_not() -> None:
    away = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
        connect_args={"connect_timeout": 2},
    )
    assert is_unreachable(away, _error(away, "SELECT 1"))
    here = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        assert not is_unreachable(here, _error(here, "SELECT * FROM no_such_table"))
    finally:
        here.dispose()


def test_a_locked_sqlite_file_is_waited_for_a_missing_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    assert not is_unreachable(engine, _error(engine, "SELECT * FROM no_such_table"))
    engine.dispose()  # a new connection must read the schema, under the lock below
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert is_unreachable(engine, _error(engine, "SELECT * FROM t"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_retrying_gives_up_at_once_on_a_wrong_statement(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    attempts = []

    def wrong() -> None:
        attempts.append(1)
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no such table"):
        retrying(engine, wrong, "a test")
    assert len(attempts) == 1
    engine.dispose()


def test_a_full_database_fails_at_once_naming_the_disk_and_releases_the_reserve(
    tmp_path: Path, set_env
) -> None:
    """SQLite's own "database or disk is full" (a page limit stands in for the disk, the
    tmpfs case is ``tests/integration/outages/test_disk_full.py``) is not waited out."""
    set_env(AGENTFLOW_DATA_DIR=str(tmp_path))
    assert disk.status() == "ok" and (tmp_path / disk.RESERVE_NAME).exists()
    engine = create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v BLOB)"))
    attempts = []

    def fill() -> None:
        attempts.append(1)
        with engine.begin() as conn:
            conn.execute(text("PRAGMA max_page_count = 8"))
            for _ in range(50):
                conn.execute(text("INSERT INTO t VALUES (randomblob(4000))"))

    with pytest.raises(disk.DiskFull) as raised:
        retrying(engine, fill, "a test")
    engine.dispose()
    assert len(attempts) == 1, "a full disk is not retried"
    assert str(raised.value) == f"the data disk is full ({tmp_path}): free space and run again"
    cause = raised.value.__cause__
    assert "database or disk is full" in str(cause)
    assert disk_full(engine, cause) and not is_unreachable(engine, cause)
    assert not (tmp_path / disk.RESERVE_NAME).exists(), "released for the failure records"
