"""The workers' broker transport (tasks/broker.py): Redis goes away while a worker waits
for a message beside a run it holds unacknowledged, the usual state of a worker.

With kombu's own transport the worker's main process died ("Unrecoverable error") as it
closed its channel, and nothing took the runs asked for once Redis was back.
"""

from __future__ import annotations

from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
from agentflow_app.services import executions, users
from tests.fakes.slow_server import SlowServer
from tests.helpers.executions import (
    counted_workflow,
    create_workflow,
    status_of,
    wait_finished,
    wait_until,
)
from tests.helpers.outages import redis_server
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD
from tests.helpers.workers import worker_pool


def test_a_worker_waiting_for_work_beside_a_run_outlives_redis_going_away(
    tmp_path, set_env
) -> None:
    site = SlowServer()
    data_dir = tmp_path / "data"
    db_url = f"sqlite:///{data_dir / 'agentflow.db'}"
    try:
        with redis_server(tmp_path / "redis") as redis:
            set_env(AGENTFLOW_DATA_DIR=str(data_dir), DB_URL=db_url, REDIS_URL=redis.url)
            upgrade_head()
            actor = users.create_user("broker@example.com", PASSWORD)
            flow = create_workflow(actor, counted_workflow(site, delay_ms=3000))
            stack = Stack("own-redis", db_url, redis.url, data_dir)
            # One slot per process: the run's task holds its process (and its message
            # unacknowledged) to the end, while the other process leaves the worker
            # waiting on Redis for more.
            with worker_pool(stack, tmp_path, AGENTFLOW_RUNS_PER_PROCESS="1") as pool:
                worker = pool.start("w", concurrency=2)
                before = executions.start(actor, flow, {"n": 1})
                wait_until(lambda: site.count("/hit/1") == 1, "the run to call the site")

                redis.stop()
                wait_until(
                    lambda: "Connection to broker lost" in worker.log.read_text(),
                    "the worker to see its broker connection break",
                )
                redis.start()

                after = executions.start(actor, flow, {"n": 2})
                wait_finished(before, after)
                alive = worker.process.poll() is None
                log = worker.log.read_text()
    finally:
        site.close()
        get_engine().dispose()

    assert alive and "Unrecoverable error" not in log, log[-3000:]
    assert [status_of(before), status_of(after)] == ["succeeded", "succeeded"]
    assert site.count("/hit/1") == 1 and site.count("/hit/2") == 1
