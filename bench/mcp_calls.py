"""What MCP costs, beside its peer measured in the same run.

(a) **An MCP tool call in an agent step** against a built-in (registry) tool doing the same
    work. Each run is one ``llm.agent`` step in-process: the scripted fake Anthropic server
    (tests/fakes/llm.py, real SDK over HTTP) asks for ``lookup_company``, then answers. The
    built-in variant calls a registry tool that returns the same dict; the MCP variant calls
    the same function served by the SDK's ``MCPServer`` over streamable HTTP on loopback
    (tests/fakes/mcp_server.py). Printed: the median step time of each, and the median of
    the call alone (the ``duration_ms`` the step records for the call), with the difference
    and the ratio. The step difference includes opening the session and listing the tools,
    once per step.

(b) **``/api/mcp`` call to first progress** against ``POST /api/workflows/{id}/execute`` to
    the ``execution.started`` event heard on Redis, one run at a time, same workflow
    (trigger → template → output), same API process (uvicorn) and worker. The MCP client is
    the SDK's own, one session for all calls; its first progress notification is sent when
    the API's follower of the run sees ``execution.started``.

    .venv/bin/python bench/mcp_calls.py [--runs 30] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``mcp`` SDK itself: the repository root takes the folder's place.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
import httpx2  # noqa: E402
import redis  # noqa: E402
from pydantic import BaseModel  # noqa: E402

os.environ.setdefault("AGENTFLOW_ALLOW_PRIVATE_NETWORK", "true")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(pct / 100 * len(ordered) + 0.5) - 1)]


def row(label: str, ours: list[float], peer: list[float]) -> str:
    a, b = statistics.median(ours), statistics.median(peer)
    return f"  {label:<34} {a:8.2f} {b:8.2f} {a - b:+8.2f} {a / b:6.2f}x"


# -- (a) agent step: MCP tool vs built-in tool -------------------------------------------------


async def agent_steps(runs: int) -> None:
    from agentflow_app.engine.node import RunContext, Tool
    from agentflow_app.engine.registry import Registry
    from agentflow_app.llm.nodes import AgentConfig, LLMAgent
    from agentflow_app.net.client import GuardedClient
    from agentflow_app.nodes.credentials import StaticCredentials
    from agentflow_app.settings import reset_settings
    from tests.fakes.llm import Reply, serve_fake_llm
    from tests.fakes.mcp_server import directory_server, serve_mcp

    class LookupCompany(Tool):
        id = "lookup_company"
        description = "Look a company up in the directory: its size and home town."

        class Args(BaseModel):
            name: str

        async def run(self, ctx: RunContext, args: Args) -> dict[str, Any]:
            return {"name": args.name, "employees": 42, "city": "Oslo"}

    registry = Registry()
    registry.register_tool(LookupCompany)

    async def noop(*_: Any, **__: Any) -> None:
        return None

    with serve_fake_llm() as fake, serve_mcp(directory_server) as directory:
        os.environ["ANTHROPIC_BASE_URL"] = fake.url
        os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench-0000"
        reset_settings()
        vault = StaticCredentials({"dir": ("mcp", {"url": directory.url})})
        base = {"provider": "anthropic", "model": "claude-sonnet-4-5", "prompt": "How big is Acme?"}
        variants = {
            "built-in": (AgentConfig(**base, tools=["lookup_company"]), "lookup_company"),
            "mcp": (AgentConfig(**base, mcp_servers=["dir"]), "dir__lookup_company"),
        }
        steps: dict[str, list[float]] = {name: [] for name in variants}
        calls: dict[str, list[float]] = {name: [] for name in variants}
        async with GuardedClient(allow_private=True) as http:
            for index in range(runs + 2):  # the first round of each warms its path up
                for name, (config, tool) in variants.items():
                    fake.script(Reply.call(tool, {"name": "Acme"}), Reply.say("42 people."))
                    ctx = RunContext(
                        execution_id="bench",
                        node_id="ask",
                        attempt=1,
                        inputs={},
                        http=http,
                        credentials=vault,
                        cancelled=asyncio.Event(),
                        log=noop,
                        token=noop,
                        registry=registry,
                    )
                    started = time.perf_counter()
                    output = await LLMAgent().run(ctx, config)
                    elapsed = (time.perf_counter() - started) * 1000
                    [call] = output["steps"]
                    assert call.get("output"), call
                    if index >= 2:
                        steps[name].append(elapsed)
                        calls[name].append(call["duration_ms"])

    print(f"(a) one tool call in an llm.agent step, {runs} runs (ms, medians)")
    print(f"  {'':<34} {'MCP':>8} {'built-in':>8} {'diff':>8} {'ratio':>7}")
    print(row("whole step (2 model turns)", steps["mcp"], steps["built-in"]))
    print(row("the tool call alone", calls["mcp"], calls["built-in"]))
    print(
        f"  p95 whole step: MCP {percentile(steps['mcp'], 95):.2f}, "
        f"built-in {percentile(steps['built-in'], 95):.2f}"
    )


# -- (b) /api/mcp to first progress vs POST execute to execution.started ----------------------


class Started:
    """Hears execution.started on Redis (as bench/execution.py does), by execution id."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub()
        self.pubsub.psubscribe("agentflow:execution:*")
        self.seen: dict[int, float] = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        try:
            for message in self.pubsub.listen():
                now = time.perf_counter()
                if message["type"] != "pmessage":
                    continue
                event = json.loads(message["data"])
                if event["type"] == "execution.started":
                    with self.cond:
                        self.seen[int(event["execution_id"])] = now
                        self.cond.notify_all()
        except redis.ConnectionError:
            return

    def wait(self, execution_id: int) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: execution_id in self.seen, 30):
                raise SystemExit(f"execution {execution_id} never started")
            return self.seen[execution_id]


