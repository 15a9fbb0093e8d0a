"""``agentflow serve`` in a process of its own, on a port and data dir the caller picks.

The browser suite's server (``live_server``) is one; a test that must take a service away
from the server (its Redis) starts another, with its own port (the built UI embeds the
port, so each port keeps its own build in ``.web-e2e-<port>``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers.suite import ROOT

#: A first start builds the UI (minutes on a busy machine).
START_GUARD_S = 300


@contextmanager
def agentflow_serve(port: int, data_dir: Path, **env: str) -> Iterator[str]:
    """Start ``agentflow serve --port port`` (2 worker processes) and yield its base URL
    once ``/api/health`` answers 200; SIGTERM it afterwards.

    ``env`` is added to this process's environment without its DB_URL and REDIS_URL (so
    the embedded defaults are used unless ``env`` names others).
    """
    environ = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    environ |= {
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
        "REFLEX_WEB_WORKDIR": str(ROOT / f".web-e2e-{port}"),
        **env,
    }
    log_path = data_dir / "serve.log"
    log = log_path.open("w")
    argv = [sys.executable, "-m", "agentflow_app", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*argv, "--concurrency", "2"], cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://localhost:{port}"
    deadline = time.monotonic() + START_GUARD_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"agentflow serve exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"agentflow serve did not become healthy: {log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
