"""``agentflow backup`` / ``agentflow restore`` as an operator runs them: real processes.

The backup is taken while two real Celery workers run twenty executions that write steps
and events all along; the archive is restored into an empty data dir by another process,
and what the restored installation shows is read back through the services: the database
passes SQLite's integrity check, every run that had finished before the backup is there
unchanged, no run is caught half-written, and users, workflows and credentials (still
decryptable) are back.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus
from agentflow_app.models import Execution
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import executions, users, workflows
from agentflow_app.services.credentials import create_credential, rotate_keys
from agentflow_app.services.executions import events_after, execution_record
from tests.fakes.slow_server import SlowServer
from tests.helpers.credential_examples import EXAMPLES, SECRET
from tests.helpers.documents import chain, node
from tests.helpers.executions import status_of, wait_finished, wait_until
from tests.helpers.suite import ROOT
from tests.helpers.users import new_account
from tests.helpers.workers import worker_pool

E = Execution.__table__
TERMINAL_EVENTS = {"execution.succeeded", "execution.failed", "execution.cancelled"}


def _agentflow(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``python -m agentflow_app ARGS`` in a fresh process with ``env`` applied."""
    merged = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return subprocess.run(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=merged,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _paced_workflow(server: SlowServer) -> dict:
    """trigger(n, delay_ms) → GET {server}/run/<n>?delay_ms=… → output."""
    return chain(
        "paced",
        node(
            "start",
            "trigger.manual",
            inputs=[
                {"name": "n", "type": "integer", "required": True},
                {"name": "delay_ms", "type": "integer", "required": True},
            ],
        ),
        node(
            "fetch",
            "http.request",
            url=server.url + "/run/{{ inputs.n }}",
            query={"delay_ms": "{{ inputs.delay_ms }}"},
            retries=0,
        ),
        node("out", "output", fields={"hit": "{{ nodes.fetch.output.body.hit }}"}),
    )


def _terminal(ids: list[int]) -> set[int]:
    with get_engine().connect() as conn:
        return set(
            conn.execute(
                select(E.c.id).where(E.c.id.in_(ids), E.c.status.in_(TERMINAL_EXECUTION))
            ).scalars()
        )


def test_a_backup_taken_during_twenty_runs_restores_into_an_empty_data_dir(
    sqlite_stack, set_env, tmp_path
) -> None:
    server = SlowServer()
    alice, bob = new_account("alice"), new_account("bob")
    create_credential(bob.actor, "team-slack", "slack", EXAMPLES["slack"])
    create_credential(alice.actor, "gateway", "openai", EXAMPLES["openai"])
    document = _paced_workflow(server)
    workflow_id = workflows.create(alice.actor, document).id
    archive = tmp_path / "agentflow-backup.tar.gz"
    try:
        with worker_pool(sqlite_stack, tmp_path) as pool:
            pool.start("a", concurrency=10)
            pool.start("b", concurrency=10)
            early = [
                executions.start(alice.actor, workflow_id, {"n": n, "delay_ms": 0})
                for n in range(5)
            ]
            wait_finished(*early)
            # Staggered, so runs keep finishing (writing steps and events) around the backup.
            busy = [
                executions.start(
                    alice.actor, workflow_id, {"n": 100 + n, "delay_ms": 1500 + 250 * n}
                )
                for n in range(20)
            ]
            wait_until(
                lambda: all(status_of(i) == ExecutionStatus.RUNNING for i in busy),
                "all twenty runs to be running",
            )
            finished_before = _terminal(early + busy)
            before = {i: execution_record(i) for i in finished_before}
            made = _agentflow("backup", str(archive))
            still_running = len(busy) - len(_terminal(busy))
            wait_finished(*busy)
    finally:
        server.close()

    assert made.returncode == 0, made.stderr
    assert still_running > 0, "the backup must be taken while runs are going on"
    assert "WARNING: the backup holds the keys" in made.stderr
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    restored_dir = tmp_path / "restored"
    env = {"AGENTFLOW_DATA_DIR": str(restored_dir), "DB_URL": None, "REDIS_URL": None}
    restored = _agentflow("restore", str(archive), **env)
    assert restored.returncode == 0, restored.stderr
    assert "restored 2 user(s), 1 workflow(s), 2 credential(s) and 25 execution(s)" in (
        restored.stdout
    )
    assert "WARNING" in restored.stderr and "cannot be decrypted" not in restored.stderr
    assert oct((restored_dir / "encryption_keys").stat().st_mode & 0o777) == "0o600"

    again = _agentflow("restore", str(archive), **env)
    assert again.returncode == 2
    assert f"the data dir {restored_dir} is not empty" in again.stderr
    forced = _agentflow("restore", "--force", str(archive), **env)
    assert forced.returncode == 0, forced.stderr

    set_env(**env)
    integrity = sqlite3.connect(restored_dir / "agentflow.db")
    try:
        assert integrity.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        integrity.close()

    assert users.find_by_email(alice.email) == alice.actor
    assert users.find_by_email(bob.email) == bob.actor
    assert workflows.get(alice.actor, workflow_id).document["nodes"] == document["nodes"]
    assert rotate_keys() == 2, "the services open every restored credential"
    slack = asyncio.run(Vault(bob.actor.workspace_id).get("team-slack", ("slack",)))
    assert slack["token"] == SECRET
    gateway = asyncio.run(Vault(alice.actor.workspace_id).get("gateway", ("openai",)))
    assert gateway["api_key"] == SECRET

    assert len(finished_before) >= 5
    for execution_id, record in before.items():
        assert execution_record(execution_id) == record
    for execution_id in early + busy:
        record = execution_record(execution_id)
        events = events_after(execution_id)
        seqs = [event.seq for event in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{execution_id}: seqs {seqs}"
        ended = bool(events) and str(events[-1].type) in TERMINAL_EVENTS
        assert ended == (record["status"] in TERMINAL_EXECUTION), (execution_id, record["status"])


def test_backup_and_restore_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    empty = {"AGENTFLOW_DATA_DIR": str(tmp_path / "empty"), "DB_URL": None, "REDIS_URL": None}
    nothing = _agentflow("backup", str(tmp_path / "b.tar.gz"), **empty)
    assert nothing.returncode == 2
    assert "there is no database" in nothing.stderr

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    wrong = _agentflow("restore", str(not_a_backup), **empty)
    assert wrong.returncode == 2
    assert "is not an AgentFlow backup" in wrong.stderr
    assert not (tmp_path / "empty").exists(), "a refused restore must write nothing"

    postgres = {"DB_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/none", "REDIS_URL": None}
    for command, tool in (("backup", "pg_dump"), ("restore", "pg_restore")):
        answer = _agentflow(command, str(not_a_backup), **postgres)
        assert answer.returncode == 2
        assert "DB_URL points at PostgreSQL" in answer.stderr
        assert tool in answer.stderr and "docs/operations.md" in answer.stderr
