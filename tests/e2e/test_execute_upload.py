"""Upload in the editor's execute dialog, run, download: the bytes are identical, on the
disk store and on S3 (moto's server mode, real boto3 in the server's workers).

A workflow takes a ``file`` input and reads it with ``file.extract``. In a real browser
the PDF is chosen in the dialog's drop zone (react-dropzone's file input, what a drop
fills too), its name and size show under the input, Run starts the run on the server's
workers, and the run's input downloads with the sha256 of the file that was chosen, over
the API and from the live view's file list. A large upload shows its progress.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import boto3
import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers.accounts import Account, sign_in
from tests.helpers.documents import chain, node
from tests.helpers.live_server import LiveServer, instead_of
from tests.helpers.moto import AWS_TEST_ENV, moto_server

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
PDF = SAMPLES / "invoice.pdf"
PDF_SHA256 = hashlib.sha256(PDF.read_bytes()).hexdigest()
BUCKET = "agentflow-e2e"

READ_INVOICE = chain(
    "Read an invoice",
    node("start", "trigger.manual", inputs=[{"name": "doc", "type": "file", "required": True}]),
    node("read", "file.extract", file="{{ inputs.doc }}"),
    node("out", "output", fields={"text": "{{ nodes.read.output.text }}"}),
)


def _upload_run_download(page: Page, server: str) -> str:
    """Choose the PDF in the dialog, run, download it twice; the sha256 of what came back."""
    account = Account(server, "upload")
    workflow_id = account.create(READ_INVOICE)
    sign_in(page, account)
    page.goto(f"{server}/workflows/{workflow_id}")
    expect(page.get_by_test_id("flow-node").first).to_be_visible(timeout=30_000)
    page.get_by_test_id("execute").click()
    dialog = page.get_by_test_id("execute-dialog")
    expect(dialog).to_contain_text("doc")

    page.get_by_test_id("execute-upload").locator("input[type=file]").set_input_files(PDF)
    expect(page.get_by_test_id("input-files-doc")).to_contain_text(
        f"invoice.pdf ({PDF.stat().st_size} bytes)", timeout=30_000
    )
    page.get_by_test_id("execute-run").click()
    expect(page).to_have_url(re.compile(r"/executions/\d+$"), timeout=30_000)

    record = account.wait_finished(int(page.url.rsplit("/", 1)[-1]))
    assert record["status"] == "succeeded", record
    assert record["outputs"] == {"text": "Invoice 2026-042\nTotal due: 1,250.00 EUR"}
    ref = record["inputs"]["doc"]
    got = httpx.get(f"{server}/api/files/{ref['$file']}", headers=account.headers)
    assert hashlib.sha256(got.content).hexdigest() == PDF_SHA256

    # The live view lists the file with its size and downloads it (a signed link).
    row = page.get_by_test_id("run-file")
    expect(row).to_contain_text("invoice.pdf", timeout=30_000)
    expect(row).to_contain_text("application/pdf")
    with page.expect_download() as info:
        row.get_by_test_id("file-download").click()
    return hashlib.sha256(Path(info.value.path()).read_bytes()).hexdigest()


def test_upload_in_the_dialog_run_and_download_identical_bytes(
    page: Page, live_server: str
) -> None:
    assert _upload_run_download(page, live_server) == PDF_SHA256


SEEN_PROGRESS = """() => {
    window.seenProgress = [];
    new MutationObserver(() => {
        const shown = document.querySelector('[data-testid="upload-progress"]');
        const text = shown && shown.textContent;
        if (text && window.seenProgress.at(-1) !== text) window.seenProgress.push(text);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_a_large_upload_shows_its_progress(page: Page, live_server: str, tmp_path: Path) -> None:
    account = Account(live_server, "progress")
    workflow_id = account.create(READ_INVOICE)
    sign_in(page, account)
    page.goto(f"{live_server}/workflows/{workflow_id}")
    expect(page.get_by_test_id("flow-node").first).to_be_visible(timeout=30_000)
    page.get_by_test_id("execute").click()
    expect(page.get_by_test_id("execute-dialog")).to_contain_text("doc")
    expect(page.get_by_test_id("upload-progress")).to_have_count(0)  # nothing sent yet

    big = tmp_path / "scan.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    # Loopback sends 6 MiB in a blink: at 2 MB/s (Chromium's own throttling) it takes
    # about three seconds, so the bar has steps to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2e6},
    )
    page.evaluate(SEEN_PROGRESS)
    page.get_by_test_id("execute-upload").locator("input[type=file]").set_input_files(big)

    expect(page.get_by_test_id("upload-progress")).to_have_text(
        "Uploaded 100% of 6.0 MB", timeout=60_000
    )
    expect(page.get_by_test_id("upload-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("input-files-doc")).to_contain_text(
        "scan.bin (6.0 MB)", timeout=30_000
    )
    seen = page.evaluate("window.seenProgress")
    steps = [int(m.group(1)) for text in seen if (m := re.match(r"Uploading (\d+)%", text))]
    assert any(0 < step < 100 for step in steps), seen  # it moved, not just appeared at 100
    assert steps == sorted(steps), seen


@pytest.fixture
def s3_server(live_servers: LiveServer, tmp_path_factory: pytest.TempPathFactory):
    """A server whose files live in a bucket of moto's S3 server, on the suite's port (the
    suite's server stops meanwhile and starts again after the test)."""
    with moto_server() as moto_url:
        s3 = boto3.client(
            "s3",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET)
        data_dir = tmp_path_factory.mktemp("serve-s3")
        env = {
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AGENTFLOW_FILES_BACKEND": "s3",
            "AGENTFLOW_FILES_BUCKET": BUCKET,
        }
        with instead_of(live_servers, data_dir, env) as base:
            yield base, s3, data_dir


def test_the_same_round_trip_on_s3(page: Page, s3_server) -> None:
    server, s3, data_dir = s3_server
    assert _upload_run_download(page, server) == PDF_SHA256
    # The bytes went to the bucket, under the prefix and a random key, and nowhere else.
    stored = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [item["Key"].startswith("agentflow/files/") for item in stored] == [True]
    body = s3.get_object(Bucket=BUCKET, Key=stored[0]["Key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == PDF_SHA256
    assert not [p for p in (data_dir / "files").rglob("*") if p.is_file()]
