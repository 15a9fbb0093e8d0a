"""``serve``, ``worker``, ``migrate`` and the internal ``web`` command."""

from __future__ import annotations

import os
import sys

import click


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port of the UI and the API.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Run no Celery worker here (run `agentflow worker` elsewhere).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes to start.",
)
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Pool processes per worker, each running AGENTFLOW_RUNS_PER_PROCESS executions at once.",
)
def serve(port: int, host: str, no_worker: bool, workers: int, concurrency: int) -> None:
    """Migrate, start Redis (embedded if REDIS_URL is unset), workers and the app."""
    from agentflow_app.serve import ServeOptions
    from agentflow_app.serve import serve as run_serve

    options = ServeOptions(
        port=port, host=host, worker=not no_worker, workers=workers, concurrency=concurrency
    )
    sys.exit(run_serve(options))


@click.command()
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Pool processes (threads with --pool threads).",
)
@click.option(
    "--runs-per-process",
    type=click.IntRange(1, 256),
    default=None,
    help="Executions each process (with --pool threads, each thread) runs at once while "
    "they wait on LLMs and tools [default: AGENTFLOW_RUNS_PER_PROCESS, 4].",
)
@click.option("--beat", is_flag=True, help="Also run the scheduler (one per deployment).")
@click.option(
    "--name", default="agentflow", show_default=True, help="Worker name (host is appended)."
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads"]),
    default="prefork",
    show_default=True,
    help="prefork: processes, isolated from each other; threads: threads of one process "
    "(less memory; one crash takes all).",
)
def worker(
    concurrency: int, runs_per_process: int | None, beat: bool, name: str, pool: str
) -> None:
    """A Celery worker: run as many as needed, on any machine that reaches Redis and the DB.

    It runs up to ``concurrency`` × ``runs_per_process`` executions at once."""
    from agentflow_app.serve import check_redis, worker_argv
    from agentflow_app.settings import get_settings
    from tasks.celery_app import broker_url

    url = broker_url()
    check_redis(url)
    argv = worker_argv(concurrency, name, pool) + (["--beat"] if beat else [])
    settings = get_settings()
    os.environ["AGENTFLOW_DATA_DIR"] = str(settings.data_dir)
    runs = runs_per_process or settings.agentflow_runs_per_process
    # A thread pool's threads share their process's runs (tasks/run_loop.py).
    os.environ["AGENTFLOW_RUNS_PER_PROCESS"] = str(runs * (concurrency if pool == "threads" else 1))
    os.execv(sys.executable, argv)


@click.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (alembic upgrade head)."""
    from agentflow_app.migrate import upgrade_head

    upgrade_head()
    click.echo("database is up to date")


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port the UI will be served on.")
def build(port: int) -> None:
    """Build the web interface now (serve builds it when needed; images build it early)."""
    from agentflow_app.serve import build_frontend, child_env
    from agentflow_app.settings import get_settings

    built = build_frontend(child_env(get_settings(), None, port))
    click.echo("web interface built" if built else "web interface is up to date")


@click.command(hidden=True)
@click.option("--host", default="0.0.0.0")
@click.option("--port", default=3000)
def web(host: str, port: int) -> None:
    """Serve the built UI and the API (started by `serve`)."""
    from agentflow_app.serve import run_web

    run_web(host, port)


COMMANDS = [serve, worker, migrate, build, web]
