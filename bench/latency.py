"""Where one synchronous run's time goes, and how many runs/s REST clients get, beside raw Celery.

The API runs in its own process (granian, one worker, as ``agentflow serve`` runs it), one
AgentFlow worker with 2 prefork processes, and a raw Celery no-op worker with 2 processes,
all on the same Redis; the workflow is trigger → llm.prompt → output with the LLM step
answered at once by the fake Anthropic server (bench/execution.py's, in its own process).

Each round measures, one after the other:

- single-run latency: ``POST /api/workflows/{id}/run`` to its answer, one run at a time,
  each followed by a raw Celery no-op round trip (``send_task`` to hearing the task's
  publish on Redis). The breakdown of the median run comes from the record's timestamps
  and the client's clock (one machine, one clock): API to row stored, row stored to claimed
  (enqueue, broker, claim), each step, last step to terminal commit, terminal commit to
  the answer heard (publish, the waiter's wake-up, the record read, the response);
- throughput: N clients (16) each with its own connection calling ``/run`` over M runs.

Figures are medians over the rounds (the machine is shared: read them as such).

    .venv/bin/python bench/latency.py [--db postgres|sqlite] [--rounds 3] [--runs 100]
                                      [--load-runs 400] [--clients 16] [--port 4500]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.execution import (  # noqa: E402
    Listener,
    fake_llm,
    noop_app,
    percentile,
    process,
    three_nodes,
    wait_noop_worker,
    wait_workers,
    worker,
    worker_cpu_s,
)

WARM_UP_RUNS = 10
PASSWORD = "benchmark pw 1"


def ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp()


def breakdown(record: dict, sent: float, answered: float) -> dict[str, float]:
    """The run's phases in ms, from the record's timestamps and the client's wall clock."""
    steps = sorted(record["steps"], key=lambda s: s["started_at"])
    phases = {
        "API: request to row stored": ts(record["created_at"]) - sent,
        "enqueue, broker, claim": ts(record["started_at"]) - ts(record["created_at"]),
    }
    previous = ts(record["started_at"])
    for step in steps:
        phases[f"  before {step['node_id']}"] = ts(step["started_at"]) - previous
        phases[f"  step {step['node_id']}"] = ts(step["finished_at"]) - ts(step["started_at"])
        previous = ts(step["finished_at"])
    phases["last step to end committed"] = ts(record["finished_at"]) - previous
    phases["end committed to answer heard"] = answered - ts(record["finished_at"])
    return {name: value * 1000 for name, value in phases.items()}


def run_once(client: httpx.Client, workflow_id: int) -> dict:
    answer = client.post(f"/api/workflows/{workflow_id}/run", json={"inputs": {}, "timeout_s": 60})
    record = answer.json()
    if answer.status_code != 200 or record.get("status") != "succeeded":
        raise SystemExit(f"a run failed ({answer.status_code}): {answer.text[:300]}")
    if record["outputs"].get("answer") != "Hi there":
        raise SystemExit(f"a run answered {record['outputs']!r}, not the fake LLM's text")
    return record


def latency(api: str, headers: dict, workflow_id: int, listener: Listener, runs: int) -> tuple:
    ours: list[tuple[float, dict]] = []
    raw: list[float] = []
    with httpx.Client(base_url=api, headers=headers, timeout=60) as client:
        for i in range(runs + WARM_UP_RUNS):
            sent, t0 = time.time(), time.perf_counter()
            record = run_once(client, workflow_id)
            took, answered = (time.perf_counter() - t0) * 1000, time.time()
            key = secrets.randbits(40)
            t0 = time.perf_counter()
            noop_app.send_task("bench.noop", args=[key, True], queue="bench-noop")
            heard = listener.wait(listener.noop, key)
            if i >= WARM_UP_RUNS:
                ours.append((took, breakdown(record, sent, answered)))
                raw.append((heard - t0) * 1000)
    return ours, raw


def throughput(api: str, headers: dict, workflow_id: int, runs: int, clients: int) -> float:
    left = iter(range(runs))
    lock = threading.Lock()

    def one_client() -> None:
        with httpx.Client(base_url=api, headers=headers, timeout=60) as client:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                run_once(client, workflow_id)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for finished in [pool.submit(one_client) for _ in range(clients)]:
            finished.result()
    return runs / (time.perf_counter() - t0)


def unfinished() -> str:
    """The runs that have not ended, for a bench that stopped on one."""
    from sqlalchemy import select

    from agentflow_app.db import get_engine
    from agentflow_app.services.executions.rows import EXECUTIONS

    with get_engine().connect() as conn:
        rows = conn.execute(
            select(EXECUTIONS.c.id, EXECUTIONS.c.status, EXECUTIONS.c.created_at).where(
                EXECUTIONS.c.finished_at.is_(None)
            )
        ).all()
    return f"runs not ended: {[tuple(row) for row in rows]}"


