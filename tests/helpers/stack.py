"""The two places AgentFlow's data can live in a test: the embedded defaults, or the
PostgreSQL and Redis this machine runs. Each is made fresh per test session and removed
after: a throwaway database, a throwaway Redis db number.

When the suite runs in parallel processes (pytest-xdist), the second and later ones use a
``redis-server`` of their own (the same binary) instead of 127.0.0.1:6379: Redis pub/sub
ignores db numbers, so two processes on one server would hear each other's
``agentflow:execution:<id>`` events whenever their databases' ids meet (conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from agentflow_app import db
from agentflow_app.embedded_redis import EmbeddedRedis
from agentflow_app.settings import get_settings, reset_settings
from tests.helpers.databases import postgres_database

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
MACHINE_REDIS = "redis://127.0.0.1:6379"
#: Where this test process's services Redis is, when it is not :data:`MACHINE_REDIS`.
SERVICES_REDIS_ENV = "AGENTFLOW_TEST_SERVICES_REDIS"

#: The db numbers this process holds now (:func:`services_redis`).
_HELD: set[int] = set()


def services_redis_server() -> str:
    """The Redis server of this test process's "postgres" runs, without a db number."""
    return os.environ.get(SERVICES_REDIS_ENV) or MACHINE_REDIS


@dataclass
class Stack:
    kind: str  # "embedded" | "postgres"
    db_url: str
    redis_url: str
    data_dir: Path


def apply_env(**values: str | None) -> None:
    """Set (or unset, for None) environment variables and forget cached settings/engines."""
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()
    db.engine_for.cache_clear()


def services_available() -> str | None:
    """None when PostgreSQL and Redis answer, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=2):
            pass
    except psycopg.Error as exc:
        return f"PostgreSQL at 127.0.0.1:5432 does not answer ({exc})"
    server = services_redis_server()
    try:
        redis.Redis.from_url(server, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {server} does not answer ({exc})"
    return None


@contextlib.contextmanager
def services_redis() -> Iterator[str]:
    """A Redis db number that no other block of this process holds, and that another run on
    the machine is unlikely to hold (chosen at random); flushed before and after."""
    number = secrets.choice([n for n in range(4, 16) if n not in _HELD])
    _HELD.add(number)
    url = f"{services_redis_server()}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        _HELD.discard(number)


@contextlib.contextmanager
def make_stack(kind: str, data_dir: Path) -> Iterator[Stack]:
    """Point the settings at a fresh stack of ``kind`` and migrate it."""
    from agentflow_app.migrate import upgrade_head

    saved = {k: os.environ.get(k) for k in ("DB_URL", "REDIS_URL", "AGENTFLOW_DATA_DIR")}
    with contextlib.ExitStack() as stack:
        if kind == "postgres":
            db_url = stack.enter_context(postgres_database())
            redis_url = stack.enter_context(services_redis())
            apply_env(AGENTFLOW_DATA_DIR=str(data_dir), DB_URL=db_url, REDIS_URL=redis_url)
        else:
            apply_env(AGENTFLOW_DATA_DIR=str(data_dir), DB_URL=None, REDIS_URL=None)
            embedded = EmbeddedRedis(get_settings())
            redis_url = embedded.start()
            stack.callback(embedded.stop)
            db_url = get_settings().database_url
        upgrade_head()
        try:
            yield Stack(kind, db_url, redis_url, data_dir)
        finally:
            db.get_engine().dispose()
            apply_env(**saved)
