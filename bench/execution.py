"""Queue latency and throughput of executions, beside raw Celery on the same Redis.

(a) Latency: from ``POST /api/workflows/{id}/execute`` (real HTTP to the API in uvicorn)
    to the ``execution.started`` event heard on Redis, one run at a time; beside a raw
    Celery no-op task whose body publishes on Redis, from ``send_task`` to hearing it.
    Target: our p50 within 2 × raw p50 + 10 ms.
(b) Throughput: N executions of trigger → llm.prompt → output started at once, the LLM
    step answered at once by the fake Anthropic server (tests/fakes/llm.py, in its own
    process, through the real SDK and the token stream), on one worker with 2 pool
    processes (each running up to ``AGENTFLOW_RUNS_PER_PROCESS`` at once, the default 4
    unless set), from the first start to the last finished row; beside N raw no-op tasks
    on 2 processes. Target: ≥ 100 runs/s. Beside both, the floor (bench/floor.py): the
    same run's irreducible work (a committed row, a committed claim, the streamed SDK
    call to the same fake, the steps and end in one commit, the end published) as a
    hand-written task on 2 processes; and each side's worker CPU per run, and the whole
    machine's by program (the fake LLM, PostgreSQL, Redis and this process, which submits
    and watches, share the two cores with the workers).

(c) With ``--observability``: (b)'s throughput with metrics off, with metrics on
    (``AGENTFLOW_METRICS_TOKEN``) and with metrics and tracing on (OTLP/HTTP to a local
    receiver), a fresh worker per setting, the settings alternated over ``--rounds``.
    Targets: ≤ 5 % fewer runs/s with metrics on, ≤ 15 % with tracing on.

    .venv/bin/python bench/execution.py [--db postgres|sqlite] [--latency-runs 200] [--runs 500]
        [--llm-delay-ms 0]   (a model that takes its time: what runs at once is worth)
    .venv/bin/python bench/execution.py --observability [--runs 300] [--rounds 3]

``--db postgres`` uses 127.0.0.1:5432 and Redis 127.0.0.1:6379 (a throwaway database and
db number); ``sqlite`` the embedded defaults (SQLite file + the bundled redis-server).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from bench import floor  # noqa: E402

NOOP_CHANNEL = "bench:noop"
NOOP_DONE = "bench:noop:done"

# -- the raw Celery side: a no-op app the bench starts a worker for ----------------------

noop_app = floor.peer_app("bench", "bench-noop")


@noop_app.task(name="bench.noop", ignore_result=True)
def noop(seq: int, notify: bool) -> None:
    client = _noop_redis()
    if notify:
        client.publish(NOOP_CHANNEL, str(seq))
    else:
        client.incr(NOOP_DONE)


_client: redis.Redis | None = None


def _noop_redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(noop_app.conf.broker_url)
    return _client


# -- helpers -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """``argv`` in its own process group, logging to ``log``; the group is stopped after."""
    child = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def worker(argv: list[str], env: dict[str, str], log: Path):
    """A Celery worker (``celery`` arguments ``argv``) as :func:`process`."""
    return process([sys.executable, "-m", "celery", *argv], env, log)


class Listener:
    """Hears execution.started events and no-op notifications; records when, by id."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("agentflow:execution:*")
        self.pubsub.subscribe(NOOP_CHANNEL)
        self.started: dict[int, float] = {}
        self.noop: dict[int, float] = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        with contextlib.suppress(redis.ConnectionError):  # the stack stopped: the bench is over
            self._hear()

    def _hear(self) -> None:
        for message in self.pubsub.listen():
            now = time.perf_counter()
            if message["type"] == "message":
                with self.cond:
                    self.noop[int(message["data"])] = now
                    self.cond.notify_all()
            elif message["type"] == "pmessage":
                event = json.loads(message["data"])
                if event["type"] == "execution.started":
                    with self.cond:
                        self.started[event["execution_id"]] = now
                        self.cond.notify_all()

    def wait(self, table: dict[int, float], key: int, timeout: float = 30) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: key in table, timeout):
                raise TimeoutError(f"no notification for {key}")
            return table[key]


