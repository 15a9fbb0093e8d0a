"""Shared fixtures.

- ``stack``: integration tests that take it run twice, on the embedded defaults (SQLite +
  the bundled redis-server) and on this machine's PostgreSQL + Redis.
- ``sqlite_stack``: a fresh embedded stack for tests that need a database once.
- ``live_server``: ``agentflow serve`` in a temp data dir, for end-to-end tests.
- ``browser`` / ``page``: Playwright driving Debian's Chromium.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.live_server import LiveServer, ServerFailed
from tests.helpers.outages import redis_server
from tests.helpers.stack import (
    SERVICES_REDIS_ENV,
    Stack,
    apply_env,
    make_stack,
    services_available,
)
from tests.helpers.suite import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes to the developer's ./data or reads their .env-given services."""
    saved = {k: os.environ.get(k) for k in ("AGENTFLOW_DATA_DIR", "DB_URL", "REDIS_URL")}
    apply_env(AGENTFLOW_DATA_DIR=str(tmp_path_factory.mktemp("data")), DB_URL=None, REDIS_URL=None)
    yield
    apply_env(**saved)


@pytest.fixture(scope="session", autouse=True)
def _services_redis_of_this_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In the second and later processes of a parallel run (pytest-xdist), a redis-server
    of the process's own stands in for 127.0.0.1:6379.

    Redis pub/sub ignores db numbers: every test process's executions count from 1 in
    fresh databases, and two processes on one server would hear each other's runs on
    ``agentflow:execution:<id>``, and count each other's live viewers.
    """
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":
        yield
        return
    with redis_server(tmp_path_factory.mktemp("services-redis"), persist=False) as server:
        os.environ[SERVICES_REDIS_ENV] = server.address
        yield
        os.environ.pop(SERVICES_REDIS_ENV, None)


@pytest.fixture
def set_env():
    """``set_env(NAME=value or None)`` for one test; settings and engines follow, and the
    previous values come back afterwards."""
    saved: dict[str, str | None] = {}

    def setter(**values: str | None) -> None:
        for key in values:
            saved.setdefault(key, os.environ.get(key))
        apply_env(**values)

    yield setter
    apply_env(**saved)


@pytest.fixture(scope="session", params=["embedded", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    if request.param == "postgres" and (why := services_available()):
        pytest.skip(f"skipping the PostgreSQL/Redis run: {why}")
    with make_stack(request.param, tmp_path_factory.mktemp(request.param)) as made:
        yield made


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    with make_stack("embedded", tmp_path) as made:
        yield made


@pytest.fixture(scope="session")
def live_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The suite's ``agentflow serve`` (not started yet): ``live_server`` starts it, and a
    test with a server of its own stops it meanwhile (one port, one UI build)."""
    server = LiveServer(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_data_dir(live_servers: LiveServer) -> Path:
    """The data dir of ``live_server`` (its SQLite database), for ``agentflow`` commands
    a browser test runs against the same installation (making an admin, say)."""
    return live_servers.data_dir


@pytest.fixture(scope="session")
def live_server(live_servers: LiveServer) -> str:
    """``agentflow serve`` on E2E_PORT with the embedded defaults in a temp data dir."""
    try:
        return live_servers.start()
    except ServerFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest):
    # Playwright's sync API keeps a loop running for the session; async tests in the same
    # process would fail, so browser tests live in tests/e2e and run in their own process.
    e2e = ROOT / "tests" / "e2e"
    stray = [
        item.nodeid
        for item in request.session.items
        if "browser" in getattr(item, "fixturenames", ()) and e2e not in Path(item.path).parents
    ]
    if stray:
        pytest.fail(
            f"browser tests must live in tests/e2e/ (they run in their own process): {stray}"
        )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def pytest_report_header(config: pytest.Config) -> str:
    why = services_available()
    chromium = "found" if shutil.which("chromium") or Path(CHROMIUM).exists() else "missing"
    return f"agentflow: PostgreSQL/Redis {'available' if why is None else 'UNAVAILABLE: ' + why}; chromium {chromium}"
