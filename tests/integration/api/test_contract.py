"""The published API contract holds: schemathesis, an outside fuzzer, finds nothing.

The app is served for real (uvicorn, a throwaway SQLite database, Redis) and the
schemathesis CLI runs every phase against ``/api/openapi.json`` with a valid token:
examples, coverage, fuzzing (schema-valid and schema-violating data) and stateful
sequences, with every check (no 5xx, responses match their schemas, every status is
documented, invalid input is refused, valid input is accepted, ``Allow`` lists the
methods). Any failure fails the test with schemathesis's own report, which names the
request and says how to replay it. ``schemathesis.toml`` names the operations whose
well-shaped input may still be refused with 422 (a workflow that does not validate, a
credential missing its kind's fields): the schema gives the shape, the service the meaning.

The seed is fixed so that CI is reproducible; ``AGENTFLOW_FUZZ_SEED`` picks another,
and ``AGENTFLOW_FUZZ_SECONDS`` gives the fuzzer more time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.stack import Stack
from tests.helpers.suite import ROOT

SEED = os.environ.get("AGENTFLOW_FUZZ_SEED", "20261204")
SECONDS = os.environ.get("AGENTFLOW_FUZZ_SECONDS", "90")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_schemathesis_finds_nothing_in_any_phase(sqlite_stack: Stack, tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.api_server", str(port)],
        cwd=ROOT,
        # No worker runs here: POST …/run waits out its timeout_s, kept below the fuzzer's
        # 10 s request timeout.
        env={**os.environ, "AGENTFLOW_RUN_WAIT_MAX_S": "3"},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        token = server.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.2)
        fuzz = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{base}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--mode",
                "all",
                "--max-time",
                SECONDS,
                # One worker: with two, CPython 3.11 (here 3.11.7) once raised "AST
                # constructor recursion depth mismatch" inside schemathesis, whose threads
                # build ASTs at once (CPython gh-106905), failing the run on no API fault.
                "--workers",
                "1",
                "--seed",
                SEED,
                "--report-dir",
                str(tmp_path / "report"),
                # Signing out revokes the fuzzer's own token, and every later request would
                # answer 401: test_auth_api covers it.
                "--exclude-path",
                "/api/auth/logout",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=int(SECONDS) * 4 + 120,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = fuzz.stdout + fuzz.stderr
    assert fuzz.returncode == 0, report[-12000:]
    # It really ran, signed in: every phase reported, and no operation was only refused
    # for want of a token (schemathesis says so when it happens, without failing).
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report[-4000:]
    assert "Authentication failed" not in report, report[-4000:]