def wait_workers(url: str, count: int) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 90
    while len(list(client.scan_iter("agentflow:worker:*"))) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the AgentFlow worker did not start; see the worker log")
        time.sleep(0.2)


def wait_noop_worker() -> None:
    deadline = time.monotonic() + 90
    while not noop_app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("the no-op worker did not start")


# -- the measurements --------------------------------------------------------------------------


def three_nodes() -> dict:
    llm = {"provider": "anthropic", "model": "claude-haiku-4-5", "prompt": "Say hi", "retries": 0}
    nodes = [
        {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
        {"id": "ask", "type": "llm.prompt", "data": {"config": llm}},
        {
            "id": "out",
            "type": "output",
            "data": {"config": {"fields": {"answer": "{{ nodes.ask.output.text }}"}}},
        },
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "out"},
    ]
    return {"schema_version": 1, "name": "bench", "nodes": nodes, "edges": edges}


@contextlib.contextmanager
def fake_llm(log: Path, delay_ms: int = 0) -> Iterator[str]:
    """The fake LLM APIs in a process of their own, answering every request at once (or
    after ``delay_ms``, as a real model takes its time)."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--serve-fake-llm", "--llm-delay-ms", str(delay_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the fake LLM server did not start; see {log}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def serve_fake_llm_forever(delay_ms: int) -> None:
    from tests.fakes.llm import Reply, serve_fake_llm

    with serve_fake_llm() as fake:
        fake.default = Reply.say(
            "Hi there", input_tokens=5, output_tokens=2, delay_s=delay_ms / 1000
        )
        print(fake.url, flush=True)
        threading.Event().wait()


def latency(api: str, headers: dict, workflow_id: int, listener: Listener, runs: int) -> tuple:
    ours: list[float] = []
    raw: list[float] = []
    with httpx.Client(base_url=api, headers=headers, timeout=30) as client:
        for i in range(runs + 10):
            t0 = time.perf_counter()
            answer = client.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {}})
            execution_id = answer.json()["execution_id"]
            heard = listener.wait(listener.started, execution_id)
            if i >= 10:  # warm-up
                ours.append((heard - t0) * 1000)
            t0 = time.perf_counter()
            noop_app.send_task("bench.noop", args=[i, True], queue="bench-noop")
            heard = listener.wait(listener.noop, i)
            if i >= 10:
                raw.append((heard - t0) * 1000)
            time.sleep(0.01)  # let the run finish: measure an idle queue, not a backlog
    return ours, raw


def with_cpu(processes: list[subprocess.Popen], runs: int, measure) -> tuple:
    """``measure()``'s rate, the CPU ms per run meanwhile of the worker ``processes`` in all
    and of their main processes alone (with prefork, Celery's parent: it fetches, hands over
    and acknowledges each task, and runs none; with threads, everything), and the whole
    machine's CPU ms per run by program (:func:`machine_cpu_s`): on two cores the fake LLM,
    PostgreSQL, Redis and this process's submitting and watching share the workers' time."""
    before = machine_cpu_s()
    rate = measure()
    after = machine_cpu_s()
    workers = set().union(*(process_tree(process.pid) for process in processes))
    mains = {process.pid for process in processes}
    machine: dict[str, float] = {}
    total = parent = 0.0
    for pid, (name, seconds) in after.items():
        spent = (seconds - before.get(pid, (name, 0.0))[1]) / runs * 1000
        program = "worker" if pid in workers else name
        machine[program] = machine.get(program, 0.0) + spent
        total += spent if pid in workers else 0.0
        parent += spent if pid in mains else 0.0
    return rate, total, parent, machine


def machine_text(machine: dict[str, float]) -> str:
    """The programs that took at least 0.05 ms per run, the costliest first."""
    shown = sorted((ms, program) for program, ms in machine.items() if ms >= 0.05)
    return ", ".join(f"{program} {ms:.2f}" for ms, program in reversed(shown))


def throughput(actor, workflow_id: int, runs: int) -> float:
    from sqlalchemy import text

    from agentflow_app.db import get_engine
    from agentflow_app.services import executions

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: executions.start(actor, workflow_id, {}), range(runs)))
    submitted = time.perf_counter()
    # The watch shares the machine with the workers: one range count per poll, not a list
    # of every id (compiled 1,500 binds every 50 ms, it took a tenth of the machine).
    watch = text(
        "SELECT count(*), sum(CASE WHEN status IN ('succeeded', 'failed') THEN 1 ELSE 0 END),"
        " sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END)"
        " FROM executions WHERE id BETWEEN :low AND :high"
    )
    span = {"low": min(ids), "high": max(ids)}
    while True:
        with get_engine().connect() as conn:
            stored, ended, succeeded = conn.execute(watch, span).one()
        if stored != runs:
            raise SystemExit(f"{stored} executions between ids {span}, not this bench's {runs}")
        if ended == runs:
            break
        time.sleep(0.05)
    took = time.perf_counter() - t0
    if succeeded != runs:
        raise SystemExit(
            f"{runs - succeeded} of the {runs} runs did not succeed: the figure means nothing"
        )
    print(f"   submitted {runs} in {submitted - t0:.2f} s (web side, 4 threads)")
    return runs / took


def raw_throughput(url: str, runs: int) -> float:
    client = redis.Redis.from_url(url)
    client.delete(NOOP_DONE)
    t0 = time.perf_counter()
    with noop_app.producer_or_acquire() as producer:
        for i in range(runs):
            noop_app.send_task("bench.noop", args=[i, False], queue="bench-noop", producer=producer)
    while int(client.get(NOOP_DONE) or 0) < runs:
        time.sleep(0.01)
    return runs / (time.perf_counter() - t0)


def observability_overhead(
    argv: list[str], env: dict[str, str], actor, workflow_id: int, args, tmp: Path
) -> None:
    """(c): the same throughput run with each observability setting, alternated."""
    from tests.fakes.otlp import OtlpReceiver
    from tests.fakes.servers import serve_asgi
    from tests.helpers.prometheus import free_port

    receiver = OtlpReceiver()
    with serve_asgi(receiver.app) as otlp_url:
        metrics = {"AGENTFLOW_METRICS_TOKEN": "bench-token"}
        metrics["AGENTFLOW_WORKER_METRICS_PORT"] = str(free_port())
        settings = {
            "off": {},
            "metrics on": metrics,
            "metrics + tracing on": metrics | {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url},
        }
        rates: dict[str, list[float]] = {name: [] for name in settings}
        cpu: dict[str, list[float]] = {name: [] for name in settings}
        for round_ in range(args.rounds):
            for name, extra in settings.items():
                log = tmp / f"worker-{round_}-{name.replace(' ', '-')}.log"
                with worker(argv, env | extra, log) as process:
                    wait_workers(env["REDIS_URL"], 1)
                    throughput(actor, workflow_id, 20)  # warm the pool processes up
                    rate, cost, _, _ = with_cpu(
                        [process], args.runs, lambda: throughput(actor, workflow_id, args.runs)
                    )
                    rates[name].append(rate)
                    cpu[name].append(cost)
                    print(
                        f"   round {round_ + 1}, {name}: {rates[name][-1]:.0f} runs/s, "
                        f"{cpu[name][-1]:.1f} ms of worker CPU per run"
                    )
                wait_workers_gone(env["REDIS_URL"])
    base, base_cpu = statistics.median(rates["off"]), statistics.median(cpu["off"])
    print(f"(c) {args.runs} three-node runs, median of {args.rounds} rounds:")
    targets = {"metrics on": 0.05, "metrics + tracing on": 0.15}
    for name, values in rates.items():
        rate, cost = statistics.median(values), statistics.median(cpu[name])
        line = f"    {name:<22} {rate:6.0f} runs/s  ratio {rate / base:.3f}"
        line += f"   worker CPU {cost:5.1f} ms/run  ratio {cost / base_cpu:.3f}"
        if name in targets:
            verdict = "met" if rate >= base * (1 - targets[name]) else "MISSED"
            line += f"  (throughput target ≥ {1 - targets[name]:.2f}: {verdict})"
        print(line)
    print(f"    spans received by the OTLP receiver: {len(receiver.spans())}")


def worker_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a worker and its pool processes: unlike throughput, it
    hardly moves when other programs load the machine."""
    import psutil

    total = 0.0
    for child in process_tree(pid):
        try:
            total += _cpu_s(psutil.Process(child))
        except psutil.NoSuchProcess:
            continue
    return total


