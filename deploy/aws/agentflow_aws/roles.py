"""What each container runs and which settings it gets: the names the compose file and the
README's production section use too (tests/deploy/test_one_source.py holds them together).

The image is the repository's Dockerfile; a role is only a command.
"""

from __future__ import annotations

#: The port `agentflow serve` listens on in the image (Dockerfile's EXPOSE).
PORT = 3000
#: What the ALB and the container health checks ask (SPEC §9).
HEALTH_PATH = "/api/health"
#: Celery's queue (tasks/config.py ``task_default_queue``): a Redis list the workers drain.
QUEUE = "agentflow"

WEB_COMMAND = ("agentflow", "serve", "--no-worker", "--port", str(PORT))
MIGRATE_COMMAND = ("agentflow", "migrate")
#: The sidecar that reports the queue's length as a CloudWatch metric (see queue_depth.py);
#: the image holds the whole repository under /app.
QUEUE_DEPTH_SCRIPT = "/app/deploy/aws/queue_depth.py"


def worker_command(concurrency: int) -> tuple[str, ...]:
    """A Celery worker of ``concurrency`` pool processes, each running
    ``AGENTFLOW_RUNS_PER_PROCESS`` (4) executions at once."""
    return ("agentflow", "worker", "--concurrency", str(concurrency))


#: The prefix of the secrets the `aws` secrets backend creates for users' credentials
#: (agentflow_app/secrets/aws.py); the task roles may manage these and no other secret.
CREDENTIAL_SECRETS = "agentflow/*"
#: CloudWatch metric the queue-depth sidecar publishes and the worker service scales on.
METRIC_NAMESPACE = "AgentFlow"
QUEUE_DEPTH_METRIC = "QueueDepth"
