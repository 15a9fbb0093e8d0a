"""A real Prometheus server (Debian's ``prometheus`` package) scraping test targets.

``make test`` installs the package (``Makefile`` ``SYSTEM_PACKAGES``). The server runs
with a one-second scrape interval and a throwaway TSDB; tests ask it questions in PromQL
through its HTTP API, as a dashboard or an alert rule would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing() -> str | None:
    """Why Prometheus cannot run here, or None."""
    if shutil.which(PROMETHEUS) is None or shutil.which(PROMTOOL) is None:
        return "Debian's prometheus package is not installed (make system-deps installs it)"
    return None


@dataclass
class Prometheus:
    url: str
    log: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector: ``[{"metric": {...}, "value": float}]``."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return [
            {"metric": item["metric"], "value": float(item["value"][1])}
            for item in body["data"]["result"]
        ]

    def by(self, promql: str, label: str) -> dict[str, float]:
        return {item["metric"].get(label, ""): item["value"] for item in self.query(promql)}

    def scraped_since(self, moment: float, guard_s: float = 30) -> None:
        """Wait until every target was scraped after ``moment`` (a ``time.time()``)."""
        deadline = time.monotonic() + guard_s
        while True:
            times = [item["value"] for item in self.query("timestamp(up)")]
            if times and min(times) > moment:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not scrape every target again: {times}")
            time.sleep(0.2)

    def targets(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/targets", timeout=10)
        return answer.json()["data"]["activeTargets"]


@contextmanager
def prometheus(
    directory: Path, targets: dict[str, str], *, bearer: str | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job name → ``host:port``, path ``/metrics``)."""
    jobs = []
    for job, address in targets.items():
        config: dict[str, Any] = {
            "job_name": job,
            "scrape_interval": "1s",
            "scrape_timeout": "900ms",
            "static_configs": [{"targets": [address]}],
        }
        if bearer is not None:
            config["authorization"] = {"type": "Bearer", "credentials": bearer}
        jobs.append(config)
    config_file = directory / "prometheus.yml"
    config_file.write_text(
        yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs})
    )
    port = free_port()
    log = directory / "prometheus.log"
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not become ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
