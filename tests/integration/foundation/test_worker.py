"""`agentflow worker` is a plain Celery worker that announces itself through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from agentflow_app.api.app import create_api
from tests.conftest import ROOT


async def _workers() -> int:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/api/health")).json()["workers"]


async def test_worker_heartbeat_appears_and_goes_with_it(stack) -> None:
    env = os.environ | {"REDIS_URL": stack.redis_url, "DB_URL": stack.db_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", "worker", "--concurrency", "1", "--name", "probe"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while await _workers() != 1:
            assert worker.poll() is None, "the worker exited at start"
            assert time.monotonic() < deadline, "the worker never announced itself"
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert await _workers() == 0
    finally:
        if worker.poll() is None:
            worker.kill()


def test_worker_without_redis_says_what_to_set(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["AGENTFLOW_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "agentflow_app", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "agentflow: no Redis: set REDIS_URL, or start `agentflow serve`, which runs an embedded one"
    )
