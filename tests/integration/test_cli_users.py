"""The ``agentflow`` command as an operator types it: accounts, export and import."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from tests.helpers.stack import Stack
from tests.helpers.suite import ROOT
from tests.helpers.users import PASSWORD


def agentflow(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process with this test's environment (the stack's DB/Redis)."""
    return subprocess.run(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_user_create_first_is_admin_then_users(sqlite_stack: Stack) -> None:
    first = agentflow("user", "create", "--email", " Boss@Example.com ", "--password", PASSWORD)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "created admin boss@example.com (id 1)"

    second = agentflow("user", "create", "--email", "dev@example.com", "--password", PASSWORD)
    assert second.stdout.strip() == "created user dev@example.com (id 2)"
    third = agentflow(
        "user", "create", "--email", "ops@example.com", "--password", PASSWORD, "--admin"
    )
    assert third.stdout.strip() == "created admin ops@example.com (id 3)"

    taken = agentflow("user", "create", "--email", "BOSS@example.com", "--password", PASSWORD)
    assert taken.returncode == 2
    assert "an account with the email boss@example.com already exists" in taken.stderr
    short = agentflow("user", "create", "--email", "x@example.com", "--password", "short")
    assert short.returncode == 2
    assert "password: use at least 8 characters" in short.stderr

    # The account signs in on the API.
    with TestClient(create_api()) as client:
        answer = client.post(
            "/api/auth/token", data={"username": "dev@example.com", "password": PASSWORD}
        )
        assert answer.status_code == 200


def test_import_then_export_round_trips_a_document(stack: Stack, tmp_path: Path) -> None:
    email = f"importer-{secrets.token_hex(3)}@example.com"
    assert agentflow("user", "create", "--email", email, "--password", PASSWORD).returncode == 0
    document = {
        "schema_version": 1,
        "name": "Imported",
        "description": "from a file",
        "nodes": [{"id": "start", "type": "trigger.manual", "data": {"config": {"inputs": []}}}],
        "edges": [],
    }
    file = tmp_path / "flow.json"
    file.write_text(json.dumps(document))

    imported = agentflow("import", str(file), "--owner", email.upper())
    assert imported.returncode == 0, imported.stderr
    workflow_id = int(imported.stdout.strip())

    exported = agentflow("export", str(workflow_id))
    assert exported.returncode == 0, exported.stderr
    round_trip = json.loads(exported.stdout)
    assert round_trip["name"] == "Imported"
    assert round_trip["description"] == "from a file"
    assert [n["id"] for n in round_trip["nodes"]] == ["start"]

    # The exported file imports again as it is.
    again = tmp_path / "again.json"
    again.write_text(exported.stdout)
    assert agentflow("import", str(again), "--owner", email).returncode == 0


def test_import_says_what_is_wrong(stack: Stack, tmp_path: Path) -> None:
    email = f"careful-{secrets.token_hex(3)}@example.com"
    agentflow("user", "create", "--email", email, "--password", PASSWORD)
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "nodes": [}')
    answer = agentflow("import", str(broken), "--owner", email)
    assert answer.returncode == 2
    assert "broken.json is not valid JSON" in answer.stderr
    assert "line 2" in answer.stderr

    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"nodes": [{"id": "a", "type": "no.such.type"}]}))
    answer = agentflow("import", str(invalid), "--owner", email)
    assert answer.returncode == 2
    assert "invalid.json is not a valid workflow:" in answer.stderr
    assert "node a type: unknown node type 'no.such.type'" in answer.stderr

    nobody = agentflow("import", str(invalid), "--owner", "nobody@example.com")
    assert "no account with the email nobody@example.com" in nobody.stderr
    missing = agentflow("export", "999999")
    assert missing.returncode == 2
    assert "workflow 999999 not found" in missing.stderr
