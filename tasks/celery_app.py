"""The Celery application. Workers run ``celery -A tasks.celery_app worker``."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init, worker_process_init

from agentflow_app.errors import ConfigError
from agentflow_app.observability import worker as _observability  # noqa: F401 - its signals
from agentflow_app.settings import get_settings


def broker_url() -> str:
    url = get_settings().effective_redis_url()
    if url is None:
        raise ConfigError(
            "no Redis: set REDIS_URL, or start `agentflow serve`, which runs an embedded one"
        )
    return url


celery_app = Celery(
    "agentflow",
    broker=broker_url(),
    include=["tasks.liveness", "tasks.executions", "tasks.maintenance"],
)
celery_app.config_from_object("tasks.config")


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    """A forked pool process must not use its parent's database connections.

    SQLite and libpq connections are not fork-safe: a pool child replaced after a crash
    would share the parent's open file descriptors, which corrupts the embedded SQLite
    database ("disk I/O error"). Dropping the inherited pool (without closing the parent's
    connections) gives the child its own.
    """
    from agentflow_app.db import get_engine

    get_engine().dispose(close=False)


@worker_init.connect
def _warm_before_fork(**_kwargs) -> None:
    """Load the node catalog and the TLS context once, before the pool forks.

    Both are built lazily on first use; in a pool process that was the first run, which
    then took about a second (importing the LLM SDKs and LangChain) and paid it again in
    every process the pool replaced. Loaded here, every pool process starts with them.
    """
    from agentflow_app.catalog import default_registry
    from agentflow_app.net import tls

    default_registry()
    tls.default_context()
