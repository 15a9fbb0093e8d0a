"""REST throughput of an earlier checkout and of this one, measured in the same run.

Issue 20 asks for "≥ 3 × today's REST throughput with 16 clients calling /run", today
being what a client got when it was filed (commit ``00f8fba``, the day before ``/run``
existed): to get a run's answer a client then queued it (``POST …/execute``), followed
its events (``GET …/events``, Server-Sent Events, until the terminal one) and read the
record (``GET /api/workflows/executions/{id}``). This script starts both checkouts side
by side, each with its own PostgreSQL database, Redis db number, API (granian, one
worker) and AgentFlow worker (prefork 2), both calling the same fake Anthropic server
(bench/execution.py's, its own process), and measures them in alternation, round by
round, through REST only:

- ``before``: the earlier checkout, clients making those three requests per run;
- ``three``: this checkout, the same three requests;
- ``run``: this checkout, one ``POST /api/workflows/{id}/run`` per run;
- ``floor``: the same run written by hand (bench/floor_api.py's ``POST /run`` over
  bench/floor.py's task, granian and a prefork-2 worker too): what any implementation
  could answer through HTTP here, so how far 3 × ``before`` is reachable at all.

Each figure is N clients (16), each with its own connection, over M runs (400); it
prints runs/s and the CPU per run of the web process and of the worker (pool included),
and refuses to print a figure if any run did not succeed with the fake LLM's answer. An
event stream that ends before the run's end is followed again from its last event, as
a browser's EventSource does, and counted.
The earlier checkout is made with ``git worktree`` under ``.peers/`` (ignored) on first
use and runs on this checkout's virtualenv, without the two accelerators added since
(hiredis and uvloop: redis-py and granian would use them for the earlier code too).

    .venv/bin/python bench/before_after.py [--before 00f8fba] [--rounds 3] [--runs 400]
                                           [--clients 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.execution import (  # noqa: E402
    fake_llm,
    process,
    three_nodes,
    wait_workers,
    worker_cpu_s,
)
from bench.latency import wait_api  # noqa: E402
from tests.helpers.databases import postgres_database  # noqa: E402
from tests.helpers.stack import MACHINE_REDIS  # noqa: E402

PASSWORD = "benchmark pw 1"
ANSWER = "Hi there"
#: Run in each checkout, with its own code: migrate, make the user and the workflow.
SETUP = """
import json, sys
from agentflow_app.migrate import upgrade_head
from agentflow_app.services import users, workflows
upgrade_head()
actor = users.create_user(sys.argv[1], sys.argv[2])
print(workflows.create(actor, json.loads(sys.argv[3])).id)
"""


def checkout(ref: str) -> Path:
    """A worktree of ``ref`` under .peers/ (made once, kept)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    path = ROOT / ".peers" / f"agentflow-{sha}"
    if not (path / "agentflow_app").is_dir():
        path.parent.mkdir(exist_ok=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-f", str(path), sha], cwd=ROOT, check=True
        )
    return path


#: Installed since the earlier checkout to speed the stack up: redis-py and granian pick
#: them up by themselves, so the earlier code would get faster without a change of its own.
ACCELERATORS = ("hiredis", "uvloop")


def hiding_accelerators(code: Path) -> Path:
    """A folder whose sitecustomize.py makes :data:`ACCELERATORS` fail to import in the
    processes that have it on PYTHONPATH."""
    folder = code.parent / f"{code.name}-site"
    folder.mkdir(exist_ok=True)
    lines = ["import sys", *(f"sys.modules[{name!r}] = None" for name in ACCELERATORS)]
    (folder / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    return folder


def worker_argv(app: str, queue: str, name: str) -> list[str]:
    """A quiet Celery worker of 2 prefork processes, as each side runs one."""
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue, "-n", f"{name}@%h"]
    argv += ["--concurrency", "2", "--loglevel", "WARNING", "--without-gossip"]
    return [*argv, "--without-mingle", "--without-heartbeat"]


def web_argv(port: int, *app: str) -> list[str]:
    """granian with one worker serving the ASGI ``app`` arguments on ``port``."""
    argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
    return [*argv, "--port", str(port), "--workers", "1", "--log-level", "warning", *app]


