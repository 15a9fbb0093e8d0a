"""Services a test can take away and give back: a Redis server and a PostgreSQL cluster of
the test's own (on their own ports, in temp dirs), so stopping them affects nobody else,
and an event-stream reader that reconnects the way a browser's EventSource does.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, what: str, guard_s: float = 30) -> None:
    deadline = time.monotonic() + guard_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


class RedisServer:
    """``redis-server`` on a port of its own, persisting to an append-only file as the
    embedded one does, so a stop and start is an outage, not a wipe (``persist=False``:
    nothing on disk, as this machine's own server)."""

    def __init__(self, directory: Path, *, persist: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        #: The server without a db number; :attr:`url` is its db 0.
        self.address = f"redis://127.0.0.1:{self.port}"
        self.url = f"{self.address}/0"
        self.persist = persist
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir)]
        argv += ["--appendonly", "yes" if self.persist else "no", "--save", ""]
        argv += ["--daemonize", "no"]
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        _wait(lambda: self._pings(client), f"redis-server on port {self.port}")
        client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@contextlib.contextmanager
def redis_server(directory: Path, *, persist: bool = True) -> Iterator[RedisServer]:
    server = RedisServer(directory, persist=persist)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb into a temp dir) on a port of its own.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    account, its commands run through ``runuser``, and it lives in a temp dir of its own
    (pytest's are private to root).
    """

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="agentflow-pg-"))
        self.dir = self.home / "pgdata"
        self.log = self.home / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/agentflow"
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.home, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise AssertionError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def create(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "-A", "trust")
        self.start()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE agentflow")

    def dsn(self, database: str = "agentflow") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):
            cluster.stop()
        shutil.rmtree(cluster.home, ignore_errors=True)


class EventStream:
    """Reads ``GET …/executions/{id}/events`` in a thread until the terminal event, and
    when the stream breaks reconnects with ``Last-Event-ID`` after a second, as a
    browser's EventSource does; ``events`` holds every event received, in arrival order."""

    def __init__(self, api_url: str, headers: dict[str, str], execution_id: int) -> None:
        self.url = f"{api_url}/api/workflows/executions/{execution_id}/events"
        self.headers = headers
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.done.is_set():
            last = self.events[-1]["id"] if self.events else "0"
            try:
                with httpx.stream(
                    "GET", self.url, headers=self.headers | {"Last-Event-ID": last}, timeout=30
                ) as answer:
                    if answer.status_code == 200:
                        self._consume(answer)
            except httpx.HTTPError:
                pass
            if not self.done.is_set():
                self.reconnects += 1
                time.sleep(1)

    def _consume(self, answer: httpx.Response) -> None:
        current: dict[str, Any] = {}
        for line in answer.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(": ")
                current[key] = json.loads(value) if key == "data" else value
                continue
            if current:
                self.events.append(current)
                if current["event"] in (
                    "execution.succeeded",
                    "execution.failed",
                    "execution.cancelled",
                ):
                    self.done.set()
                    return
                current = {}

    def wait(self, guard_s: float = 120) -> list[dict[str, Any]]:
        if not self.done.wait(guard_s):
            raise AssertionError(f"the stream of {self.url} did not end: {self.events[-3:]}")
        return self.events
