"""The queue-depth sidecar (deploy/aws/queue_depth.py) against a real Redis: what it prints
is what CloudWatch turns into the metric the worker service scales on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from tasks.config import task_default_queue
from tests.helpers.cdk import DEPLOY_AWS
from tests.helpers.stack import services_available, services_redis

SCRIPT = DEPLOY_AWS / "queue_depth.py"


def _run(*args: str, redis_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_it_reports_the_queue_length_in_embedded_metric_format() -> None:
    if why := services_available():
        pytest.skip(why)
    with services_redis() as url:
        redis.Redis.from_url(url).rpush(task_default_queue, "a", "b", "c")
        done = _run(
            "--queue", task_default_queue, "--service", "agentflow-worker", "--once", redis_url=url
        )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["QueueDepth"] == 3
    assert record["Service"] == "agentflow-worker"
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "AgentFlow"
    assert directive["Dimensions"] == [["Service"]]
    assert directive["Metrics"] == [{"Name": "QueueDepth", "Unit": "Count"}]


def test_an_unreachable_redis_is_reported_not_published() -> None:
    done = _run(
        "--queue", "agentflow", "--service", "s", "--once", redis_url="redis://127.0.0.1:1/0"
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "cannot read 'agentflow'" in done.stderr


def test_it_refuses_to_start_without_redis_url() -> None:
    done = _run("--queue", "agentflow", "--service", "s", "--once", redis_url=None)
    assert done.returncode == 2
    assert "REDIS_URL is not set" in done.stderr
