"""`agentflow serve` end to end: it serves the UI and the API on one port, stops every
child it started, rebuilds nothing when nothing changed, and refuses bad settings in one
readable line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.sync_api import expect

from tests.helpers.suite import E2E_PORT, ROOT

pytestmark = pytest.mark.e2e
SCREENSHOTS = Path(os.environ.get("AGENTFLOW_SCREENSHOTS", "/tmp/agentflow-screenshots"))
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


def test_login_page_renders_in_chromium(live_server: str, page) -> None:
    page.goto(f"{live_server}/login")
    form = page.locator("form")
    expect(form.locator("input[type=email]")).to_be_visible()
    expect(form.locator("input[type=password]")).to_be_visible()
    expect(form.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page).to_have_title("Sign in · AgentFlow")
    page.screenshot(path=str(SCREENSHOTS / "login.png"))


def test_unknown_page_shows_not_found(live_server: str, page) -> None:
    page.goto(f"{live_server}/no/such/page")
    expect(page.get_by_text("Page not found")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "not-found.png"))


def test_health_and_openapi_on_the_same_port(live_server: str) -> None:
    health = httpx.get(f"{live_server}/api/health", timeout=5).json()
    assert health == {
        "status": "ok",
        "db": "ok",
        "redis": "ok",
        "workers": 1,
        "disk": "ok",
        "detail": None,
    }
    spec = httpx.get(f"{live_server}/api/openapi.json", timeout=5).json()
    assert "/api/health" in spec["paths"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    # Reuse the suite's UI build: same web dir and API URL, so nothing is rebuilt.
    env |= {
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "REFLEX_WEB_WORKDIR": str(ROOT / f".web-e2e-{E2E_PORT}"),
        "REFLEX_API_URL": f"http://localhost:{E2E_PORT}",
    }
    return env


def _start(data_dir: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", "serve", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=_serve_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()
            if body.get("workers") == 1:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    pytest.fail("serve did not become healthy with one worker")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_stopping_serve_leaves_no_process_behind(live_server, tmp_path, stop_signal) -> None:
    port = _free_port()
    process = _start(tmp_path, port)
    _wait_healthy(process, port)
    children = psutil.Process(process.pid).children(recursive=True)
    names = " ".join(" ".join(child.cmdline()) for child in children)
    assert "redis-server" in names and "celery" in names and " web " in names

    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=60)
    assert "Building the web interface" not in output, "an unchanged start rebuilt the UI"
    assert process.returncode == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
    assert not (tmp_path / "redis" / "url").exists()


def _serve_fails(tmp_path: Path, *args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "agentflow_app", "serve", *args],
        cwd=ROOT,
        env=_serve_env(tmp_path) | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_settings_are_one_readable_line(tmp_path) -> None:
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        assert f"port {port} is already in use" in _serve_fails(tmp_path, "--port", str(port))
    finally:
        busy.close()
    port = str(_free_port())
    assert "DB_URL" in _serve_fails(tmp_path, "--port", port, DB_URL="mysql://nope")
    assert "check DB_URL" in _serve_fails(
        tmp_path, "--port", port, DB_URL="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    assert "REDIS_URL" in _serve_fails(tmp_path, "--port", port, REDIS_URL="redis://127.0.0.1:1/0")
    assert "REDIS_URL" in _serve_fails(tmp_path, "--port", port, REDIS_URL="localhost:6379")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    message = _serve_fails(tmp_path, "--port", port, AGENTFLOW_DATA_DIR=str(blocker / "data"))
    assert "AGENTFLOW_DATA_DIR" in message
