"""``agentflow serve`` starts a worker that died again, unless it died at once.

A Celery worker can exit when its broker connection drops with tasks in flight (see
``tests/e2e/test_health_banner.py``, which stops the server's Redis); the supervisor used
to stop the whole installation then, web UI included.
"""

from __future__ import annotations

import sys

from agentflow_app.serve import RESPAWN_AFTER_S, Supervisor, _restartable

EXIT_SOON = [sys.executable, "-c", "import sys, time; time.sleep(0.2); sys.exit(3)"]
RUN_LONG = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_worker_that_ran_a_while_is_started_again_in_its_place() -> None:
    supervisor = Supervisor()
    worker = supervisor.spawn("worker-1", EXIT_SOON, {})
    try:
        assert supervisor.wait() is worker
        assert worker.process.returncode == 3
        assert not _restartable(worker), "a worker that exits at once is not looped"

        worker.started -= RESPAWN_AFTER_S  # as if it had run that long
        assert _restartable(worker)
        first_pid = worker.process.pid
        worker.argv = RUN_LONG
        supervisor.respawn(worker)
        assert worker.process.pid != first_pid and worker.alive()
        assert supervisor.children == [worker]
    finally:
        supervisor.stop()
    assert not worker.alive()


def test_the_web_process_is_never_restarted() -> None:
    supervisor = Supervisor()
    web = supervisor.spawn("web", EXIT_SOON, {})
    try:
        assert supervisor.wait() is web
        web.started -= RESPAWN_AFTER_S
        assert not _restartable(web)
    finally:
        supervisor.stop()
