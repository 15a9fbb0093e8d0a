"""Where Prometheus samples live: one multiprocess directory per process group.

Web servers may run several processes (``AGENTFLOW_WEB_WORKERS``) and a Celery worker runs
its tasks in forked pool processes, so samples are kept the way prometheus_client's
multiprocess mode keeps them: each process writes its own memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` and whoever answers ``/metrics`` sums the directory. Each
process *group* has its own directory (the web server's, and each worker's, which that
worker serves on its own port), so one scrape never counts another group's samples.

prometheus_client reads the variable when it is first imported, so :func:`prepare` runs
first and this module does not import it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agentflow_app.settings import Settings, get_settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(role: str, settings: Settings | None = None) -> Path | None:
    """Choose this process group's multiprocess directory (when metrics are on).

    ``PROMETHEUS_MULTIPROC_DIR`` wins when the operator (or the parent process) set it;
    otherwise the group gets ``<data dir>/metrics/<role>-<pid>``, made empty, and the
    directories of groups whose process is gone are removed. Children (Celery's pool,
    granian's workers) inherit the variable.

    Returns:
        The directory, or None while metrics are off.
    """
    settings = settings or get_settings()
    if not settings.metrics_enabled:
        return None
    # The variable itself, not only the settings: it is what prometheus_client reads, and
    # a parent (``agentflow web`` before granian forks) may have set it in this process.
    current = os.environ.get(MULTIPROC_ENV)
    given = Path(current) if current else settings.prometheus_multiproc_dir
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        os.environ[MULTIPROC_ENV] = str(given)
        return given
    base = settings.data_dir / "metrics"
    _remove_dead_groups(base)
    path = base / f"{role}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _remove_dead_groups(base: Path) -> None:
    """Directories of process groups that ended: their samples would be summed forever."""
    if not base.is_dir():
        return
    for path in base.iterdir():
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