class Side:
    """One checkout's API and worker, with its workflow and a token."""

    def __init__(
        self, name: str, code: Path, port: int, redis_db: int, llm_url: str, tmp: Path, path: str
    ) -> None:
        self.name, self.code, self.port, self.path = name, code, port, path
        self.redis_db, self.llm_url, self.tmp = redis_db, llm_url, tmp
        self.api = f"http://127.0.0.1:{port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Side]:
        with contextlib.ExitStack() as stack:
            db_url = stack.enter_context(postgres_database())
            redis_url = f"{MACHINE_REDIS}/{self.redis_db}"
            env = dict(os.environ) | {
                "PYTHONPATH": self.path,
                "DB_URL": db_url,
                "REDIS_URL": redis_url,
                "AGENTFLOW_DATA_DIR": str(self.tmp / self.name),
                "ANTHROPIC_BASE_URL": self.llm_url,
                "ANTHROPIC_API_KEY": "sk-ant-bench",
                "AGENTFLOW_MAX_CONCURRENT_EXECUTIONS": "1000",
            }
            email = f"bench-{secrets.token_hex(3)}@example.com"
            made = subprocess.run(
                [sys.executable, "-c", SETUP, email, PASSWORD, json.dumps(three_nodes())],
                cwd=self.code, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if made.returncode != 0:
                raise SystemExit(f"{self.name}: setting up failed: {made.stderr[-2000:]}")
            self.workflow_id = int(made.stdout.strip().splitlines()[-1])
            worker = worker_argv("tasks.celery_app", "agentflow", self.name)
            web = web_argv(self.port, "--factory", "agentflow_app.api.app:create_api")
            self.worker = stack.enter_context(
                process(worker, env, self.tmp / f"{self.name}-worker.log", cwd=self.code)
            )
            self.web = stack.enter_context(
                process(web, env, self.tmp / f"{self.name}-api.log", cwd=self.code)
            )
            wait_workers(redis_url, 1)
            wait_api(self.api, self.tmp / f"{self.name}-api.log")
            token = httpx.post(
                f"{self.api}/api/auth/token", json={"email": email, "password": PASSWORD}
            ).json()["access_token"]
            self.headers = {"Authorization": f"Bearer {token}"}
            yield self


class FloorSide:
    """bench/floor_api.py and bench/floor.py's worker, with a database and Redis db of
    their own: the :class:`Side` the floor's requests go to."""

    name, workflow_id = "floor", 0

    def __init__(self, port: int, redis_db: int, llm_url: str, tmp: Path) -> None:
        self.port, self.redis_db, self.llm_url, self.tmp = port, redis_db, llm_url, tmp
        self.api = f"http://127.0.0.1:{port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[FloorSide]:
        from bench import floor

        with contextlib.ExitStack() as stack:
            db_url = stack.enter_context(postgres_database())
            floor.create_schema(db_url)
            token = secrets.token_urlsafe(24)
            env = dict(os.environ) | {
                "PYTHONPATH": str(ROOT),
                "DB_URL": db_url,
                "BENCH_REDIS_URL": f"{MACHINE_REDIS}/{self.redis_db}",
                "FLOOR_TOKEN": token,
                "ANTHROPIC_BASE_URL": self.llm_url,
                "ANTHROPIC_API_KEY": "sk-ant-bench",
            }
            worker = worker_argv("bench.floor:floor_app", floor.FLOOR_QUEUE, self.name)
            web = web_argv(self.port, "bench.floor_api:app")
            self.worker = stack.enter_context(process(worker, env, self.tmp / "floor-worker.log"))
            self.web = stack.enter_context(process(web, env, self.tmp / "floor-api.log"))
            wait_api(self.api, self.tmp / "floor-api.log")
            self.headers = {"Authorization": f"Bearer {token}"}
            yield self


def floor_request(client: httpx.Client, _workflow_id: int) -> None:
    answer = client.post("/run", json={"inputs": {}})
    if answer.status_code != 200:
        raise SystemExit(f"the floor's /run answered {answer.status_code}: {answer.text[:300]}")
    check(answer.json(), "the floor's /run")


def check(record: dict, how: str) -> None:
    if record.get("status") != "succeeded" or record.get("outputs", {}).get("answer") != ANSWER:
        raise SystemExit(f"a run through {how} did not succeed: {json.dumps(record)[:300]}")


def one_request(client: httpx.Client, workflow_id: int) -> None:
    answer = client.post(f"/api/workflows/{workflow_id}/run", json={"inputs": {}, "timeout_s": 60})
    if answer.status_code != 200:
        raise SystemExit(f"/run answered {answer.status_code}: {answer.text[:300]}")
    check(answer.json(), "/run")


def three_requests(client: httpx.Client, workflow_id: int) -> None:
    queued = client.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {}})
    if queued.status_code != 202:
        raise SystemExit(f"execute answered {queued.status_code}: {queued.text[:300]}")
    execution_id = queued.json()["execution_id"]
    url = f"/api/workflows/executions/{execution_id}"
    seen, ended = 0, False
    while not ended:  # as EventSource does, go on from the last event if the stream drops
        with client.stream("GET", f"{url}/events", params={"after_seq": seen}) as events:
            for line in events.iter_lines():  # the stream ends after the terminal event
                if line.startswith("id:"):
                    seen = int(line[3:])
                elif line.startswith("data:") and json.loads(line[5:])["type"] in TERMINAL:
                    ended = True
                    break
        if not ended:
            with RECONNECTS_LOCK:
                RECONNECTS[0] += 1
    check(client.get(url).json(), "execute, events, record")


