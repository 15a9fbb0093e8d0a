"""Real Celery workers for execution tests.

Workers are ``python -m celery -A tasks.celery_app worker`` subprocesses pointed at a
:class:`~tests.helpers.stack.Stack` (SQLite + embedded Redis, or PostgreSQL + Redis), each
in its own process group so a test can SIGKILL a whole worker (main process and pool
children) the way a machine dies. ``worker_pool`` stops whatever it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from agentflow_app.redis_client import WORKER_KEY_PREFIX
from tests.helpers.executions import wait_until
from tests.helpers.stack import Stack
from tests.helpers.suite import ROOT


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
