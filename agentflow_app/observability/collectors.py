"""Gauges read when ``/metrics`` is scraped: the state of the deployment right now.

Queue depth, waiting runs, live workers, live-view subscribers and disk space are facts of
the database, Redis and the data dir, not of one process, so the web server reads them at
scrape time instead of every process keeping a gauge up to date (which multiprocess mode
handles badly, and which a crash would leave stale). Each read is bounded and failures
are reported as ``agentflow_scrape_errors`` rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agentflow_app.redis_client import WORKER_KEY_PREFIX, redis_or_none
from agentflow_app.services import operations
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

#: The Celery queue executions are sent on (``tasks/config.py``).
QUEUE_NAME = "agentflow"
#: Live viewers subscribe to one channel per execution (SPEC §8).
EVENT_CHANNELS = "agentflow:execution:*"


class DeploymentCollector(Collector):
    """The scrape-time gauges (registered on the web server's registry only)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        errors = GaugeMetricFamily(
            "agentflow_scrape_errors",
            "Sources this scrape could not read (the database, Redis, the data dir).",
            labels=["source"],
        )
        for source, read in (("database", _database), ("redis", _redis), ("disk", _disk)):
            try:
                yield from read()
                errors.add_metric([source], 0)
            except Exception as exc:  # one source down must not hide the others
                log.warning("metrics: reading %s failed: %s", source, exc)
                errors.add_metric([source], 1)
        yield errors


def _database() -> Iterator[GaugeMetricFamily]:
    runs = operations.open_runs()
    executions = GaugeMetricFamily(
        "agentflow_executions",
        "Executions not over yet, by status (queued: the queue depth; waiting: paused runs).",
        labels=["status"],
    )
    for status, count in runs.by_status.items():
        executions.add_metric([status], count)
    yield executions
    yield GaugeMetricFamily(
        "agentflow_queue_oldest_age_seconds",
        "How long the oldest queued execution has waited for a worker.",
        value=runs.oldest_queued_age_s,
    )


def _redis() -> Iterator[GaugeMetricFamily]:
    client = redis_or_none()
    if client is None:
        raise RuntimeError("no Redis configured")
    workers = sum(1 for _ in client.scan_iter(f"{WORKER_KEY_PREFIX}*", count=500))
    channels = client.pubsub_channels(EVENT_CHANNELS)
    subscribers = sum(count for _, count in client.pubsub_numsub(*channels)) if channels else 0
    yield GaugeMetricFamily(
        "agentflow_workers", "Worker processes alive (their Redis heartbeat).", value=workers
    )
    yield GaugeMetricFamily(
        "agentflow_queue_messages",
        "Task messages in the broker queue, not yet taken by a worker.",
        value=client.llen(QUEUE_NAME),
    )
    yield GaugeMetricFamily(
        "agentflow_live_view_subscribers",
        "Open live views and event streams (subscribers to execution channels).",
        value=subscribers,
    )


def _disk() -> Iterator[GaugeMetricFamily]:
    usage = shutil.disk_usage(get_settings().data_dir)
    free = GaugeMetricFamily(
        "agentflow_data_dir_free_bytes", "Free space on the data dir's file system."
    )
    free.add_metric([], usage.free)
    yield free
    yield GaugeMetricFamily(
        "agentflow_data_dir_size_bytes",
        "Size of the data dir's file system.",
        value=usage.total,
    )
