"""Real Celery workers, accounts, workflows and a local HTTP server for execution tests.

Workers are ``python -m celery -A tasks.celery_app worker`` subprocesses pointed at the
``stack`` (SQLite + embedded Redis, then PostgreSQL + Redis), each in its own process
group so a test can SIGKILL a whole worker (main process and pool children) the way a
machine dies.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from agentflow_app.db import get_engine
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus
from agentflow_app.models import Execution
from agentflow_app.redis_client import WORKER_KEY_PREFIX
from agentflow_app.services import users, workflows
from agentflow_app.services.executions import events_after
from agentflow_app.services.users import Actor
from tests.helpers.stack import Stack

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"
#: Guards against a hung test; never a measurement.
HANG_GUARD_S = 240.0


# -- the outside world ---------------------------------------------------------------------


class SlowServer:
    """Counts requests (GET or POST) per path; ``?delay_ms=N`` makes the answer wait N ms.

    Answers ``{"path", "hit"}`` as JSON; ``/fail`` answers 500 until :attr:`healthy` is set.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.healthy = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                with server.lock:
                    server.hits[parts.path] += 1
                    hit = server.hits[parts.path]
                delay = int(parse_qs(parts.query).get("delay_ms", ["0"])[0])
                if delay:
                    time.sleep(delay / 1000)
                failing = parts.path == "/fail" and not server.healthy.is_set()
                body = json.dumps({"path": parts.path, "hit": hit}).encode()
                try:
                    self.send_response(500 if failing else 200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the worker that asked was killed meanwhile
                    pass

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def slow_server(stack: Stack) -> Iterator[SlowServer]:
    server = SlowServer()  # one per stack, so counts start at zero
    yield server
    server.close()


# -- accounts and workflows ------------------------------------------------------------------


@pytest.fixture
def make_actor(stack: Stack) -> Callable[[], Actor]:
    return lambda: users.create_user(f"x{secrets.token_hex(4)}@example.com", PASSWORD)


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "position": {"x": 0, "y": 0},
        "data": {"label": node_id, "config": config},
    }


def chain(name: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": name, "nodes": list(nodes), "edges": edges}


def counted_workflow(server: SlowServer, delay_ms: int = 0, path: str = "/hit") -> dict[str, Any]:
    """trigger(n) → GET {server}{path}/<n> → template → output."""
    return chain(
        "counted",
        node(
            "start",
            "trigger.manual",
            inputs=[{"name": "n", "type": "integer", "required": True}],
        ),
        node(
            "fetch",
            "http.request",
            url=server.url + path + "/{{ inputs.n }}",
            query={"delay_ms": str(delay_ms)},
            retries=0,
        ),
        node(
            "shape",
            "transform.template",
            template="run {{ inputs.n }} hit {{ nodes.fetch.output.body.hit }}",
        ),
        node("out", "output", fields={"text": "{{ nodes.shape.output.text }}"}),
    )


def create_workflow(actor: Actor, document: dict[str, Any]) -> int:
    return workflows.create(actor, document).id


# -- reading results -------------------------------------------------------------------------


def status_of(execution_id: int) -> ExecutionStatus:
    with get_engine().connect() as conn:
        return ExecutionStatus(
            conn.execute(
                Execution.__table__.select()
                .with_only_columns(Execution.__table__.c.status)
                .where(Execution.__table__.c.id == execution_id)
            ).scalar_one()
        )


def wait_until(check: Callable[[], bool], what: str, guard_s: float = HANG_GUARD_S) -> None:
    deadline = time.monotonic() + guard_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def wait_finished(*execution_ids: int) -> None:
    wait_until(
        lambda: all(status_of(i) in TERMINAL_EXECUTION for i in execution_ids),
        f"executions {execution_ids} to finish",
    )


def event_types(execution_id: int) -> list[tuple[str, str | None]]:
    return [(str(e.type), e.node_id) for e in events_after(execution_id)]


# -- workers ---------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool children at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class WorkerPool:
    stack: Stack
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def start(self, name: str, concurrency: int = 2) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env |= {
            "REDIS_URL": self.stack.redis_url,
            "DB_URL": self.stack.db_url,
            "AGENTFLOW_DATA_DIR": str(self.stack.data_dir),
            "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        log = self.tmp / f"worker-{name}-{secrets.token_hex(2)}.log"
        argv = [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker"]
        argv += ["--loglevel", "INFO", "--concurrency", str(concurrency), "-n", f"{name}@%h"]
        argv += ["-Q", "agentflow", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(name, process, log)
        self.workers.append(worker)
        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            wait_until(
                lambda: (
                    any(
                        key.decode().startswith(f"{WORKER_KEY_PREFIX}{name}@")
                        for key in client.scan_iter(f"{WORKER_KEY_PREFIX}*")
                    )
                    or process.poll() is not None
                ),
                f"worker {name} to start",
                guard_s=90,
            )
        finally:
            client.close()
        if process.poll() is not None:
            raise AssertionError(f"worker {name} exited: {log.read_text()[-3000:]}")
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@contextmanager
def worker_pool(stack: Stack, tmp: Path, **env: str) -> Iterator[WorkerPool]:
    pool = WorkerPool(stack, tmp, env=env)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def workers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """One worker (2 pool processes) on the stack, shared by a module's tests."""
    with worker_pool(stack, tmp_path_factory.mktemp("workers")) as pool:
        pool.start("main")
        yield pool
