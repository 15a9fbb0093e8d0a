"""Fixtures of the observability unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prometheus multiprocess directory for the whole session: prometheus_client
    binds a process to the directory it first writes in, so every test that records
    metrics in this process must share it."""
    return tmp_path_factory.mktemp("prometheus-multiproc")