def process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (a prefork worker's pool processes)."""
    import psutil

    return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}


def machine_cpu_s() -> dict[int, tuple[str, float]]:
    """Every process's program and CPU seconds so far, by pid: this process is the
    submitting and watching side, the fake LLM's by its flag, PostgreSQL's backends and
    Redis by name."""
    import psutil

    here = os.getpid()
    seen: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            name = process.info["name"] or "?"
            if process.pid == here:
                name = "submitting and watching (this process)"
            elif "--serve-fake-llm" in (process.info["cmdline"] or []):
                name = "fake LLM"
            elif name.startswith("postgres"):
                name = "PostgreSQL"
            elif name.startswith("redis"):
                name = "Redis"
            seen[process.pid] = (name, _cpu_s(process))
        except psutil.Error:
            continue
    return seen


def _cpu_s(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def wait_workers_gone(url: str) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while list(client.scan_iter("agentflow:worker:*")) and time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="run our 2 worker processes with Celery's thread pool, N threads each",
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="(c) only: throughput with metrics and tracing off, on, on (issue 19)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (c)")
    parser.add_argument(
        "--llm-delay-ms",
        type=int,
        default=0,
        help="the fake LLM answers after this long, as a real model would (runs that wait)",
    )
    parser.add_argument("--serve-fake-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_llm:
        serve_fake_llm_forever(args.llm_delay_ms)

    from agentflow_app.api.app import create_api
    from agentflow_app.services import users, workflows
    from tests.fakes.servers import serve_asgi
    from tests.helpers.stack import make_stack

    tmp = Path(tempfile.mkdtemp(prefix="agentflow-bench-"))
    kind = "postgres" if args.db == "postgres" else "embedded"
    with (
        make_stack(kind, tmp) as stack,
        fake_llm(tmp / "fake-llm.log", args.llm_delay_ms) as llm_url,
    ):
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
        os.environ["AGENTFLOW_MAX_CONCURRENT_EXECUTIONS"] = "1000"
        common = ["--loglevel", "WARNING", "--concurrency", "2", "--without-gossip"]
        common += ["--without-mingle", "--without-heartbeat"]
        ours_argv = ["-A", "tasks.celery_app", "worker", "-Q", "agentflow", "-n", "bench@%h"]
        ours_extra: list[str] = []
        if args.threads:
            ours_extra = ["--pool", "threads", "--concurrency", str(args.threads)]
            env.setdefault("AGENTFLOW_RUNS_PER_PROCESS", str(args.threads))  # one per thread
        noop_argv = ["-A", "bench.execution:noop_app", "worker", "-Q", "bench-noop"]
        noop_argv += ["-n", "noop@%h"]
        floor_argv = ["-A", "bench.floor:floor_app", "worker", "-Q", floor.FLOOR_QUEUE]
        floor_argv += ["-n", "floor@%h"]
        floor.floor_app.conf.broker_url = stack.redis_url
        floor.create_schema(stack.db_url)
        actor = users.create_user(f"bench-{secrets.token_hex(3)}@example.com", "benchmark pw 1")
        workflow_id = workflows.create(actor, three_nodes()).id
        if args.observability:
            print(f"stack: {stack.kind}; 1 × prefork 2; {os.cpu_count()} CPUs")
            observability_overhead(ours_argv + common, env, actor, workflow_id, args, tmp)
            return
        with (
            worker(ours_argv + common + ours_extra, env, tmp / "worker.log") as ours_worker,
            worker([*ours_argv[:-1], "bench2@%h", *common, *ours_extra], env, tmp / "worker2.log")
            if args.threads
            else contextlib.nullcontext() as second_worker,
            worker(noop_argv + common, env, tmp / "noop.log") as noop_worker,
            worker(floor_argv + common, env, tmp / "floor.log") as floor_worker,
            serve_asgi(create_api()) as api,
        ):
            wait_workers(stack.redis_url, 2 if args.threads else 1)
            wait_noop_worker()
            token = httpx.post(
                f"{api}/api/auth/token", json={"email": actor.email, "password": "benchmark pw 1"}
            ).json()["access_token"]
            listener = Listener(stack.redis_url)
            per_process = env.get("AGENTFLOW_RUNS_PER_PROCESS", "the default")
            pool = f"2 × {args.threads} threads" if args.threads else "1 × prefork 2"
            pool += f", runs per process {per_process}"
            print(f"stack: {stack.kind}; ours {pool}, raw prefork 2; {os.cpu_count()} CPUs")
            if args.llm_delay_ms:
                print(f"the fake LLM answers after {args.llm_delay_ms} ms")

            ours, raw = latency(
                api, {"Authorization": f"Bearer {token}"}, workflow_id, listener, args.latency_runs
            )
            p50, p95 = statistics.median(ours), percentile(ours, 95)
            r50, r95 = statistics.median(raw), percentile(raw, 95)
            print(f"(a) POST execute → execution.started: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            print(f"    raw Celery no-op round trip:      p50 {r50:.1f} ms, p95 {r95:.1f} ms")
            verdict = "met" if p50 <= 2 * r50 + 10 else "MISSED"
            print(f"    target p50 ≤ 2 × raw + 10 ms = {2 * r50 + 10:.1f} ms: {verdict}")

            n = args.runs
            ours_workers = [ours_worker] + ([second_worker] if args.threads else [])
            ours_rate, ours_cpu, ours_parent, ours_machine = with_cpu(
                ours_workers, n, lambda: throughput(actor, workflow_id, n)
            )
            raw_rate, raw_cpu, raw_parent, raw_machine = with_cpu(
                [noop_worker], n, lambda: raw_throughput(stack.redis_url, n)
            )
            floor.throughput(stack.db_url, 20)  # the floor's pool processes import the SDK
            floor_rate, floor_cpu, floor_parent, floor_machine = with_cpu(
                [floor_worker], n, lambda: floor.throughput(stack.db_url, n)
            )
            print(f"(b) throughput, {n} three-node runs: {ours_rate:.0f} executions/s")
            print(f"    raw Celery no-op tasks:            {raw_rate:.0f} tasks/s")
            print(f"    the floor (bench/floor.py):        {floor_rate:.0f} runs/s")
            verdict = "met" if ours_rate >= 100 else "MISSED"
            print(f"    target ≥ 100 executions/s: {verdict}; ours/raw {ours_rate / raw_rate:.2f}")
            print(
                f"    floor/raw {floor_rate / raw_rate:.2f}; ours/floor {ours_rate / floor_rate:.2f}"
            )
            print(
                f"    worker CPU per run: ours {ours_cpu:.2f} ms, floor {floor_cpu:.2f} ms,"
                f" raw no-op {raw_cpu:.2f} ms"
            )
            ours_parent_text = "none (thread pool)" if args.threads else f"{ours_parent:.2f} ms"
            print(
                f"    of which the prefork parent: ours {ours_parent_text},"
                f" floor {floor_parent:.2f} ms, raw no-op {raw_parent:.2f} ms"
            )
            print("    the machine's CPU per run by program, ms:")
            print(f"      ours:    {machine_text(ours_machine)}")
            print(f"      floor:   {machine_text(floor_machine)}")
            print(f"      raw:     {machine_text(raw_machine)}")


if __name__ == "__main__":
    main()
