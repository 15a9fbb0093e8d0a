"""AgentFlow beside Langflow: the same one-LLM workflow, measured from outside, interleaved.

Both systems run as a user would run them, each on its own port and data dir, in their
default configurations: ``agentflow serve`` (web process, one worker of 4 prefork
processes, embedded SQLite and Redis; ``--db postgres`` puts its data in PostgreSQL and
Redis on 127.0.0.1) and ``langflow run`` (one process, its own SQLite, auto-login,
telemetry off). Langflow is installed with ``uv`` into ``.peers/langflow`` (ignored by
git) on first use, pinned to :data:`LANGFLOW_VERSION`.

The workflow, built in each through its REST API: chat input → one OpenAI-protocol chat
call → output, the call answered at once by the fake LLM server (tests/fakes/llm.py) in a
process of its own that both systems reach. Its answer carries a nonce made for this run,
and it counts the requests it got, so the bench checks that each run of each system made
exactly one call to that process and returned its answer.

Measured, rounds interleaved (the order of the two alternates by round):

- single-run latency: one request per run, one run at a time, p50/p95 (AgentFlow:
  ``POST /api/workflows/{id}/run``; Langflow: ``POST /api/v1/run/{flow_id}``);
- throughput: N concurrent clients (16), each with its own connection, over M runs;
- resident memory (RSS, and PSS which counts pages shared between forked processes once)
  of every process each system started, at rest and after the load;
- cold start: from spawning the server to its health check answering healthy (the
  AgentFlow web interface is built beforehand, untimed, as Langflow's ships built).

Any failed run (an error, a wrong answer, a missing or extra LLM call) stops the bench
before it prints a single figure. Everything it started is stopped, by process group.

    .venv/bin/python bench/peers.py [--db sqlite|postgres] [--rounds 3] [--latency-runs 50]
                                    [--load-runs 200] [--clients 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

LANGFLOW_VERSION = "1.13.0"
PEERS_DIR = ROOT / ".peers"
LANGFLOW_VENV = PEERS_DIR / "langflow"
#: The AgentFlow web interface is built here once (its build embeds the port: keep it fixed).
AGENTFLOW_WEB_DIR = PEERS_DIR / "agentflow-web"
AGENTFLOW_PORT = 3107
LANGFLOW_PORT = 7861
START_TIMEOUT_S = 240
#: How long one run may take before it counts as failed. Generous on purpose: under 16
#: clients Langflow's SQLite can answer "database is locked" and stall a request for its
#: 30 s busy timeout; a stall is slow, a run past this is a failure.
RUN_TIMEOUT_S = 120
MODEL = "gpt-4o-mini"
WARM_UP_RUNS = 5


class RunFailed(Exception):
    """A run did not return the fake LLM's answer: no figure may be printed."""


# -- the fake LLM in its own process ------------------------------------------------------


def serve_fake_llm_forever() -> None:
    """Answer every chat call at once with ANSWER, and say on /bench/calls how many came."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.fakes.llm import Reply, serve_fake_llm

    answer = f"Hi from the fake, {secrets.token_hex(4)}"
    with serve_fake_llm() as fake:
        fake.default = Reply.say(answer, input_tokens=5, output_tokens=2)

        async def calls(_request) -> JSONResponse:
            count = len(fake.requests)
            fake.requests.clear()  # the bench counts deltas; keep a long run's memory flat
            return JSONResponse({"calls": count})

        fake.app.router.routes.append(Route("/bench/calls", calls, methods=["POST"]))
        print(fake.url, answer, sep="\n", flush=True)
        threading.Event().wait()


@dataclass
class FakeLLM:
    url: str
    answer: str

    def take_calls(self) -> int:
        """How many chat calls arrived since the last time this was asked."""
        return httpx.post(f"{self.url}/bench/calls").json()["calls"]


@contextlib.contextmanager
def fake_llm(log: Path) -> Iterator[FakeLLM]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--serve-fake-llm"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )
    try:
        url = process.stdout.readline().strip()
        answer = process.stdout.readline().strip()
        if not url.startswith("http://") or not answer:
            raise SystemExit(f"the fake LLM server did not start; see {log}")
        yield FakeLLM(url, answer)
    finally:
        stop_tree(process)


# -- processes ----------------------------------------------------------------------------


def tree(process: subprocess.Popen) -> list[psutil.Process]:
    """The process and every descendant alive now (AgentFlow's children have their own
    process groups, so the group of the first process is not enough)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]
    return []


