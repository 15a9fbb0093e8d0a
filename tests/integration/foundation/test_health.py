"""GET /api/health tells the truth about the database, Redis and workers, and never hangs."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.redis_client import WORKER_KEY_PREFIX, get_redis


async def _get_health() -> httpx.Response:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/api/health")


async def test_healthy_stack_counts_live_workers(stack) -> None:
    # The stack lives for the session: a worker an earlier test killed may still have its
    # heartbeat key, which expires on its own. Start from no workers at all.
    stale = list(get_redis().scan_iter(match=f"{WORKER_KEY_PREFIX}*"))
    if stale:
        get_redis().delete(*stale)
    response = await _get_health()
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "db": "ok",
        "redis": "ok",
        "workers": 0,
        "disk": "ok",
        "detail": None,
    }

    get_redis().set(f"{WORKER_KEY_PREFIX}w1@test", "alive", ex=10)
    get_redis().set(f"{WORKER_KEY_PREFIX}w2@test", "alive", ex=10)
    try:
        assert (await _get_health()).json()["workers"] == 2
    finally:
        get_redis().delete(f"{WORKER_KEY_PREFIX}w1@test", f"{WORKER_KEY_PREFIX}w2@test")


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_hung_redis_answers_503_within_the_deadline(stack, silent_server, set_env) -> None:
    set_env(REDIS_URL=f"redis://127.0.0.1:{silent_server}/0")
    started = time.monotonic()
    response = await _get_health()
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["db"] == "ok"
    assert body["redis"] == "timeout"
    assert body["detail"].startswith("Redis is unreachable (timeout)"), body
    # The contract is an answer within 2 s; 3 s leaves room for a loaded machine.
    assert elapsed < 3, f"health took {elapsed:.2f}s with Redis hung"


async def test_database_down_answers_503(stack, set_env) -> None:
    set_env(DB_URL="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    response = await _get_health()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["db"].startswith("down")
    assert body["redis"] == "ok"
    assert body["detail"].startswith("the database is unreachable (down: "), body
