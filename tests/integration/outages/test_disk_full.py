"""The data disk fills in the middle of a run (SQLite on a tmpfs of 8 MB, a real worker).

What a user sees is asserted: the run in flight fails at once with a sentence naming the
full disk (not an "internal error" after two minutes of retries), health says the disk
is full, a new run and a file upload are refused with the same sentence (507), the
worker log says it once;
and once the filler is deleted the database passes ``PRAGMA integrity_check``, health is
ok again and a new run succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from agentflow_app.api.app import create_api
from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
from agentflow_app.services.disk import LOW_BYTES, RESERVE_NAME, free_bytes
from agentflow_app.services.executions import LEASE_RENEW_S, execution_record
from tests.fakes.servers import serve_asgi
from tests.fakes.slow_server import SlowServer
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished, wait_until
from tests.helpers.outages import redis_server
from tests.helpers.stack import Stack
from tests.helpers.users import new_account
from tests.helpers.workers import worker_pool

DISK = "the data disk is full"
#: How long the run's fetch lasts: the disk fills meanwhile. Shorter than the worker's
#: first lease renewal (LEASE_RENEW_S after the run starts), so the run's own end is the
#: first write to meet the full disk. At one lease period the renewal could meet it first:
#: its failure released the reserve, the run's end then fitted, and the run rightly
#: succeeded, which is not what this test is about.
FETCH_MS = int(LEASE_RENEW_S * 1000 * 2 / 3)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (skips the test where mounting is refused)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> None:
    """Write ``path`` until the filesystem refuses (ENOSPC)."""
    with path.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    assert free_bytes(path.parent) < LOW_BYTES


def _execute(api: str, headers: dict[str, str], workflow_id: int, n: int) -> httpx.Response:
    return httpx.post(
        f"{api}/api/workflows/{workflow_id}/execute",
        json={"inputs": {"n": n}},
        headers=headers,
        timeout=30,
    )


def _health(api: str) -> dict:
    return httpx.get(f"{api}/api/health", timeout=10).json()


def _fetching(execution_id: int) -> bool:
    record = execution_record(execution_id)
    return any(s["node_id"] == "fetch" and s["status"] == "running" for s in record["steps"])


def test_a_full_data_disk_fails_runs_readably_and_corrupts_nothing(tmp_path, set_env) -> None:
    site = SlowServer()
    try:
        with small_disk(tmp_path / "disk") as data_dir, redis_server(tmp_path / "redis") as redis:
            db_url = f"sqlite:///{data_dir / 'agentflow.db'}"
            set_env(AGENTFLOW_DATA_DIR=str(data_dir), DB_URL=db_url, REDIS_URL=redis.url)
            upgrade_head()
            stack = Stack("sqlite-on-tmpfs", db_url, redis.url, data_dir)
            account = new_account("disk")
            workflow_id = create_workflow(account.actor, counted_workflow(site, delay_ms=FETCH_MS))
            with worker_pool(stack, tmp_path) as pool, serve_asgi(create_api()) as api:
                worker = pool.start("w", concurrency=1)
                headers = account.headers()
                health_before = _health(api)
                answer = _execute(api, headers, workflow_id, 1)
                assert answer.status_code == 202, answer.text
                in_flight = answer.json()["execution_id"]
                wait_until(lambda: _fetching(in_flight), "the run to be fetching")

                fill(data_dir / "filler")
                wait_finished(in_flight)
                failed = execution_record(in_flight)
                health_full = _health(api)
                refused = _execute(api, headers, workflow_id, 2)
                upload = httpx.post(  # more than the released reserve left free
                    f"{api}/api/files",
                    files={
                        "file": ("big.bin", b"\1" * (3 * 1024 * 1024), "application/octet-stream")
                    },
                    headers=headers,
                    timeout=30,
                )

                (data_dir / "filler").unlink()
                get_engine().dispose()  # the integrity check on a connection of its own
                with get_engine().connect() as conn:
                    integrity = conn.execute(text("PRAGMA integrity_check")).scalar_one()
                wait_until(lambda: _health(api)["disk"] == "ok", "health to find room again")
                health_after = _health(api)
                answer = _execute(api, headers, workflow_id, 3)
                assert answer.status_code == 202, answer.text
                after = answer.json()["execution_id"]
                wait_finished(after)
                after_status = execution_record(after)["status"]
                reserve = (data_dir / RESERVE_NAME).stat().st_size
                worker_log = worker.log.read_text()
            get_engine().dispose()  # before the unmount
    finally:
        site.close()
        get_engine().dispose()

    assert health_before["disk"] == "ok" and health_before["status"] == "ok", health_before
    assert failed["status"] == "failed", failed
    assert failed["error"] == f"{DISK} ({data_dir}): free space and run again", failed["error"]
    assert health_full["disk"] == "full" and health_full["status"] == "degraded", health_full
    assert DISK in health_full["detail"], health_full
    assert refused.status_code == 507, refused.text
    assert DISK in refused.json()["detail"]
    assert upload.status_code == 507, upload.text
    assert DISK in upload.json()["detail"]
    assert worker_log.count("released the 1024 KiB reserve") == 1, worker_log[-3000:]
    assert "the database is unreachable" not in worker_log, "a full disk is not waited out"
    assert integrity == "ok"
    assert health_after["status"] == "ok" and health_after["detail"] is None, health_after
    assert reserve == 1024 * 1024, "the reserve is back for the next full disk"
    assert after_status == "succeeded"