def stop_tree(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the process's group, let it stop its children, then SIGKILL every process
    group left among the descendants seen before."""
    family = tree(process)
    groups = set()
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            groups.add(os.getpgid(member.pid))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    psutil.wait_procs(family, timeout=5)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@dataclass
class Memory:
    rss_mb: float
    pss_mb: float
    #: PSS in MB by what the process is (forked pool processes are summed under one name).
    by_process: dict[str, float]


def process_label(member: psutil.Process) -> str:
    words = [w for w in member.cmdline() if not w.startswith("-") and not w[:1].isdigit()]
    names = [Path(w).name for w in words[:4]]
    label = " ".join(n for n in names if not n.startswith("python")) or member.name()
    return label[:40]


def memory(process: subprocess.Popen) -> Memory:
    rss = pss = 0
    by_process: dict[str, float] = {}
    for member in tree(process):
        with contextlib.suppress(psutil.NoSuchProcess):
            info = member.memory_full_info()
            rss += info.rss
            pss += info.pss
            label = process_label(member)
            by_process[label] = by_process.get(label, 0) + info.pss / 2**20
    return Memory(rss / 2**20, pss / 2**20, by_process)


def port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} is in use; stop what holds it and start again") from None


def wait_healthy(check: Callable[[], bool], process: subprocess.Popen, log: Path) -> float:
    """Seconds from now until ``check`` passes; the caller spawned ``process`` just before."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if check():
                return time.perf_counter() - t0
        if time.monotonic() > deadline:
            raise SystemExit(f"not healthy after {START_TIMEOUT_S} s; see {log}")
        time.sleep(0.1)


# -- the two systems --------------------------------------------------------------------


@dataclass
class System:
    """One running system with the bench's workflow in it."""

    name: str
    process: subprocess.Popen
    cold_start_s: float
    run: Callable[[httpx.Client], str] = field(repr=False)
    base_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=RUN_TIMEOUT_S)


