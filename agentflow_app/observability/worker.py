"""The Celery worker's wiring: its multiprocess directory, its ``/metrics`` port, its logs.

``tasks/celery_app.py`` imports this module; the signal handlers run in the worker's
main process (``worker_init`` before the pool forks, so every pool process inherits the
multiprocess directory; ``worker_ready`` once it consumes) and in each pool process
(``worker_process_shutdown``: buffered spans are exported before it exits). A web
process that imports the Celery app to send tasks fires none of them.
"""

from __future__ import annotations

import logging

from celery.signals import (
    celeryd_init,
    setup_logging,
    worker_init,
    worker_process_shutdown,
    worker_ready,
)

from agentflow_app.observability import logging as structured
from agentflow_app.observability import multiproc, tracing
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)


@worker_init.connect
def _before_the_pool(**_kwargs: object) -> None:
    tracing.set_role("worker")
    multiproc.prepare("worker")


@worker_ready.connect
def _serve_metrics(**_kwargs: object) -> None:
    settings = get_settings()
    if not settings.metrics_enabled:
        return
    from agentflow_app.observability.exposition import serve_worker_metrics

    try:
        serve_worker_metrics(settings.agentflow_worker_metrics_port)
    except OSError as exc:  # the port is taken: the worker still works, unscraped
        log.error(
            "metrics: cannot serve /metrics on port %s (%s); set AGENTFLOW_WORKER_METRICS_PORT",
            settings.agentflow_worker_metrics_port,
            exc.strerror,
        )


@worker_process_shutdown.connect
def _export_spans(**_kwargs: object) -> None:
    tracing.flush()


def _json_logs(**_kwargs: object) -> None:
    """Celery's ``setup_logging``: with a receiver connected, Celery leaves logging to us."""
    structured.configure()


def _no_banner(instance: object = None, **_kwargs: object) -> None:
    """Celery prints its banner straight to stdout: in JSON mode it would be the one
    thing on the worker's output that is not a JSON line (``celery -q`` does the same)."""
    if instance is not None:
        instance.quiet = True


if get_settings().agentflow_log_format == "json":
    # Now, not only in setup_logging: Celery warns (running as root...) before that.
    structured.configure()
    setup_logging.connect(_json_logs, weak=False)
    celeryd_init.connect(_no_banner, weak=False)
