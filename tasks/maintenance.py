"""The deployment's periodic work: the reaper and the scheduler (see :mod:`tasks.periodic`).

* The reaper (``services.executions.reap``): runs whose lease ran out are queued again to
  resume or failed; queued runs nobody picked up are sent again. A lone ``agentflow
  serve`` (no beat) recovers a run whose worker was killed within about ``LEASE_S +
  REAP_EVERY_S`` seconds.
* Retention (``services.executions.prune``): finished runs past their retention are
  deleted, in short batches, every ``PRUNE_EVERY_S``.
* The file sweep (``services.file_cleanup.sweep``): files no run holds and stored bytes
  without a row go once they are ``AGENTFLOW_UNUSED_FILE_HOURS`` old, every
  ``SWEEP_EVERY_S``.
* The wake sweeper (``services.executions.wake_due``): waiting runs whose timer (a
  ``flow.wait``, an approval's timeout, a safety poll) fell due are queued again, each once.
* The scheduler (``services.schedules.fire_due``): due ``trigger.schedule`` workflows are
  queued, each fire time once (a compare-and-set per fire time).
* The disk reserve (``services.disk.status``): every worker takes back the reserve a full
  disk made it release, once there is room, so the next full disk can record its failures
  too (each machine has its own data dir, hence every worker, not one).
"""

from __future__ import annotations

from agentflow_app.services import disk, executions, file_cleanup, schedules
from tasks.periodic import every_worker, singleton

REAP = "agentflow.maintenance.reap"
TICK = "agentflow.schedules.tick"
PRUNE = "agentflow.maintenance.prune"
WAKE = "agentflow.maintenance.wake"
SWEEP_FILES = "agentflow.maintenance.sweep_files"

reap_once = singleton(
    "reap executions", REAP, executions.REAP_EVERY_S, "agentflow:reaper:lock", executions.reap
)
tick_once = singleton(
    "fire schedules", TICK, schedules.TICK_S, "agentflow:scheduler:lock", schedules.fire_due
)
prune_once = singleton(
    "prune executions",
    PRUNE,
    executions.PRUNE_EVERY_S,
    "agentflow:retention:lock",
    executions.prune,
)
wake_once = singleton(
    "wake waiting runs",
    WAKE,
    executions.WAKE_EVERY_S,
    "agentflow:wake:lock",
    executions.wake_due,
)
sweep_files_once = singleton(
    "sweep unused files",
    SWEEP_FILES,
    file_cleanup.SWEEP_EVERY_S,
    "agentflow:files:sweep:lock",
    file_cleanup.sweep,
)

#: How often each worker checks the data disk (a statvfs: cheap).
DISK_EVERY_S = 15.0
every_worker("keep the disk reserve", DISK_EVERY_S, lambda _hostname: disk.status())