def flow(name: str) -> dict[str, Any]:
    from tests.helpers.documents import chain, node

    document = chain(
        name,
        node("start", "trigger.manual"),
        node("greet", "transform.template", template="Hello"),
        node("out", "output", fields={"text": "{{ nodes.greet.output.text }}"}),
    )
    document["expose_mcp"] = True
    return document


async def mcp_latency(runs: int, db: str) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from agentflow_app.api.app import create_api
    from agentflow_app.services import api_keys, workflows
    from tests.fakes.servers import serve_asgi
    from tests.helpers.stack import make_stack, services_available
    from tests.helpers.users import new_account
    from tests.helpers.workers import worker_pool

    if db == "postgres" and (why := services_available()):
        raise SystemExit(why)
    with (
        tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp,
        make_stack("postgres" if db == "postgres" else "embedded", Path(tmp)) as stack,
        worker_pool(stack, Path(tmp)) as pool,
        serve_asgi(create_api()) as base,
    ):
        pool.start("bench", concurrency=2)
        account = new_account("bench")
        workflow_id = workflows.create(account.actor, flow("Bench flow")).id
        key = api_keys.create_key(account.actor, "bench").key
        listener = Started(stack.redis_url)
        rest = httpx.Client(base_url=base, headers=account.headers(), timeout=60)
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
        mcp_ms: list[float] = []
        rest_ms: list[float] = []
        async with (
            http,
            Client(streamable_http_client(f"{base}/api/mcp", http_client=http)) as client,
        ):
            await client.list_tools()
            for index in range(runs + 2):
                first: list[float] = []

                async def on_progress(*_: Any, first: list[float] = first) -> None:
                    if not first:
                        first.append(time.perf_counter())

                t0 = time.perf_counter()
                result = await client.call_tool("bench_flow", {}, progress_callback=on_progress)
                assert not result.is_error and first, result
                t1 = time.perf_counter()
                answer = rest.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {}})
                started = listener.wait(answer.json()["execution_id"])
                if index >= 2:
                    mcp_ms.append((first[0] - t0) * 1000)
                    rest_ms.append((started - t1) * 1000)
                await asyncio.sleep(0.2)  # the REST run finishes: one run at a time

    print(f"(b) start latency, {runs} runs one at a time ({db}) (ms)")
    print(f"  {'':<34} {'MCP':>8} {'REST':>8} {'diff':>8} {'ratio':>7}")
    print(row("call → 1st progress / POST → started", mcp_ms, rest_ms))
    print(f"  p95: MCP {percentile(mcp_ms, 95):.2f}, REST {percentile(rest_ms, 95):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = parser.parse_args()
    asyncio.run(agent_steps(args.runs))
    asyncio.run(mcp_latency(args.runs, args.db))


if __name__ == "__main__":
    main()