def wait_api(url: str, api: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the API did not start; see {api}")
        time.sleep(0.2)


def report(rounds: list[dict], args: argparse.Namespace) -> None:
    took = [t for r in rounds for t, _ in r["ours"]]
    raw = [t for r in rounds for t in r["raw"]]
    p50 = statistics.median(took)
    print()
    per_round = ", ".join(f"{statistics.median(t for t, _ in r['ours']):.1f}" for r in rounds)
    print(f"/run single run: p50 {p50:.1f} ms, p95 {percentile(took, 95):.1f} ms "
          f"(rounds' p50: {per_round})")  # fmt: skip
    print(f"raw Celery no-op round trip: p50 {statistics.median(raw):.1f} ms, "
          f"p95 {percentile(raw, 95):.1f} ms")  # fmt: skip
    print(f"target /run p50 ≤ 25 ms: {'met' if p50 <= 25 else 'MISSED'}")
    print()
    print("median of each phase over all runs (ms; the phases of one run add up to its time):")
    names = list(rounds[0]["ours"][0][1])
    for name in names:
        values = [b[name] for r in rounds for _, b in r["ours"] if name in b]
        print(f"  {name:<34} {statistics.median(values):7.2f}")
    rates = [r["rate"] for r in rounds]
    print()
    web = statistics.median(r["cpu"]["web"] for r in rounds)
    ours = statistics.median(r["cpu"]["worker"] for r in rounds)
    print(f"CPU per run under load (ms, median of rounds): web process {web:.2f}, "
          f"worker {ours:.2f}; the machine's other load does not count here")  # fmt: skip
    print(f"/run with {args.clients} clients, {args.load_runs} runs: median "
          f"{statistics.median(rates):.1f} runs/s (rounds: {', '.join(f'{x:.1f}' for x in rates)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--load-runs", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--port", type=int, default=4500)
    parser.add_argument("--concurrency", type=int, default=2, help="our worker's processes")
    args = parser.parse_args()

    from agentflow_app.services import users, workflows
    from tests.helpers.stack import make_stack

    tmp = Path(tempfile.mkdtemp(prefix="agentflow-latency-"))
    kind = "postgres" if args.db == "postgres" else "embedded"
    with make_stack(kind, tmp) as stack, fake_llm(tmp / "fake-llm.log") as llm_url:
        noop_app.conf.broker_url = stack.redis_url
        env = dict(os.environ) | {
            "ANTHROPIC_BASE_URL": llm_url,
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "REDIS_URL": stack.redis_url,
            "DB_URL": stack.db_url,
            "AGENTFLOW_DATA_DIR": str(stack.data_dir),
            "BENCH_REDIS_URL": stack.redis_url,
            "AGENTFLOW_MAX_CONCURRENT_EXECUTIONS": "1000",
        }
        common = ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
        common += ["--without-heartbeat"]
        ours = ["-A", "tasks.celery_app", "worker", "-Q", "agentflow", "-n", "bench@%h"]
        ours += ["--concurrency", str(args.concurrency)]
        noop = ["-A", "bench.execution:noop_app", "worker", "-Q", "bench-noop", "-n", "noop@%h"]
        noop += ["--concurrency", "2"]
        api_argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
        api_argv += ["--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"]
        api_argv += ["--log-level", "warning", "agentflow_app.api.app:create_api"]
        actor = users.create_user(f"bench-{secrets.token_hex(3)}@example.com", PASSWORD)
        workflow_id = workflows.create(actor, three_nodes()).id
        api = f"http://127.0.0.1:{args.port}"
        with (
            worker(ours + common, env, tmp / "worker.log") as our_worker,
            worker(noop + common, env, tmp / "noop.log"),
            process(api_argv, env, tmp / "api.log") as web,
        ):
            wait_workers(stack.redis_url, 1)
            wait_noop_worker()
            wait_api(api, tmp / "api.log")
            token = httpx.post(
                f"{api}/api/auth/token", json={"email": actor.email, "password": PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            listener = Listener(stack.redis_url)
            print(f"stack: {stack.kind}; API: granian 1 worker; ours prefork {args.concurrency}, "
                  f"raw prefork 2; {os.cpu_count()} CPUs; {args.rounds} rounds", flush=True)  # fmt: skip
            rounds = []
            for number in range(args.rounds):
                ours_runs, raw = latency(api, headers, workflow_id, listener, args.runs)
                before = worker_cpu_s(web.pid), worker_cpu_s(our_worker.pid)
                try:
                    rate = throughput(api, headers, workflow_id, args.load_runs, args.clients)
                except httpx.HTTPError as exc:
                    raise SystemExit(f"a run failed under load ({exc!r}); {unfinished()}") from exc
                cpu = {
                    name: (worker_cpu_s(proc.pid) - used) * 1000 / args.load_runs
                    for name, proc, used in (
                        ("web", web, before[0]),
                        ("worker", our_worker, before[1]),
                    )
                }
                rounds.append({"ours": ours_runs, "raw": raw, "rate": rate, "cpu": cpu})
                p50 = statistics.median(t for t, _ in ours_runs)
                print(f"round {number + 1}: /run p50 {p50:.1f} ms, raw p50 "
                      f"{statistics.median(raw):.1f} ms, {rate:.1f} runs/s, CPU per run: web "
                      f"{cpu['web']:.2f} ms, worker {cpu['worker']:.2f} ms", flush=True)  # fmt: skip
    report(rounds, args)
    print(f"logs: {tmp}")


if __name__ == "__main__":
    main()
