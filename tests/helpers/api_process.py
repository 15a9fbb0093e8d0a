"""The REST API in a process of its own (``python -m tests.helpers.api_server``), on a stack.

For tests that need the web side as a separate process, like a deployment has it: its
own environment (metrics, tracing, log format), its own log file, its own pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers.prometheus import free_port
from tests.helpers.stack import Stack
from tests.helpers.suite import ROOT


@dataclass
class ApiProcess:
    url: str
    port: int
    #: A bearer token of the account the server made (``fuzzer@example.com``).
    token: str
    #: Everything the server wrote on stderr (its logs).
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def api_process(stack: Stack, tmp: Path, **env: str) -> Iterator[ApiProcess]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    full |= {
        "DB_URL": stack.db_url,
        "REDIS_URL": stack.redis_url,
        "AGENTFLOW_DATA_DIR": str(stack.data_dir),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log = tmp / f"api-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.api_server", str(port)],
        cwd=ROOT,
        env=full,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    try:
        token = process.stdout.readline().strip()
        if not token:
            raise AssertionError(f"the API server did not start: {log.read_text()[-3000:]}")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API server is not healthy: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield ApiProcess(url, port, token, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
