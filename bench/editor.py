"""The editor with a 300-node workflow in headless Chromium: time to interactive, drag fps.

Printed (targets from issue 7):

* open: from navigation start until all 300 nodes are drawn and measured and the page
  has its document (median of RUNS page loads; target < 2 s);
* drag: frames per second while one node is dragged across the canvas among 300, from
  ``requestAnimationFrame`` timestamps (median of RUNS drags; target > 30 fps), with the
  95th percentile frame time;
* position events: websocket frames naming ``nodes_moved`` per drag (the contract: 1).

It drives a running server built for its URL (``agentflow serve`` embeds the port):

    AGENTFLOW_DATA_DIR=/tmp/bench-data REFLEX_WEB_WORKDIR=$PWD/.web-bench \\
        REFLEX_API_URL=http://localhost:3951 .venv/bin/agentflow serve --port 3951 &
    .venv/bin/python bench/editor.py --url http://localhost:3951 [--runs 5] [--nodes 300]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import uuid
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-password-1"


def big_workflow(count: int) -> dict[str, Any]:
    """A trigger and ``count - 1`` template nodes in a grid, each fed by the one before."""
    nodes = [
        {
            "id": "start",
            "type": "trigger.manual",
            "position": {"x": 0, "y": 0},
            "data": {"label": "Start", "config": {"inputs": [{"name": "q", "type": "string"}]}},
        }
    ]
    edges = []
    for index in range(1, count):
        node_id = f"step_{index}"
        nodes.append(
            {
                "id": node_id,
                "type": "transform.template",
                "position": {"x": (index % 20) * 300, "y": (index // 20) * 120},
                "data": {"label": f"Step {index}", "config": {"template": "{{ inputs.q }}"}},
            }
        )
        source = nodes[index - 1]["id"]
        edges.append({"id": f"e{index}", "source": source, "target": node_id})
    return {"schema_version": 1, "name": f"Bench {count} nodes", "nodes": nodes, "edges": edges}


def account(base: str) -> tuple[str, dict[str, str]]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(
        f"{base}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=60
    ).raise_for_status()
    token = httpx.post(
        f"{base}/api/auth/token", json={"email": email, "password": PASSWORD}, timeout=60
    ).json()["access_token"]
    return email, {"Authorization": f"Bearer {token}"}


READY_JS = """(count) => {
  const nodes = document.querySelectorAll('.react-flow__node');
  if (nodes.length < count) return false;
  // React Flow keeps nodes hidden until it has measured them.
  return [...nodes].every((n) => n.style.visibility !== 'hidden');
}"""

RAF_JS = """() => {
  window.__frames = [];
  const tick = (t) => { window.__frames.push(t); window.__raf = requestAnimationFrame(tick); };
  window.__raf = requestAnimationFrame(tick);
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:3951")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=300)
    args = parser.parse_args()
    base = args.url.rstrip("/")

    email, headers = account(base)
    created = httpx.post(
        f"{base}/api/workflows", json=big_workflow(args.nodes), headers=headers, timeout=120
    )
    created.raise_for_status()
    editor_url = f"{base}/workflows/{created.json()['id']}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        page.goto(f"{base}/login")
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("input[name=password]").press("Enter")
        page.wait_for_url("**/workflows")
        page.goto(editor_url)  # warm: the browser cache holds the bundle, as for a user
        page.wait_for_function(READY_JS, arg=args.nodes, timeout=60_000)

        opens = []
        for _ in range(args.runs):
            fresh = context.new_page()
            fresh.goto(editor_url)
            fresh.wait_for_function(READY_JS, arg=args.nodes, timeout=60_000, polling="raf")
            opens.append(fresh.evaluate("() => performance.now()"))
            fresh.close()

        frames_sent: list[str] = []
        page = context.new_page()
        page.on(
            "websocket",
            lambda socket: socket.on("framesent", lambda payload: frames_sent.append(str(payload))),
        )
        page.goto(editor_url)
        page.wait_for_function(READY_JS, arg=args.nodes, timeout=60_000)
        page.wait_for_timeout(500)
        fps, p95, events = [], [], []
        for run in range(args.runs):
            target = page.locator(f'.react-flow__node[data-id="step_{run + 1}"]')
            box = target.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            before = sum("nodes_moved" in f for f in frames_sent)
            page.evaluate(RAF_JS)
            page.mouse.move(x, y)
            page.mouse.down()
            for step in range(1, 61):
                page.mouse.move(x + step * 4, y + step * 2)
            page.mouse.up()
            frames = page.evaluate(
                "() => { cancelAnimationFrame(window.__raf); return window.__frames; }"
            )
            page.wait_for_timeout(400)
            events.append(sum("nodes_moved" in f for f in frames_sent) - before)
            gaps = [b - a for a, b in itertools.pairwise(frames)]
            fps.append(1000 * len(gaps) / (frames[-1] - frames[0]))
            p95.append(sorted(gaps)[int(len(gaps) * 0.95) - 1])
        browser.close()

    print(f"editor bench: {args.nodes} nodes, {args.runs} runs, headless Chromium")
    print(f"  open to interactive: median {statistics.median(opens):.0f} ms  (target < 2000 ms)")
    print(f"    runs: {', '.join(f'{v:.0f}' for v in opens)} ms")
    print(f"  drag one node: median {statistics.median(fps):.1f} fps  (target > 30 fps)")
    print(f"    95th percentile frame time: median {statistics.median(p95):.1f} ms")
    print(f"  position events per drag: {events}  (contract: 1 each)")


if __name__ == "__main__":
    main()
