"""Report how many executions wait in the Celery queue, as a CloudWatch metric, without a
Lambda and without AWS credentials.

It runs as a small sidecar container in each worker task (the same image, see
agentflow_aws/services.py). Every ``--interval`` seconds it reads the length of the queue's
Redis list and prints one line in CloudWatch's embedded metric format (EMF) on stdout. The
task's awslogs driver ships the line to CloudWatch Logs, which turns it into the metric
``AgentFlow/QueueDepth`` (dimension ``Service``) that the worker service scales on. Every
worker task reports the same queue, so the scaling alarm reads the metric's Maximum.

Usage: ``python queue_depth.py --queue agentflow --service agentflow-worker [--once]``;
the Redis URL comes from ``REDIS_URL``, as for the app.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import redis

NAMESPACE = "AgentFlow"
METRIC = "QueueDepth"


def emf_line(service: str, depth: int, now_ms: int) -> str:
    """One EMF record: CloudWatch Logs extracts ``depth`` as the metric's value."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Service"]],
                        "Metrics": [{"Name": METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "Service": service,
            METRIC: depth,
        },
        separators=(",", ":"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", required=True, help="Celery queue name (a Redis list)")
    parser.add_argument("--service", required=True, help="value of the Service dimension")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between reports")
    parser.add_argument("--once", action="store_true", help="report once and exit")
    args = parser.parse_args(argv)
    url = os.environ.get("REDIS_URL")
    if not url:
        print("queue_depth: REDIS_URL is not set", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(url, socket_timeout=10)
    while True:
        try:
            depth = int(client.llen(args.queue))
        except redis.RedisError as exc:
            # A missed sample only delays scaling; the next one may succeed.
            print(f"queue_depth: cannot read {args.queue!r}: {exc}", file=sys.stderr)
            if args.once:
                return 1
        else:
            print(emf_line(args.service, depth, int(time.time() * 1000)), flush=True)
            if args.once:
                return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
