"""``agentflow serve --workers N``: each worker gets its own ``/metrics`` port."""

from __future__ import annotations

from agentflow_app.serve import worker_env
from agentflow_app.settings import Settings


def test_each_worker_serves_metrics_on_its_own_port() -> None:
    settings = Settings(agentflow_worker_metrics_port=9500)
    shared = {"REDIS_URL": "redis://r:6379/0"}
    ports = [
        worker_env(shared, settings, index)["AGENTFLOW_WORKER_METRICS_PORT"] for index in range(3)
    ]
    assert ports == ["9500", "9501", "9502"]
    assert worker_env(shared, settings, 1)["REDIS_URL"] == "redis://r:6379/0"
    assert "AGENTFLOW_WORKER_METRICS_PORT" not in shared  # the shared environment is left alone
