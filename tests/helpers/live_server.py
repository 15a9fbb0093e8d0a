"""``agentflow serve`` for browser tests, one at a time on the suite's port.

The built UI embeds its port, and building it takes minutes, so every server of the suite
listens on :data:`~tests.helpers.suite.E2E_PORT` and shares one build dir. A test that
needs another configuration (the S3 file store) stops the suite's server, runs its own on
the same port, and starts the suite's server again afterwards, on the same data dir (its
accounts and workflows are still there).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers.suite import E2E_PORT, ROOT


class ServerFailed(Exception):
    """``agentflow serve`` exited or never became healthy; the message ends with its log."""


class LiveServer:
    """``agentflow serve`` with the embedded defaults in ``data_dir``, plus ``env``.

    The environment is this process's at :meth:`start` (fixtures such as the fake LLM
    set theirs first), less ``DB_URL``/``REDIS_URL``, plus ``env`` (None removes a name).
    """

    def __init__(self, data_dir: Path, env: dict[str, str | None] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.url = f"http://localhost:{E2E_PORT}"
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> str:
        if self.running:
            return self.url
        env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
        env |= {
            "AGENTFLOW_DATA_DIR": str(self.data_dir),
            "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
            # The built UI embeds its port, so each test port keeps its own build.
            "REFLEX_WEB_WORKDIR": str(ROOT / f".web-e2e-{E2E_PORT}"),
        }
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        _wait_port_free(E2E_PORT)  # a server stopped just now may still hold it a moment
        log_path = self.data_dir / "serve.log"
        argv = [sys.executable, "-m", "agentflow_app", "serve", "--port", str(E2E_PORT)]
        with log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*argv, "--concurrency", "2"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 300  # a first start builds the UI
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(f"agentflow serve exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait(timeout=30)
                raise ServerFailed(
                    f"agentflow serve did not become healthy: {log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM, and wait until it has exited (so the port is free again)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None


@contextmanager
def instead_of(suite: LiveServer, data_dir: Path, env: dict[str, str | None]) -> Iterator[str]:
    """A server of the test's own (``data_dir``, ``env``) on the suite's port and UI build,
    its base URL yielded; the suite's server stops meanwhile and starts again afterwards."""
    server = LiveServer(data_dir, env)
    was_running = suite.running
    suite.stop()
    try:
        yield server.start()
    finally:
        server.stop()
        if was_running:
            suite.start()


def _wait_port_free(port: int, guard_s: float = 60) -> None:
    deadline = time.monotonic() + guard_s
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerFailed(f"port {port} is still in use") from None
        time.sleep(0.5)
