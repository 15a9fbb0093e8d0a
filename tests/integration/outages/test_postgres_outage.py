"""PostgreSQL unavailable for 20 s in the middle of runs (a cluster of the test's own).

What a user sees is asserted: ``/api/health`` says the database is down meanwhile; every
run in flight ends ``succeeded`` afterwards (none is left ``running``); each step ran
once (the site counts the requests); and the event stream, reconnecting as a browser
does, shows every event once and in order.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx

from agentflow_app.api.app import create_api
from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
from agentflow_app.services.executions import execution_record
from tests.fakes.servers import serve_asgi
from tests.fakes.slow_server import SlowServer
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished, wait_until
from tests.helpers.outages import EventStream, postgres_cluster, redis_server
from tests.helpers.stack import Stack
from tests.helpers.users import new_account
from tests.helpers.workers import worker_pool

OUTAGE_S = 20.0


def _fetching(execution_id: int) -> bool:
    record = execution_record(execution_id)
    return any(s["node_id"] == "fetch" and s["status"] == "running" for s in record["steps"])


def test_runs_survive_postgres_unavailable_for_twenty_seconds(tmp_path, set_env) -> None:
    site = SlowServer()
    try:
        with (
            postgres_cluster() as cluster,
            redis_server(tmp_path / "redis") as redis,
        ):
            set_env(
                AGENTFLOW_DATA_DIR=str(tmp_path / "data"), DB_URL=cluster.url, REDIS_URL=redis.url
            )
            upgrade_head()
            stack = Stack("own-postgres", cluster.url, redis.url, tmp_path / "data")
            account = new_account("pg-outage")
            workflow_id = create_workflow(account.actor, counted_workflow(site, delay_ms=4000))
            with worker_pool(stack, tmp_path) as pool, serve_asgi(create_api()) as api:
                pool.start("w", concurrency=4)
                headers = account.headers()
                ids = []
                for n in range(4):
                    answer = httpx.post(
                        f"{api}/api/workflows/{workflow_id}/execute",
                        json={"inputs": {"n": n}},
                        headers=headers,
                        timeout=30,
                    )
                    assert answer.status_code == 202, answer.text
                    ids.append(answer.json()["execution_id"])
                streams = {i: EventStream(api, headers, i) for i in ids}
                wait_until(lambda: all(_fetching(i) for i in ids), "4 runs fetching")

                cluster.stop()
                stopped = time.monotonic()
                health_during = httpx.get(f"{api}/api/health", timeout=10)
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
                cluster.start()

                wait_finished(*ids)
                seen = {i: stream.wait() for i, stream in streams.items()}
                records = {i: execution_record(i) for i in ids}
    finally:
        site.close()
        get_engine().dispose()

    assert health_during.status_code == 503
    assert health_during.json()["db"].startswith("down"), health_during.json()
    for n, execution_id in enumerate(ids):
        record = records[execution_id]
        assert record["status"] == "succeeded", (execution_id, record["error"])
        assert site.count(f"/hit/{n}") == 1, f"the fetch step of run {n} ran twice"
        assert [s["attempts"] for s in record["steps"]] == [1, 1, 1, 1], record["steps"]
        events = seen[execution_id]
        seqs = [int(event["id"]) for event in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{execution_id}: every event once: {seqs}"
        kinds = Counter(event["event"] for event in events)
        assert kinds["step.started"] == 4 and kinds["step.succeeded"] == 4, kinds
        assert kinds["execution.started"] == 1, "the run was not started again"
        assert events[-1]["event"] == "execution.succeeded"
