"""Redis stopped for 20 s in the middle of runs (SQLite or PostgreSQL, and a redis-server
of the test's own).

What a user sees is asserted: the runs in flight finish, the runs asked for during the
outage are accepted (202) and all start when Redis is back, ``/api/health`` says Redis is
down meanwhile, each live event stream goes on through the outage without breaking (the
runs in flight are seen ending before Redis returns) and shows every event once and in
order, and no step ran twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
from agentflow_app.services.executions import execution_record
from agentflow_app.services.executions.reaper import NUDGE_TTL_S
from tests.fakes.servers import serve_asgi
from tests.fakes.slow_server import SlowServer
from tests.helpers.databases import postgres_database
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished, wait_until
from tests.helpers.outages import EventStream, redis_server
from tests.helpers.stack import Stack, services_available
from tests.helpers.users import new_account
from tests.helpers.workers import worker_pool

OUTAGE_S = 20.0


def _execute(api: str, headers: dict[str, str], workflow_id: int, n: int) -> int:
    answer = httpx.post(
        f"{api}/api/workflows/{workflow_id}/execute",
        json={"inputs": {"n": n}},
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["execution_id"]


def _health(api: str) -> dict:
    return httpx.get(f"{api}/api/health", timeout=10).json()


def _fetching(execution_id: int) -> bool:
    record = execution_record(execution_id)
    return any(s["node_id"] == "fetch" and s["status"] == "running" for s in record["steps"])


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database the runs write to: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'agentflow.db'}"
        return
    if why := services_available():
        pytest.skip(f"skipping the PostgreSQL run: {why}")
    with postgres_database() as url:
        yield url


def test_runs_survive_redis_stopped_for_twenty_seconds(tmp_path, set_env, db_url) -> None:
    site = SlowServer()
    data_dir = tmp_path / "data"
    try:
        with redis_server(tmp_path / "redis") as redis:
            set_env(AGENTFLOW_DATA_DIR=str(data_dir), DB_URL=db_url, REDIS_URL=redis.url)
            upgrade_head()
            stack = Stack("own-redis", db_url, redis.url, data_dir)
            account = new_account("outage")
            workflow_id = create_workflow(account.actor, counted_workflow(site, delay_ms=5000))
            with worker_pool(stack, tmp_path) as pool, serve_asgi(create_api()) as api:
                pool.start("w", concurrency=4)
                headers = account.headers()
                in_flight = [_execute(api, headers, workflow_id, n) for n in range(4)]
                streams = {i: EventStream(api, headers, i) for i in in_flight}
                wait_until(lambda: all(_fetching(i) for i in in_flight), "4 runs fetching")
                assert _health(api)["redis"] == "ok"

                redis.stop()
                stopped = time.monotonic()
                health_during = _health(api)
                asked_during = [_execute(api, headers, workflow_id, n) for n in (10, 11)]
                streams |= {i: EventStream(api, headers, i) for i in asked_during}
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
                health_late = _health(api)
                ended_in_outage = [i for i in in_flight if streams[i].done.is_set()]
                redis.start()

                wait_finished(*in_flight, *asked_during)
                seen = {i: stream.wait() for i, stream in streams.items()}
                wait_until(lambda: _health(api)["status"] == "ok", "health to recover")
    finally:
        site.close()
        get_engine().dispose()

    assert health_during["redis"].startswith("down"), health_during
    assert health_during["status"] == "degraded"
    assert health_late["redis"].startswith("down"), health_late
    # The live streams went on through the outage (from the database), never broken:
    assert ended_in_outage == in_flight, "the runs in flight were seen ending during the outage"
    assert {i: s.reconnects for i, s in streams.items()} == dict.fromkeys(streams, 0)
    # Every run asked for during the outage starts once Redis is back, not one per nudge.
    started = [datetime.fromisoformat(execution_record(i)["started_at"]) for i in asked_during]
    assert abs((started[1] - started[0]).total_seconds()) < NUDGE_TTL_S, started
    for execution_id, n in zip([*in_flight, *asked_during], [0, 1, 2, 3, 10, 11], strict=True):
        record = execution_record(execution_id)
        assert record["status"] == "succeeded", (execution_id, record["error"])
        assert site.count(f"/hit/{n}") == 1, f"the fetch step of run {n} ran twice"
        events = seen[execution_id]
        seqs = [int(event["id"]) for event in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{execution_id}: every event once: {seqs}"
        kinds = Counter(event["event"] for event in events)
        assert kinds["step.started"] == 4 and kinds["step.succeeded"] == 4, kinds
        assert events[0]["event"] == "execution.queued"
        assert events[-1]["event"] == "execution.succeeded"
