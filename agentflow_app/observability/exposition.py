"""The ``/metrics`` answer: the bearer check, the samples, and the worker's own server.

``/metrics`` is off (404) until ``AGENTFLOW_METRICS_TOKEN`` is set, and then answers only
``Authorization: Bearer <token>`` (401 otherwise): the numbers name workflows' models and
volumes, which are nobody else's business. The web server's answer adds the
deployment gauges (:mod:`.collectors`); a worker's has its own process group's samples.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agentflow_app.observability.multiproc import MULTIPROC_ENV
from agentflow_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

OFF, DENIED, ALLOWED = 404, 401, 200


def check(authorization: str | None, settings: Settings | None = None) -> int:
    """What a request with this ``Authorization`` header gets: 404, 401 or 200."""
    settings = settings or get_settings()
    if not settings.metrics_enabled:
        return OFF
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.agentflow_metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        return DENIED
    return ALLOWED


def scrape(*, deployment: bool) -> tuple[bytes, str]:
    """The exposition text of this process group (plus the deployment gauges)."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    from agentflow_app.observability import metrics  # noqa: F401 - the families exist

    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Everything())
    if deployment:
        from agentflow_app.observability.collectors import DeploymentCollector

        registry.register(DeploymentCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Everything:
    """The default registry's samples (a single process without a multiprocess dir)."""

    def collect(self):
        from prometheus_client import REGISTRY

        return REGISTRY.collect()


# -- a worker's own /metrics ------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"not found\n", "text/plain")
            return
        verdict = check(self.headers.get("Authorization"))
        if verdict != ALLOWED:
            body = b"metrics are off\n" if verdict == OFF else b"a bearer token is required\n"
            self._answer(verdict, body, "text/plain", bearer=verdict == DENIED)
            return
        body, content_type = scrape(deployment=False)
        self._answer(200, body, content_type)

    def _answer(self, status: int, body: bytes, content_type: str, *, bearer: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if bearer:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
        return


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve ``/metrics`` on ``port`` from a daemon thread (a worker's main process)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="agentflow-metrics", daemon=True).start()
    log.info("metrics: serving /metrics on port %s", port)
    return server