def agentflow_document() -> dict:
    llm = {"provider": "openai", "model": MODEL, "prompt": "{{ inputs.message }}", "retries": 0}
    nodes = [
        {
            "id": "start",
            "type": "trigger.manual",
            "data": {"config": {"inputs": [{"name": "message", "type": "string"}]}},
        },
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
    return {"schema_version": 1, "name": "peers bench", "nodes": nodes, "edges": edges}


def agentflow_env(data_dir: Path, fake: FakeLLM, db_url: str | None, redis_url: str | None):
    env = dict(os.environ)
    for key in ("DB_URL", "REDIS_URL"):
        env.pop(key, None)
    env |= {
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "REFLEX_WEB_WORKDIR": str(AGENTFLOW_WEB_DIR),
        "OPENAI_BASE_URL": f"{fake.url}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    if db_url:
        env |= {"DB_URL": db_url, "REDIS_URL": redis_url}
    return env


def start_agentflow(tmp: Path, fake: FakeLLM, db_url: str | None, redis_url: str | None) -> System:
    data_dir = tmp / "agentflow"
    env = agentflow_env(data_dir, fake, db_url, redis_url)
    agentflow = [sys.executable, "-m", "agentflow_app"]
    built = subprocess.run(
        [*agentflow, "build", "--port", str(AGENTFLOW_PORT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if built.returncode:
        raise SystemExit(f"building AgentFlow's web interface failed:\n{built.stderr[-2000:]}")
    port_free(AGENTFLOW_PORT)
    log = tmp / "agentflow.log"
    base = f"http://127.0.0.1:{AGENTFLOW_PORT}"
    process = subprocess.Popen(
        [*agentflow, "serve", "--port", str(AGENTFLOW_PORT), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def healthy() -> bool:
        answer = httpx.get(f"{base}/api/health", timeout=2)
        return answer.status_code == 200 and answer.json()["workers"] >= 1

    try:
        cold = wait_healthy(healthy, process, log)
        email, password = f"bench-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(12)
        with httpx.Client(base_url=base, timeout=30) as client:
            client.post("/api/auth/register", json={"email": email, "password": password})
            token = client.post("/api/auth/token", json={"email": email, "password": password})
            headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}
            created = client.post("/api/workflows", json=agentflow_document(), headers=headers)
            workflow_id = created.raise_for_status().json()["id"]
    except BaseException:
        stop_tree(process)
        raise

    def run(client: httpx.Client) -> str:
        answer = client.post(
            f"/api/workflows/{workflow_id}/run",
            json={"inputs": {"message": "Say hi"}, "timeout_s": RUN_TIMEOUT_S},
        )
        record = answer.json()
        if answer.status_code != 200 or record.get("status") != "succeeded":
            raise RunFailed(f"AgentFlow answered {answer.status_code}: {answer.text[:300]}")
        return record["outputs"]["answer"]

    return System("AgentFlow", process, cold, run, base, headers)


def install_langflow() -> Path:
    """``.peers/langflow`` with Langflow pinned, made with uv the first time (bytecode
    compiled at install, so the first cold start does not pay for compiling it)."""
    langflow = LANGFLOW_VENV / "bin" / "langflow"
    stamp = LANGFLOW_VENV / "installed-version"
    if langflow.exists() and stamp.exists() and stamp.read_text() == LANGFLOW_VERSION:
        return langflow
    # The venv's own uv first: the shared venv pins it (requirements.txt) without being on PATH.
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to install Langflow: pip install -r requirements.txt")
    print(f"installing Langflow {LANGFLOW_VERSION} into {LANGFLOW_VENV} with uv…", flush=True)
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "--clear", "--python", python, str(LANGFLOW_VENV)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--compile-bytecode", "--python", str(LANGFLOW_VENV / "bin" / "python"),
         f"langflow=={LANGFLOW_VERSION}"],
        check=True,
    )  # fmt: skip
    stamp.write_text(LANGFLOW_VERSION)
    return langflow


def langflow_node(template: dict, kind: str, node_id: str, values: dict) -> dict:
    """A flow node from the component template ``/api/v1/all`` answers, with values set."""
    node = {**template, "template": {**template["template"]}}
    for name, value in values.items():
        node["template"][name] = {**node["template"][name], "value": value, "load_from_db": False}
    return {
        "id": node_id,
        "type": "genericNode",
        "position": {"x": 0, "y": 0},
        "data": {"id": node_id, "type": kind, "node": node},
    }


def langflow_edge(source: dict, output: str, target: dict, field_name: str) -> dict:
    node = target["data"]["node"]["template"][field_name]
    out = next(o for o in source["data"]["node"]["outputs"] if o["name"] == output)
    source_handle = {
        "dataType": source["data"]["type"],
        "id": source["id"],
        "name": output,
        "output_types": out["types"],
    }
    target_handle = {
        "fieldName": field_name,
        "id": target["id"],
        "inputTypes": node.get("input_types") or [],
        "type": node["type"],
    }

    def handle(value: dict) -> str:  # Langflow's own encoding of a handle in the edge
        import json

        return json.dumps(value).replace('"', "œ")

    return {
        "id": f"reactflow__edge-{source['id']}-{target['id']}",
        "source": source["id"],
        "target": target["id"],
        "sourceHandle": handle(source_handle),
        "targetHandle": handle(target_handle),
        "data": {"sourceHandle": source_handle, "targetHandle": target_handle},
    }


def langflow_flow(components: dict, fake: FakeLLM) -> dict:
    chat_in = langflow_node(
        components["input_output"]["ChatInput"], "ChatInput", "ChatInput-bench", {}
    )
    openai = components["openai"]["ext:openai:OpenAIModelComponent@official"]
    model = langflow_node(
        openai,
        openai["name"],
        "OpenAIModel-bench",
        {
            "openai_api_base": f"{fake.url}/v1",
            "api_key": "sk-bench",
            "model_name": MODEL,
            "max_retries": 0,
        },
    )
    chat_out = langflow_node(
        components["input_output"]["ChatOutput"], "ChatOutput", "ChatOutput-bench", {}
    )
    edges = [
        langflow_edge(chat_in, "message", model, "input_value"),
        langflow_edge(model, "text_output", chat_out, "input_value"),
    ]
    return {
        "name": "peers bench",
        "data": {"nodes": [chat_in, model, chat_out], "edges": edges},
    }


def start_langflow(tmp: Path, fake: FakeLLM) -> System:
    langflow = install_langflow()
    port_free(LANGFLOW_PORT)
    data_dir = tmp / "langflow"
    data_dir.mkdir()
    env = dict(os.environ) | {
        "LANGFLOW_AUTO_LOGIN": "true",
        "DO_NOT_TRACK": "true",
        "LANGFLOW_DO_NOT_TRACK": "true",
        "LANGFLOW_CONFIG_DIR": str(data_dir),
        "LANGFLOW_DATABASE_URL": f"sqlite:///{data_dir / 'langflow.db'}",
        "LANGFLOW_OPEN_BROWSER": "false",
        "LANGFLOW_HOST": "127.0.0.1",
        "LANGFLOW_PORT": str(LANGFLOW_PORT),
        # Langflow refuses loopback base URLs unless told (AgentFlow trusts OPENAI_BASE_URL
        # from the environment, an operator's setting).
        "LANGFLOW_SSRF_ALLOWED_HOSTS": "127.0.0.1",
    }
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(key, None)
    log = tmp / "langflow.log"
    base = f"http://127.0.0.1:{LANGFLOW_PORT}"
    process = subprocess.Popen(
        [str(langflow), "run"],
        cwd=data_dir,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def healthy() -> bool:
        answer = httpx.get(f"{base}/health_check", timeout=2)
        return answer.status_code == 200 and answer.json()["status"] == "ok"

    try:
        cold = wait_healthy(healthy, process, log)
        with httpx.Client(base_url=base, timeout=60) as client:
            login = client.get("/api/v1/auto_login").raise_for_status().json()
            bearer = {"Authorization": f"Bearer {login['access_token']}"}
            components = client.get("/api/v1/all", headers=bearer).raise_for_status().json()
            created = client.post(
                "/api/v1/flows/", json=langflow_flow(components, fake), headers=bearer
            )
            flow_id = created.raise_for_status().json()["id"]
            key = client.post("/api/v1/api_key/", json={"name": "bench"}, headers=bearer)
            headers = {"x-api-key": key.raise_for_status().json()["api_key"]}
    except BaseException:
        stop_tree(process)
        raise

    def run(client: httpx.Client) -> str:
        answer = client.post(
            f"/api/v1/run/{flow_id}",
            params={"stream": "false"},
            json={"input_value": "Say hi", "input_type": "chat", "output_type": "chat"},
        )
        if answer.status_code != 200:
            raise RunFailed(f"Langflow answered {answer.status_code}: {answer.text[:300]}")
        try:
            return answer.json()["outputs"][0]["outputs"][0]["results"]["message"]["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RunFailed(
                f"Langflow's answer has no message ({exc!r}): {answer.text[:300]}"
            ) from None

    return System("Langflow", process, cold, run, base, headers)


# -- the measurements ---------------------------------------------------------------------


def checked_run(system: System, client: httpx.Client, fake: FakeLLM) -> None:
    try:
        got = system.run(client)
    except httpx.HTTPError as exc:
        raise RunFailed(f"{system.name}: {exc!r}") from exc
    if got != fake.answer:
        raise RunFailed(f"{system.name} answered {got!r}, not the fake's {fake.answer!r}")


def expect_calls(system: System, fake: FakeLLM, runs: int) -> None:
    calls = fake.take_calls()
    if calls != runs:
        raise RunFailed(f"{system.name}: {runs} runs made {calls} calls to the fake LLM")


def latency(system: System, fake: FakeLLM, runs: int) -> list[float]:
    took: list[float] = []
    fake.take_calls()
    with system.client() as client:
        for i in range(WARM_UP_RUNS + runs):
            t0 = time.perf_counter()
            checked_run(system, client, fake)
            if i >= WARM_UP_RUNS:
                took.append((time.perf_counter() - t0) * 1000)
    expect_calls(system, fake, WARM_UP_RUNS + runs)
    return took


def throughput(system: System, fake: FakeLLM, runs: int, clients: int) -> float:
    fake.take_calls()
    left = iter(range(runs))
    lock = threading.Lock()

    def one_client() -> None:
        with system.client() as client:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                checked_run(system, client, fake)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for finished in [pool.submit(one_client) for _ in range(clients)]:
            finished.result()
    rate = runs / (time.perf_counter() - t0)
    expect_calls(system, fake, runs)
    return rate


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass
class Figures:
    cold_start_s: float
    at_rest: Memory
    latency_ms: list[float] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    after_load: Memory | None = None


def spread(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return (
        format(low, fmt)
        if format(low, fmt) == format(high, fmt)
        else (f"{format(low, fmt)}–{format(high, fmt)}")
    )


def report(ours: Figures, theirs: Figures, args: argparse.Namespace, db: str) -> None:
    rows: list[tuple[str, float, float, str]] = []
    rows.append(("single run p50 (ms)", statistics.median(ours.latency_ms),
                 statistics.median(theirs.latency_ms), ".1f"))  # fmt: skip
    rows.append(("single run p95 (ms)", percentile(ours.latency_ms, 95),
                 percentile(theirs.latency_ms, 95), ".1f"))  # fmt: skip
    rows.append((f"runs/s, {args.clients} clients (median of rounds)",
                 statistics.median(ours.rates), statistics.median(theirs.rates), ".1f"))  # fmt: skip
    for label, pick in (("at rest", lambda f: f.at_rest), ("after load", lambda f: f.after_load)):
        rows.append((f"RSS {label} (MB)", pick(ours).rss_mb, pick(theirs).rss_mb, ".0f"))
        rows.append((f"PSS {label} (MB)", pick(ours).pss_mb, pick(theirs).pss_mb, ".0f"))
    rows.append(("cold start to healthy (s)", ours.cold_start_s, theirs.cold_start_s, ".1f"))

    print()
    print(f"AgentFlow ({db}, `agentflow serve`) beside Langflow {LANGFLOW_VERSION} (SQLite); "
          f"{args.rounds} rounds of {args.latency_runs} single runs and {args.load_runs} runs "
          f"with {args.clients} clients; {os.cpu_count()} CPUs")  # fmt: skip
    print()
    print("| measure | AgentFlow | Langflow | AgentFlow / Langflow |")
    print("|---|---|---|---|")
    for label, a, b, fmt in rows:
        print(f"| {label} | {a:{fmt}} | {b:{fmt}} | {a / b:.2f} |")
    print()
    print(f"per round: AgentFlow p50 {spread(ours.round_p50s, '.1f')} ms, "
          f"{spread(ours.rates, '.1f')} runs/s; Langflow p50 {spread(theirs.round_p50s, '.1f')} "
          f"ms, {spread(theirs.rates, '.1f')} runs/s")  # fmt: skip
    for name, figures in (("AgentFlow", ours), ("Langflow", theirs)):
        parts = sorted(figures.after_load.by_process.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{label} {mb:.0f}" for label, mb in parts)
        print(f"{name} PSS after load by process (MB): {listed}")
    p50_ratio = statistics.median(ours.latency_ms) / statistics.median(theirs.latency_ms)
    rate_ratio = statistics.median(ours.rates) / statistics.median(theirs.rates)
    print(f"target p50 ≤ 0.15 × Langflow's: {p50_ratio:.2f} × "
          f"({'met' if p50_ratio <= 0.15 else 'MISSED'})")  # fmt: skip
    print(f"target ≥ 10 × Langflow's runs/s: {rate_ratio:.1f} × "
          f"({'met' if rate_ratio >= 10 else 'MISSED'})")  # fmt: skip


def measure(systems: dict[str, System], fake: FakeLLM, args: argparse.Namespace):
    figures = {
        name: Figures(system.cold_start_s, memory(system.process))
        for name, system in systems.items()
    }
    for system in systems.values():  # same fake, same answer, one call per run
        with system.client() as client:
            checked_run(system, client, fake)
        expect_calls(system, fake, 1)
    names = list(systems)
    for round_no in range(args.rounds):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            took = latency(systems[name], fake, args.latency_runs)
            figures[name].latency_ms += took
            figures[name].round_p50s.append(statistics.median(took))
        for name in order:
            figures[name].rates.append(
                throughput(systems[name], fake, args.load_runs, args.clients)
            )
        print(f"round {round_no + 1} of {args.rounds} done", flush=True)
    for name, system in systems.items():
        figures[name].after_load = memory(system.process)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--load-runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--serve-fake-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_llm:
        serve_fake_llm_forever()
    if args.latency_runs < 50 or args.load_runs < 200 or args.rounds < 1:
        parser.error("--latency-runs must be ≥ 50, --load-runs ≥ 200, --rounds ≥ 1")

    tmp = Path(tempfile.mkdtemp(prefix="agentflow-peers-"))
    with contextlib.ExitStack() as stack:
        db_url = redis_url = None
        if args.db == "postgres":
            from tests.helpers.databases import postgres_database
            from tests.helpers.stack import services_redis

            db_url = stack.enter_context(postgres_database())
            redis_url = stack.enter_context(services_redis())
        fake = stack.enter_context(fake_llm(tmp / "fake-llm.log"))
        systems: dict[str, System] = {}
        try:
            systems["AgentFlow"] = start_agentflow(tmp, fake, db_url, redis_url)
            print("AgentFlow is healthy", flush=True)
            systems["Langflow"] = start_langflow(tmp, fake)
            print("Langflow is healthy", flush=True)
            figures = measure(systems, fake, args)
        except RunFailed as failed:
            raise SystemExit(f"a run failed, so no figure is printed: {failed}") from None
        finally:
            for system in systems.values():
                stop_tree(system.process)
    report(figures["AgentFlow"], figures["Langflow"], args, args.db)
    print(f"logs: {tmp}")


if __name__ == "__main__":
    main()
