"""What operators read: Prometheus metrics, OpenTelemetry traces and structured logs.

Everything here is off until its setting is given (``AGENTFLOW_METRICS_TOKEN``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``AGENTFLOW_LOG_FORMAT=json``), and then costs only what
it records: the in-app dashboard and the CLI never depend on it. The rest of the code
reaches it through a few thin hooks (docs/observability.md lists them):

==========================  ===========================================================
module                      owns
==========================  ===========================================================
:mod:`.multiproc`           the multiprocess directory of each process group
:mod:`.metrics`             the metric families
:mod:`.collectors`          gauges read at scrape time (queue, workers, subscribers, disk)
:mod:`.exposition`          the ``/metrics`` answer, its bearer check, the worker's server
:mod:`.http`                the ASGI middleware: latency by route template, server spans
:mod:`.observer`            metrics, step spans and log lines derived from execution events
:mod:`.runs`                what this process knows of the runs it executes
:mod:`.tracing`             the tracer provider, OTLP export, context in task headers
:mod:`.genai`               one span per LLM call with the GenAI semantic conventions
:mod:`.logging`             ``AGENTFLOW_LOG_FORMAT=json``: one JSON object per line
:mod:`.web`                 the web process's wiring (``api/app.py``)
:mod:`.worker`              the Celery worker's wiring (signals, its ``/metrics`` port)
==========================  ===========================================================

Importing this package imports neither prometheus_client nor OpenTelemetry's SDK: the
multiprocess directory must be chosen before prometheus_client is first imported.
"""
