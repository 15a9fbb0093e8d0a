"""The PostgreSQL pool: a connection the server closed while it sat idle is replaced, and
one that failed under statements sent by hand is not pooled again."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from agentflow_app import db
from tests.helpers.databases import PG_ADMIN, postgres_database


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


@contextlib.contextmanager
def _pooled_connection_killed() -> Iterator[tuple[Engine, int]]:
    """A pool whose one connection the server just closed, and that connection's pid."""
    with postgres_database() as url:
        engine = db.engine_for(url)
        first = _backend_pid(engine)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        try:
            yield engine, first
        finally:
            engine.dispose()


def test_an_idle_connection_closed_by_the_server_is_replaced_not_an_error() -> None:
    with _pooled_connection_killed() as (engine, first):
        time.sleep(db.PING_AFTER_IDLE_S + 0.1)  # it sits idle long enough to be pinged

        second = _backend_pid(engine)  # the ping found it dead: a new connection answers

        assert second != first


def test_a_connection_in_use_a_moment_ago_is_handed_out_without_a_ping() -> None:
    with _pooled_connection_killed() as (engine, first):
        # Closed behind the pool's back less than PING_AFTER_IDLE_S after its use: handed
        # out as it is, so the first statement finds it dead (as any statement on a
        # connection that breaks while in use would), and the pool replaces it for the next.
        with pytest.raises(DBAPIError) as raised:
            _backend_pid(engine)
        assert raised.value.connection_invalidated
        assert _backend_pid(engine) != first


def test_a_hand_driven_connection_goes_back_as_the_pool_gave_it_or_not_at_all() -> None:
    with postgres_database() as url:
        engine = db.engine_for(url)
        try:
            with db.driver_connection(engine, autocommit=True) as driver:
                first = driver.execute("SELECT pg_backend_pid()").fetchone()[0]
            with engine.connect() as conn:  # the same connection, in a transaction again
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
                assert conn.connection.driver_connection.autocommit is False
                conn.rollback()

            with (
                pytest.raises(psycopg.errors.DivisionByZero),
                db.driver_connection(engine) as driver,
            ):
                driver.execute("SELECT 1 / 0")
            assert _backend_pid(engine) != first  # the failed one was dropped
        finally:
            engine.dispose()
