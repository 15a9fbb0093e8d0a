"""The web UI while the server's Redis is stopped: a banner says so, and the live view
of a run catches up by itself once Redis is back, without a reload.

The server here has a redis-server of the test's own (not the embedded one, which
``agentflow serve`` would restart at once), so the outage lasts as long as the test wants.
Reflex keeps each tab's state in that Redis, so the page cannot change at all meanwhile:
what matters is that the banner (which asks ``/api/health`` over HTTP) appears, and that
afterwards the view shows every step of the run that went on during the outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.slow_server import SlowServer
from tests.helpers.accounts import Account, sign_in
from tests.helpers.documents import chain, node
from tests.helpers.live_server import LiveServer, instead_of
from tests.helpers.outages import RedisServer, redis_server

STEPS = ("a", "b", "c")
STEP_MS = 3000
OUTAGE_S = 15.0


@pytest.fixture(scope="module")
def site() -> Iterator[SlowServer]:
    server = SlowServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def server(
    live_servers: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RedisServer]]:
    """``agentflow serve`` on a Redis the test can stop, on the suite's port (the suite's
    server stops meanwhile): (base URL, the Redis)."""
    with (
        redis_server(tmp_path_factory.mktemp("redis")) as redis,
        instead_of(
            live_servers, tmp_path_factory.mktemp("serve"), {"REDIS_URL": redis.url}
        ) as base,
    ):
        yield base, redis


def slow_chain(site: SlowServer) -> dict:
    """start → a → b → c (each a GET answered after STEP_MS) → out."""
    fetches = [
        node(step, "http.request", url=f"{site.url}/{step}", query={"delay_ms": str(STEP_MS)})
        for step in STEPS
    ]
    return chain(
        "Slow chain",
        node("start", "trigger.manual"),
        *fetches,
        node("out", "output", fields={"hit": "{{ nodes.c.output.body.hit }}"}),
    )


def flow_node(page: Page, node_id: str):
    return page.locator(f".react-flow__node[data-id='{node_id}']")


def test_banner_while_redis_is_down_and_the_live_view_catches_up(
    page: Page, server: tuple[str, RedisServer], site: SlowServer
) -> None:
    base, redis = server
    account = Account(base, "banner")
    workflow_id = account.create(slow_chain(site))
    sign_in(page, account)
    banner = page.get_by_test_id("health-banner")

    execution_id = account.execute(workflow_id, {})
    page.goto(f"{base}/executions/{execution_id}")
    expect(flow_node(page, "a")).to_have_attribute("data-status", "running", timeout=30_000)
    expect(banner).to_have_count(0)  # all is well: the page has asked by now
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    redis.stop()
    stopped = time.monotonic()
    try:
        expect(banner).to_be_visible(timeout=15_000)
        expect(banner).to_contain_text("Redis is unreachable")
        # The run goes on meanwhile: it reaches its end before Redis is back.
        ended = account.wait_finished(execution_id, timeout_s=OUTAGE_S + 30)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        expect(banner).to_be_visible()
    finally:
        redis.start()

    expect(banner).to_have_count(0, timeout=20_000)
    for node_id in ("start", *STEPS, "out"):
        expect(flow_node(page, node_id)).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
    expect(page.get_by_test_id("status-badge").first).to_have_attribute("data-status", "succeeded")
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
    assert ended["status"] == "succeeded", ended
    assert [site.count(f"/{step}") for step in STEPS] == [1, 1, 1]
