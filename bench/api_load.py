"""Read latency of the REST API idle and under load, in the same run (issue 14, point 6).

One user owns 20 workflows and a finished execution. Four read routes are timed, one
request at a time from a keep-alive client, with the API in its own uvicorn process:

* ``GET /api/workflows`` (the workflows page),
* ``GET /api/workflows/{id}`` (what the editor loads),
* ``GET /api/workflows/executions/{id}`` (a run's record),
* ``GET /api/workflows/{id}/executions`` (the run history).

First idle (the workers started, nothing queued); then the same user queues 1,000 runs of
trigger → http.request (a local site answering after ``--step-ms``) → template → output
while 2 workers (2 pool processes each) work through them, and the routes are timed
again while the backlog lasts. Target: loaded p95 ≤ 3 × idle p95 for every route.

    .venv/bin/python bench/api_load.py [--db postgres|sqlite] [--requests 200] [--queued 1000]

``--db postgres`` uses 127.0.0.1:5432 and Redis 127.0.0.1:6379 (a throwaway database and
db number); ``sqlite`` the embedded defaults (SQLite file + the bundled redis-server).
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from bench.execution import percentile, process  # noqa: E402

PASSWORD = "benchmark pw 1"
WORKFLOWS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what: str, guard_s: float = 90) -> None:
    deadline = time.monotonic() + guard_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.2)


def api_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def paced_workflow(site: str, step_ms: int, index: int) -> dict:
    def node(node_id: str, type_: str, **config) -> dict:
        return {"id": node_id, "type": type_, "position": {"x": 0, "y": 0},
                "data": {"label": node_id, "config": config}}  # fmt: skip

    nodes = [
        node("start", "trigger.manual", inputs=[{"name": "n", "type": "integer"}]),
        node(
            "fetch",
            "http.request",
            url=site + "/hit/{{ inputs.n }}",
            query={"delay_ms": str(step_ms)},
            retries=0,
        ),
        node("shape", "transform.template", template="{{ nodes.fetch.output.body.hit }}"),
        node("out", "output", fields={"text": "{{ nodes.shape.output.text }}"}),
    ]
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": f"Load {index}", "nodes": nodes, "edges": edges}


def measure(client: httpx.Client, paths: dict[str, str], requests: int) -> dict[str, list[float]]:
    """Milliseconds per request, per route, the routes interleaved so each sees the same
    moments of the load."""
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(requests):
        for name, path in paths.items():
            t0 = time.perf_counter()
            answer = client.get(path)
            timings[name].append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:200]}")
    return timings


def backlog(stack_db_ids: list[int]) -> int:
    from sqlalchemy import func, select

    from agentflow_app.db import get_engine
    from agentflow_app.models import Execution

    table = Execution.__table__
    with get_engine().connect() as conn:
        return conn.execute(
            select(func.count()).where(
                table.c.id.in_(stack_db_ids), table.c.status.in_(["queued", "running"])
            )
        ).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--requests", type=int, default=200, help="per route and phase")
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--step-ms", type=int, default=100, help="the http step's wait")
    args = parser.parse_args()

    from agentflow_app.services import executions, users, workflows
    from tests.fakes.slow_server import SlowServer
    from tests.helpers.stack import make_stack

    tmp = Path(tempfile.mkdtemp(prefix="agentflow-bench-"))
    kind = "postgres" if args.db == "postgres" else "embedded"
    site = SlowServer()
    with make_stack(kind, tmp) as stack:
        env = dict(os.environ) | {
            "REDIS_URL": stack.redis_url,
            "DB_URL": stack.db_url,
            "AGENTFLOW_DATA_DIR": str(stack.data_dir),
            "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
        }
        actor = users.create_user(f"bench-{secrets.token_hex(3)}@example.com", PASSWORD)
        ids = [
            workflows.create(actor, paced_workflow(site.url, args.step_ms, i)).id
            for i in range(WORKFLOWS)
        ]
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        uvicorn = [sys.executable, "-m", "uvicorn", "agentflow_app.api.app:create_api"]
        uvicorn += ["--factory", "--port", str(port), "--log-level", "warning"]
        worker = [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q"]
        worker += ["agentflow", "--loglevel", "WARNING", "--concurrency", "2"]
        worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with (
            process(uvicorn, env, tmp / "api.log"),
            process([*worker, "-n", "w1@%h"], env, tmp / "worker1.log"),
            process([*worker, "-n", "w2@%h"], env, tmp / "worker2.log"),
        ):
            broker = redis.Redis.from_url(stack.redis_url)
            wait_for(lambda: api_up(api), "the API")
            wait_for(lambda: len(list(broker.scan_iter("agentflow:worker:*"))) >= 2, "2 workers")
            token = httpx.post(
                f"{api}/api/auth/token", json={"email": actor.email, "password": PASSWORD}
            ).json()["access_token"]
            first = executions.start(actor, ids[0], {"n": 0})
            wait_for(lambda: backlog([first]) == 0, "the first run")
            paths = {
                "GET /api/workflows": "/api/workflows",
                "GET /api/workflows/{id}": f"/api/workflows/{ids[0]}",
                "GET /api/workflows/executions/{id}": f"/api/workflows/executions/{first}",
                "GET /api/workflows/{id}/executions": f"/api/workflows/{ids[0]}/executions",
            }
            print(f"stack: {stack.kind}; API in uvicorn (1 process); 2 workers × 2 processes;")
            print(f"  {os.cpu_count()} CPUs; {args.requests} requests per route and phase")
            with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}) as c:
                measure(c, paths, 20)  # warm-up
                idle = measure(c, paths, args.requests)
                t0 = time.perf_counter()
                with ThreadPoolExecutor(4) as pool:
                    queued = list(
                        pool.map(
                            lambda n: executions.start(actor, ids[n % WORKFLOWS], {"n": n}),
                            range(args.queued),
                        )
                    )
                took = time.perf_counter() - t0
                before = backlog(queued)
                loaded = measure(c, paths, args.requests)
                after = backlog(queued)
            print(f"  queued {args.queued} runs in {took:.1f} s; backlog {before} → {after}")
            if after < args.queued // 2:
                print("  WARNING: the backlog drained during the loaded phase; raise --step-ms")

    print(f"{'route':<38} {'idle p50':>9} {'idle p95':>9} {'load p50':>9} {'load p95':>9} ratio")
    missed = []
    for name in paths:
        i50, i95 = statistics.median(idle[name]), percentile(idle[name], 95)
        l50, l95 = statistics.median(loaded[name]), percentile(loaded[name], 95)
        if l95 > 3 * i95:
            missed.append(name)
        print(f"{name:<38} {i50:8.1f}  {i95:8.1f}  {l50:8.1f}  {l95:8.1f}  {l95 / i95:4.2f}")
    verdict = "met" if not missed else f"MISSED by {', '.join(missed)}"
    print(f"target loaded p95 ≤ 3 × idle p95 (ms): {verdict}")
    site.close()


if __name__ == "__main__":
    main()
