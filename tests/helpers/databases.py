"""Throwaway databases for the execution store, the CLI and the crash test.

Import the fixtures explicitly (``from tests.helpers.databases import database``).
``database`` is parametrized over SQLite (a file in a temp dir) and PostgreSQL (a fresh
``agentflow_test_<random>`` database on 127.0.0.1:5432, dropped afterwards); both are
migrated with ``alembic upgrade head`` and become the process's ``DB_URL``.
``counting_server`` is a local HTTP server that counts requests per path.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import select

from agentflow_app.db import engine_for, get_engine
from agentflow_app.migrate import alembic_config, upgrade_head
from agentflow_app.models.execution import ExecutionEvent
from agentflow_app.settings import reset_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def downgrade_to(revision: str) -> None:
    """Take the process's database back to ``revision`` by the migrations' own downgrades,
    in one transaction, as ``upgrade_head`` goes up."""
    with get_engine().begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty PostgreSQL database; its SQLAlchemy URL while the block runs."""
    name = f"agentflow_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        engine_for.cache_clear()  # no cached engine outlives its database
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def use_database(url: str, data_dir: Path) -> Iterator[str]:
    """Point settings (DB_URL, AGENTFLOW_DATA_DIR) at ``url`` and migrate it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DB_URL", url)
        patch.setenv("AGENTFLOW_DATA_DIR", str(data_dir))
        reset_settings()
        engine_for.cache_clear()
        try:
            upgrade_head()
            yield url
        finally:
            engine_for(url).dispose()
            engine_for.cache_clear()
    reset_settings()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database of each kind, shared by the tests of one module."""
    data_dir = tmp_path_factory.mktemp("data")
    if request.param == "sqlite":
        with use_database(f"sqlite:///{data_dir / 'agentflow.db'}", data_dir) as url:
            yield url
    else:
        with postgres_database() as pg_url, use_database(pg_url, data_dir) as url:
            yield url


class CountingServer:
    """A local HTTP server counting requests per path (the outside world of a workflow).

    ``GET|POST /block`` hangs on its first request until :meth:`release` (the test kills
    the process meanwhile); ``/missing`` answers 404; any other path answers 200 with
    ``{"path", "hit"}``.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.released = threading.Event()
        counting = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?")[0]
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with counting.lock:
                    counting.hits[path] += 1
                    hit = counting.hits[path]
                if path == "/block" and hit == 1:
                    counting.released.wait(120)
                status = 404 if path == "/missing" else 200
                body = json.dumps({"path": path, "hit": hit}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client was killed while we waited
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> CountingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def event_seqs(execution_id: int) -> list[int]:
    """The seqs of an execution's stored events, in order (read from the database)."""
    with get_engine().connect() as conn:
        return list(
            conn.execute(
                select(ExecutionEvent.seq)
                .where(ExecutionEvent.execution_id == execution_id)
                .order_by(ExecutionEvent.seq)
            ).scalars()
        )
