"""How soon the live view shows a run: from ``POST …/execute`` to the browser's DOM.

For each of N runs (one at a time) of trigger → transform.template → output:

* ``t0``: just before ``POST /api/workflows/{id}/execute`` (real HTTP);
* ``started``: the execution's ``started_at`` as the worker recorded it;
* ``dom``: the moment a MutationObserver in Chromium sees the first step's React Flow
  node get a ``data-status`` past ``pending`` on /executions/<id>, which the page opens by
  client-side navigation as soon as the POST answers (what the editor's Execute does).

Prints p50/p95 of ``started - t0`` and ``dom - t0``, and their difference (what opening
the page adds: navigation, ``load``, the websocket update and React Flow's first render;
the record read by ``load`` already has the first step, so no live event is waited for).

A second series measures the live path alone, on a page that is already open: a workflow
start → ``wait`` (an HTTP call to a local server that answers after 800 ms) → ``greet``;
the page opens during the wait, and the figure is from ``greet``'s ``started_at`` (the
worker's clock, just before it emits ``step.started``) to the DOM showing ``greet`` past
``pending`` (store → Redis → follow → batch → websocket → React).

Every clock is this machine's wall clock (the browser's ``Date.now()`` included).

    AGENTFLOW_E2E_PORT=3981 .venv/bin/python bench/live_view.py [--runs 20]

It starts ``agentflow serve`` (embedded SQLite + Redis, one worker) on that port, using the
same UI build directory as the browser tests on that port.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("AGENTFLOW_E2E_PORT", "3981"))
BASE = f"http://localhost:{PORT}"
PASSWORD = "correct-horse-42"

DOCUMENT = {
    "schema_version": 1,
    "name": "Bench: live view",
    "description": "",
    "nodes": [
        {
            "id": "start",
            "type": "trigger.manual",
            "position": {"x": 0, "y": 0},
            "data": {"label": "Start", "config": {"inputs": []}},
        },
        {
            "id": "greet",
            "type": "transform.template",
            "position": {"x": 300, "y": 0},
            "data": {"label": "Greet", "config": {"template": "Hello"}},
        },
        {
            "id": "out",
            "type": "output",
            "position": {"x": 600, "y": 0},
            "data": {"label": "Result", "config": {"value": "{{ nodes.greet.output.text }}"}},
        },
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "greet"},
        {"id": "e2", "source": "greet", "target": "out"},
    ],
}

#: Resolves with Date.now() at two moments: the first step's node is drawn (``node``), and it
#: shows a status past pending (``status``).
WATCH_JS = """() => new Promise((resolve) => {
  let drawn = null;
  const check = () => {
    const node = document.querySelector(".react-flow__node[data-id=start]");
    if (node && drawn === null) drawn = Date.now();
    const status = node && node.getAttribute("data-status");
    return Boolean(status && status !== "pending");
  };
  const done = () => resolve({node: drawn, status: Date.now()});
  if (check()) { done(); return; }
  window.setTimeout(() => resolve(null), 60000);  // a broken run: reported, not waited on
  const observer = new MutationObserver(() => {
    if (check()) { observer.disconnect(); done(); }
  });
  observer.observe(document.body, {subtree: true, childList: true, attributes: true,
                                   attributeFilter: ["data-status"]});
})"""

NAVIGATE_JS = """(path) => {
  window.history.pushState({}, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}"""


SLOW_DOCUMENT = {
    **DOCUMENT,
    "name": "Bench: live push",
    "nodes": [
        DOCUMENT["nodes"][0],
        {
            "id": "wait",
            "type": "http.request",
            "position": {"x": 300, "y": 0},
            "data": {"label": "Wait", "config": {"url": "{{ inputs.url }}", "retries": 0}},
        },
        {**DOCUMENT["nodes"][1], "position": {"x": 600, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "wait"},
        {"id": "e2", "source": "wait", "target": "greet"},
    ],
}
SLOW_DOCUMENT["nodes"][0] = {
    **DOCUMENT["nodes"][0],
    "data": {"label": "Start", "config": {"inputs": [{"name": "url", "type": "string"}]}},
}

#: Resolves with Date.now() when ``greet`` shows a status past pending.
WATCH_GREET_JS = WATCH_JS.replace("data-id=start", "data-id=greet")


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(0.8)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(pct / 100 * len(ordered) + 0.5) - 1)]


def start_server(data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env |= {
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "REFLEX_WEB_WORKDIR": str(ROOT / f".web-e2e-{PORT}"),
        "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",  # the local slow server
    }
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", "serve", "--port", str(PORT)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while True:
        if process.poll() is not None:
            sys.exit(f"agentflow serve exited: {(data_dir / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{BASE}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit("agentflow serve did not become healthy")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        server = start_server(Path(tmp))
        try:
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            httpx.post(
                f"{BASE}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=60
            ).raise_for_status()
            token = httpx.post(
                f"{BASE}/api/auth/token", json={"email": email, "password": PASSWORD}, timeout=60
            ).json()["access_token"]
            api = httpx.Client(
                base_url=BASE, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            workflow_id = api.post("/api/workflows", json=DOCUMENT).json()["id"]

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{BASE}/login")
                page.locator("input[name=email]").fill(email)
                page.locator("input[name=password]").fill(PASSWORD)
                page.locator("input[name=password]").press("Enter")
                page.wait_for_url("**/workflows", timeout=60_000)

                started_ms: list[float] = []
                drawn_ms: list[float] = []
                dom_ms: list[float] = []
                for index in range(args.runs + 1):  # the first run warms everything up
                    page.evaluate(NAVIGATE_JS, "/executions")
                    page.get_by_test_id("page-label").or_(
                        page.get_by_test_id("executions-empty")
                    ).wait_for(timeout=60_000)
                    t0 = time.time() * 1000
                    answer = api.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {}})
                    execution_id = answer.json()["execution_id"]
                    page.evaluate(NAVIGATE_JS, f"/executions/{execution_id}")
                    seen = page.evaluate(WATCH_JS)
                    if seen is None:
                        sys.exit(f"execution {execution_id} never showed its first step")
                    record = api.get(f"/api/workflows/executions/{execution_id}").json()
                    while record["started_at"] is None:
                        time.sleep(0.05)
                        record = api.get(f"/api/workflows/executions/{execution_id}").json()
                    started = datetime.fromisoformat(record["started_at"]).timestamp() * 1000
                    if index:
                        started_ms.append(started - t0)
                        drawn_ms.append(seen["node"] - t0)
                        dom_ms.append(seen["status"] - t0)

                slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
                threading.Thread(target=slow.serve_forever, daemon=True).start()
                slow_url = f"http://127.0.0.1:{slow.server_address[1]}/wait"
                slow_id = api.post("/api/workflows", json=SLOW_DOCUMENT).json()["id"]
                push_ms: list[float] = []
                for index in range(args.runs + 1):
                    page.evaluate(NAVIGATE_JS, "/executions")
                    page.get_by_test_id("page-label").wait_for(timeout=60_000)
                    answer = api.post(
                        f"/api/workflows/{slow_id}/execute", json={"inputs": {"url": slow_url}}
                    )
                    execution_id = answer.json()["execution_id"]
                    page.evaluate(NAVIGATE_JS, f"/executions/{execution_id}")
                    seen = page.evaluate(WATCH_GREET_JS)
                    if seen is None:
                        sys.exit(f"execution {execution_id} never showed its greet step")
                    record = api.get(f"/api/workflows/executions/{execution_id}").json()
                    greet = next(s for s in record["steps"] if s["node_id"] == "greet")
                    started = datetime.fromisoformat(greet["started_at"]).timestamp() * 1000
                    if index:
                        push_ms.append(seen["status"] - started)
                slow.shutdown()
                browser.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    print(f"live view latency over {args.runs} runs (ms; p50 / p95)")
    print(
        f"  POST → execution started (worker) : {statistics.median(started_ms):7.1f} / "
        f"{percentile(started_ms, 95):7.1f}"
    )
    print(
        f"  POST → canvas draws the nodes     : {statistics.median(drawn_ms):7.1f} / "
        f"{percentile(drawn_ms, 95):7.1f}"
    )
    print(
        f"  POST → DOM shows first step       : {statistics.median(dom_ms):7.1f} / "
        f"{percentile(dom_ms, 95):7.1f}"
    )
    print(
        f"  step.started → DOM (page open)    : {statistics.median(push_ms):7.1f} / "
        f"{percentile(push_ms, 95):7.1f}"
    )
    added = [d - s for d, s in zip(dom_ms, started_ms, strict=True)]
    print(
        f"  added by the page (DOM − started) : {statistics.median(added):7.1f} / "
        f"{percentile(added, 95):7.1f}"
    )


if __name__ == "__main__":
    main()