RECONNECTS, RECONNECTS_LOCK = [0], threading.Lock()
TERMINAL = {"execution.succeeded", "execution.failed", "execution.cancelled"}


def load(side: Side, call: Callable, runs: int, clients: int) -> dict[str, float]:
    left = iter(range(runs))
    lock = threading.Lock()

    def one_client() -> None:
        with httpx.Client(base_url=side.api, headers=side.headers, timeout=60) as client:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                call(client, side.workflow_id)

    web0, worker0 = worker_cpu_s(side.web.pid), worker_cpu_s(side.worker.pid)
    RECONNECTS[0] = 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for finished in [pool.submit(one_client) for _ in range(clients)]:
            finished.result()
    rate = runs / (time.perf_counter() - t0)
    return {
        "rate": rate,
        "web": (worker_cpu_s(side.web.pid) - web0) * 1000 / runs,
        "worker": (worker_cpu_s(side.worker.pid) - worker0) * 1000 / runs,
        "reconnects": RECONNECTS[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="00f8fba", help="the earlier checkout (git ref)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--port", type=int, default=4700)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="agentflow-before-after-"))
    old = checkout(args.before)
    first = 4 + secrets.randbelow(10)
    with (
        fake_llm(tmp / "fake-llm.log") as llm_url,
        Side(
            "before",
            old,
            args.port,
            first,
            llm_url,
            tmp,
            os.pathsep.join([str(hiding_accelerators(old)), str(old)]),
        ).running() as before,
        Side("now", ROOT, args.port + 1, first + 1, llm_url, tmp, str(ROOT)).running() as now,
        FloorSide(args.port + 2, first + 2, llm_url, tmp).running() as floor,
    ):
        cases = [
            ("before: execute, events, record", before, three_requests),
            ("now: execute, events, record", now, three_requests),
            ("now: /run", now, one_request),
            ("floor: hand-written /run", floor, floor_request),
        ]
        for _name, side, call in cases:  # warm-up: connections, caches, imports
            load(side, call, 50, args.clients)
        print(f"{args.clients} clients, {args.runs} runs per figure; before = {args.before} "
              f"({old.name}); {os.cpu_count()} CPUs", flush=True)  # fmt: skip
        results: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
        for number in range(args.rounds):
            order = cases if number % 2 == 0 else cases[::-1]
            for name, side, call in order:
                figure = load(side, call, args.runs, args.clients)
                results[name].append(figure)
                print(f"round {number + 1}: {name:<34} {figure['rate']:6.1f} runs/s, CPU per "
                      f"run: web {figure['web']:.2f} ms, worker {figure['worker']:.2f} ms"
                      + (f"; {figure['reconnects']} event streams ended early and were "
                         "followed again" if figure["reconnects"] else ""),
                      flush=True)  # fmt: skip
    print()
    base = statistics.median(f["rate"] for f in results[cases[0][0]])
    for name, figures in results.items():
        rate = statistics.median(f["rate"] for f in figures)
        web = statistics.median(f["web"] for f in figures)
        worker = statistics.median(f["worker"] for f in figures)
        print(f"{name:<34} median {rate:6.1f} runs/s ({rate / base:.2f} × before), CPU per run "
              f"web {web:.2f} ms, worker {worker:.2f} ms")  # fmt: skip
    print(f"logs: {tmp}")


if __name__ == "__main__":
    main()
