"""The web process restarted while 20 live event streams are open: each reconnects (with
``Last-Event-ID``, as a browser's EventSource does) and shows its complete run, every
event once and in order. The API is a uvicorn process of its own, killed and started
again on the same port; the runs go on in a real worker meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from agentflow_app.services import executions
from tests.fakes.slow_server import SlowServer
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished, wait_until
from tests.helpers.outages import EventStream, free_port
from tests.helpers.suite import ROOT
from tests.helpers.users import new_account
from tests.helpers.workers import worker_pool

RUNS = 20


@contextmanager
def _web(port: int, log: Path) -> Iterator[subprocess.Popen]:
    argv = [sys.executable, "-m", "uvicorn", "agentflow_app.api.app:create_api", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: _up(port) or process.poll() is not None, "the web process to answer")
        assert process.poll() is None, log.read_text()[-2000:]
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def test_twenty_live_streams_survive_a_restart_of_the_web_process(sqlite_stack, tmp_path) -> None:
    site = SlowServer()
    try:
        account = new_account("views")
        workflow_id = create_workflow(account.actor, counted_workflow(site, delay_ms=4000))
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        with worker_pool(sqlite_stack, tmp_path) as pool:
            pool.start("w", concurrency=10)
            headers = account.headers()
            with _web(port, tmp_path / "web.log"):
                ids = [executions.start(account.actor, workflow_id, {"n": n}) for n in range(RUNS)]
                streams = {i: EventStream(api, headers, i) for i in ids}
                wait_until(lambda: all(s.events for s in streams.values()), "every view open")
                open_at_kill = [i for i, stream in streams.items() if not stream.done.is_set()]
            # killed (SIGKILL) with every stream open and most runs in flight
            with _web(port, tmp_path / "web.log"):
                wait_finished(*ids)
                seen = {i: stream.wait() for i, stream in streams.items()}
    finally:
        site.close()

    assert len(open_at_kill) >= RUNS // 2, "the restart must come while views are open"
    assert all(streams[i].reconnects >= 1 for i in open_at_kill), "every open view reconnected"
    for execution_id, events in seen.items():
        seqs = [int(event["id"]) for event in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{execution_id}: every event once: {seqs}"
        assert events[0]["event"] == "execution.queued"
        assert events[-1]["event"] == "execution.succeeded"
        assert sum(event["event"] == "step.succeeded" for event in events) == 4
