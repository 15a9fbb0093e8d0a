"""The production stack file parses (no Docker engine runs here, so nothing is started)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from tests.helpers.suite import ROOT


def _compose_config() -> dict:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        argv = ["docker", "compose", "config", "--format", "json"]
    elif shutil.which("docker-compose"):
        argv = ["docker-compose", "config"]
    else:
        pytest.skip(
            "neither `docker compose` nor docker-compose is installed (make test installs it)"
        )
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if argv[-1] == "json" else yaml.safe_load(result.stdout)


def test_compose_file_describes_the_production_stack() -> None:
    services = _compose_config()["services"]
    assert set(services) == {"postgres", "redis", "app", "worker-1", "worker-2"}
    unchecked = [name for name, service in services.items() if "healthcheck" not in service]
    assert unchecked == []
    for name in ("app", "worker-1", "worker-2"):
        env = services[name]["environment"]
        assert env["DB_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert services["app"]["command"] == ["agentflow", "serve", "--no-worker", "--port", "3000"]
