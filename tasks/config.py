"""Celery settings (lowercase names, ARCHITECTURE rule 5)."""

from __future__ import annotations

from agentflow_app.settings import get_settings

settings = get_settings()

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_send_task_events = False
broker_connection_retry_on_startup = True
# kombu's Redis transport, with a channel that closes cleanly when Redis has gone (tasks/broker.py).
broker_transport = "tasks.broker:Transport"
# Through a Redis outage of any length, workers keep retrying (every 2 s, backing off to
# 30 s) instead of exiting after Celery's default 100 attempts (about 45 minutes).
broker_connection_max_retries = None
# A delivered-but-unacked task comes back after this; it must outlast the longest run.
# Runs that pass it are still safe: tasks claim their execution with a compare-and-set.
broker_transport_options = {"visibility_timeout": settings.agentflow_run_timeout_s + 3600}
task_default_queue = "agentflow"
timezone = "UTC"
enable_utc = True
