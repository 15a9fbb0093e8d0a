"""Files in a real browser (Chromium), against the REST API served by uvicorn.

* Bytes the browser uploads (``fetch`` with ``FormData``, the browser's own multipart
  encoder) come back identical (sha256) when the browser downloads them.
* An uploaded HTML page and SVG image, opened directly or in an iframe on AgentFlow's
  origin, are downloaded, never rendered: none of their scripts runs.

The execute dialog has no upload control yet (docs/files.md), so the upload is the
browser's own ``fetch``, not the UI's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.stack import make_stack
from tests.helpers.suite import ROOT

#: A URL the hostile files' scripts would call; any request to it means a script ran.
BEACON = "http://127.0.0.1:9/ran"
HTML = f"<!doctype html><script>fetch('{BEACON}');document.title='pwned'</script>".encode()
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'' + BEACON + "')\">"
    "<script>fetch('" + BEACON + "')</script></svg>"
).encode()


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    """The REST API on a free port of a fresh embedded stack: (base URL, bearer token)."""
    with make_stack("embedded", tmp_path_factory.mktemp("files-e2e")):
        yield from _serve()


def _serve() -> Iterator[tuple[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.api_server", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        token = server.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def signed_in(browser, api: tuple[str, str]):
    base, token = api
    context = browser.new_context(
        accept_downloads=True, extra_http_headers={"Authorization": f"Bearer {token}"}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    beacons: list[str] = []
    context.on("request", lambda req: beacons.append(req.url) if "/ran" in req.url else None)
    page.goto(f"{base}/api/health")
    yield page, base, beacons
    context.close()


def _upload_in_browser(page, name: str, data: bytes, media_type: str) -> dict:
    return page.evaluate(
        """async ([name, b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const form = new FormData();
            form.append("file", new Blob([bytes], {type}), name);
            const answer = await fetch("/api/files", {method: "POST", body: form});
            return await answer.json();
        }""",
        [name, base64.b64encode(data).decode(), media_type],
    )


def _download(page, url: str) -> bytes:
    with page.expect_download() as info:
        try:
            page.goto(url)
        except Exception as exc:  # Chromium reports a navigation that became a download
            assert "Download is starting" in str(exc)
    return Path(info.value.path()).read_bytes()


def test_bytes_uploaded_by_the_browser_download_identical(signed_in) -> None:
    page, base, _ = signed_in
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)
    ref = _upload_in_browser(page, "photo.png", data, "image/png")
    assert ref["sha256"] == hashlib.sha256(data).hexdigest()
    got = _download(page, f"{base}/api/files/{ref['$file']}")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("name", "data", "media_type"),
    [("page.html", HTML, "text/html"), ("logo.svg", SVG, "image/svg+xml")],
)
def test_uploaded_html_and_svg_never_run_script(
    signed_in, name: str, data: bytes, media_type: str
) -> None:
    page, base, beacons = signed_in
    ref = _upload_in_browser(page, name, data, media_type)
    url = f"{base}/api/files/{ref['$file']}"
    # Embedded in a page of AgentFlow's origin: nothing renders, so nothing runs.
    page.set_content(
        f'<iframe src="{url}"></iframe><img src="{url}"><object data="{url}"></object>'
    )
    page.wait_for_timeout(1500)
    assert beacons == [], "a script of the uploaded file ran"
    assert page.title() != "pwned"
    # Opened directly: saved as a download, not shown.
    assert _download(page, url) == data
    assert beacons == []
