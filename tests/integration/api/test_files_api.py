"""Files over REST: upload, download, limits, claimed types, and files in runs.

Every test goes through the real FastAPI app on both stacks (SQLite + embedded Redis,
PostgreSQL + Redis), with the disk store; one test runs the same round trip on S3
(real boto3 against moto's server mode).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from agentflow_app.db import get_engine
from agentflow_app.models import Execution, StoredFile
from agentflow_app.services import executions, files, workflows
from tests.helpers.documents import chain, node
from tests.helpers.moto import AWS_TEST_ENV, moto_server
from tests.helpers.users import Account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
F = StoredFile.__table__


def _upload(client: TestClient, account: Account, name: str, data: bytes, media_type: str):
    return client.post(
        "/api/files", headers=account.headers(), files={"file": (name, data, media_type)}
    )


def _file_row(file_id: int):
    with get_engine().connect() as conn:
        return conn.execute(select(F).where(F.c.id == file_id)).one_or_none()


def _files_of(account: Account) -> int:
    with get_engine().connect() as conn:
        return len(
            conn.execute(select(F.c.id).where(F.c.workspace_id == account.actor.workspace_id)).all()
        )


def _roundtrip(client: TestClient, owner: Account) -> None:
    data = (SAMPLES / "invoice.pdf").read_bytes() + os.urandom(2 * 1024 * 1024)
    answer = _upload(client, owner, "invoice.pdf", data, "application/pdf")
    assert answer.status_code == 201, answer.text
    ref = answer.json()
    assert ref["name"] == "invoice.pdf"
    assert ref["media_type"] == "application/pdf"
    assert ref["size"] == len(data)
    assert ref["sha256"] == hashlib.sha256(data).hexdigest()
    got = client.get(f"/api/files/{ref['$file']}", headers=owner.headers())
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')


def test_upload_then_download_gives_identical_bytes(client: TestClient, owner: Account) -> None:
    _roundtrip(client, owner)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_the_same_round_trip_on_s3(
    client: TestClient, owner: Account, moto_url: str, set_env
) -> None:
    bucket = f"agentflow-{secrets.token_hex(4)}"
    set_env(**AWS_TEST_ENV, AWS_ENDPOINT_URL_S3=moto_url)
    boto3.client("s3").create_bucket(Bucket=bucket)
    set_env(AGENTFLOW_FILES_BACKEND="s3", AGENTFLOW_FILES_BUCKET=bucket)
    _roundtrip(client, owner)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1
    assert keys[0].startswith("agentflow/files/")


def test_another_users_file_is_404_and_names_nothing(
    client: TestClient, owner: Account, other: Account
) -> None:
    ref = _upload(client, owner, "secret-plan.png", PNG, "image/png").json()
    answer = client.get(f"/api/files/{ref['$file']}", headers=other.headers())
    assert answer.status_code == 404
    assert "secret-plan" not in answer.text
    assert client.get("/api/files/999999999", headers=owner.headers()).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "claimed"),
    [
        ("page.html", b"<!doctype html><script>document.title='ran'</script>", "text/html"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "image/svg+xml",
        ),
    ],
)
def test_active_content_is_served_as_an_inert_attachment(
    client: TestClient, owner: Account, name: str, data: bytes, claimed: str
) -> None:
    ref = _upload(client, owner, name, data, claimed).json()
    assert ref["media_type"] == claimed  # stored as what it is...
    got = client.get(f"/api/files/{ref['$file']}", headers=owner.headers())
    assert got.content == data
    # ...but served as bytes to save, which no browser renders or runs.
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_a_hostile_name_is_cleaned(client: TestClient, owner: Account) -> None:
    ref = _upload(client, owner, "../../evil;<x>.png", PNG, "image/png").json()
    assert ref["name"] == "evil_x_.png"
    got = client.get(f"/api/files/{ref['$file']}", headers=owner.headers())
    assert got.headers["content-disposition"].startswith('attachment; filename="evil_x_.png"')


def test_over_the_limit_is_413_naming_the_file_and_keeps_nothing(
    client: TestClient, owner: Account, set_env
) -> None:
    set_env(AGENTFLOW_MAX_FILE_MB="1")
    before = _files_of(owner)
    answer = _upload(client, owner, "huge-scan.png", PNG + b"\x00" * (1024 * 1024), "image/png")
    assert answer.status_code == 413
    assert "'huge-scan.png'" in answer.json()["detail"]
    assert "AGENTFLOW_MAX_FILE_MB" in answer.json()["detail"]
    assert _files_of(owner) == before


def test_a_body_over_the_run_limit_is_413_before_it_is_parsed(
    client: TestClient, owner: Account, set_env
) -> None:
    set_env(AGENTFLOW_MAX_RUN_MB="1")
    answer = _upload(client, owner, "big.bin", b"\x00" * (3 * 1024 * 1024), "application/x-data")
    assert answer.status_code == 413
    assert "AGENTFLOW_MAX_RUN_MB" in answer.json()["detail"]


def test_a_claimed_type_the_content_contradicts_is_refused(
    client: TestClient, owner: Account
) -> None:
    before = _files_of(owner)
    answer = _upload(
        client, owner, "photo.png", (SAMPLES / "invoice.pdf").read_bytes(), "image/png"
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "photo.png"
    assert _files_of(owner) == before


def test_an_upload_without_a_file_part_says_so(client: TestClient, owner: Account) -> None:
    answer = client.post("/api/files", headers=owner.headers(), files={"note": (None, "hi")})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "file"
    answer = client.post("/api/files", headers=owner.headers(), json={"file": "x"})
    assert answer.status_code == 422
    assert "multipart/form-data" in answer.json()["detail"][0]["message"]


# -- files in runs ------------------------------------------------------------------------------


def _file_workflow(owner: Account, trigger: str = "trigger.manual", kind: str = "file") -> int:
    document = chain(
        "Read a document",
        node(
            "start",
            trigger,
            inputs=[
                {"name": "doc", "type": kind, "required": True},
                {"name": "note", "type": "string"},
            ],
        ),
    )
    return workflows.create(owner.actor, document).id


def test_execute_takes_a_multipart_form_and_the_run_carries_a_reference(
    client: TestClient, owner: Account
) -> None:
    workflow_id = _file_workflow(owner)
    data = (SAMPLES / "leads.csv").read_bytes()
    answer = client.post(
        f"/api/workflows/{workflow_id}/execute",
        headers=owner.headers(),
        files={"doc": ("leads.csv", data, "text/csv")},
        data={"note": "weekly import"},
    )
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    record = executions.get(owner.actor, execution_id)
    doc = record["inputs"]["doc"]
    assert doc == {
        "$file": doc["$file"],
        "name": "leads.csv",
        "media_type": "text/csv",
        "size": len(data),
    }
    assert record["inputs"]["note"] == "weekly import"
    assert _file_row(doc["$file"]).execution_id == execution_id
    got = client.get(f"/api/files/{doc['$file']}", headers=owner.headers())
    assert got.content == data


def test_a_run_cannot_name_another_users_file(
    client: TestClient, owner: Account, other: Account
) -> None:
    theirs = _upload(client, other, "theirs.png", PNG, "image/png").json()
    workflow_id = _file_workflow(owner)
    forged = {**theirs, "name": "mine.png"}
    answer = client.post(
        f"/api/workflows/{workflow_id}/execute",
        headers=owner.headers(),
        json={"inputs": {"doc": forged}},
    )
    assert answer.status_code == 422
    assert f"file {theirs['$file']} not found" in answer.text
    assert _file_row(theirs["$file"]).execution_id is None


def test_a_reference_is_rewritten_from_its_row(client: TestClient, owner: Account) -> None:
    mine = _upload(client, owner, "scan.png", PNG, "image/png").json()
    workflow_id = _file_workflow(owner)
    forged = {"$file": mine["$file"], "name": "other.exe", "media_type": "text/html", "size": 1}
    answer = client.post(
        f"/api/workflows/{workflow_id}/execute",
        headers=owner.headers(),
        json={"inputs": {"doc": forged}},
    )
    record = executions.get(owner.actor, answer.json()["execution_id"])
    assert record["inputs"]["doc"]["name"] == "scan.png"
    assert record["inputs"]["doc"]["media_type"] == "image/png"
    assert record["inputs"]["doc"]["size"] == len(PNG)


def test_refused_inputs_leave_no_uploaded_file_behind(client: TestClient, owner: Account) -> None:
    workflow_id = _file_workflow(owner)
    before = _files_of(owner)
    answer = client.post(
        f"/api/workflows/{workflow_id}/execute",
        headers=owner.headers(),
        files={"doc": ("a.png", PNG, "image/png")},
        data={"typo": "x"},
    )
    assert answer.status_code == 422
    assert "typo" in answer.text
    assert _files_of(owner) == before


def test_a_webhook_takes_two_files_and_a_field(client: TestClient, owner: Account) -> None:
    workflow_id = _file_workflow(owner, "trigger.webhook", "files")
    hook = workflows.get(owner.actor, workflow_id).webhook_path or ""
    answer = client.post(
        hook,
        files=[
            (
                "doc",
                ("notes.docx", (SAMPLES / "notes.docx").read_bytes(), "application/octet-stream"),
            ),
            (
                "doc",
                ("leads.xlsx", (SAMPLES / "leads.xlsx").read_bytes(), "application/octet-stream"),
            ),
        ],
        data={"note": "from the form"},
    )
    assert answer.status_code == 202, answer.text
    record = executions.get(owner.actor, answer.json()["execution_id"])
    names = [(ref["name"], ref["media_type"]) for ref in record["inputs"]["doc"]]
    assert names == [
        ("notes.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("leads.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ]
    assert record["inputs"]["note"] == "from the form"
    for ref in record["inputs"]["doc"]:
        assert _file_row(ref["$file"]).workspace_id == owner.actor.workspace_id


def test_a_webhook_file_over_the_limit_is_413_naming_it(
    client: TestClient, owner: Account, set_env
) -> None:
    workflow_id = _file_workflow(owner, "trigger.webhook", "files")
    hook = workflows.get(owner.actor, workflow_id).webhook_path or ""
    set_env(AGENTFLOW_MAX_FILE_MB="1")
    answer = client.post(
        hook,
        files=[
            ("doc", ("small.png", PNG, "image/png")),
            ("doc", ("too-big.png", PNG + b"\x00" * (1024 * 1024), "image/png")),
        ],
    )
    assert answer.status_code == 413
    assert "'too-big.png'" in answer.json()["detail"]


def test_files_are_deleted_with_their_execution(client: TestClient, owner: Account) -> None:
    workflow_id = _file_workflow(owner)
    answer = client.post(
        f"/api/workflows/{workflow_id}/execute",
        headers=owner.headers(),
        files={"doc": ("old.png", PNG, "image/png")},
    )
    execution_id = answer.json()["execution_id"]
    file_id = executions.get(owner.actor, execution_id)["inputs"]["doc"]["$file"]
    key = _file_row(file_id).key
    executions.cancel(owner.actor, execution_id)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with get_engine().begin() as conn:
        conn.execute(
            update(Execution.__table__)
            .where(Execution.__table__.c.id == execution_id)
            .values(finished_at=long_ago)
        )
    assert executions.prune() >= 1
    assert _file_row(file_id) is None
    assert client.get(f"/api/files/{file_id}", headers=owner.headers()).status_code == 404
    from agentflow_app.files.backends import file_store

    with pytest.raises(Exception, match=key):
        b"".join(file_store().open(key))


# -- signed links (the live view's downloads and previews) -------------------------------------


def test_a_signed_link_downloads_without_a_header_and_only_as_issued(
    client: TestClient, owner: Account, other: Account
) -> None:
    mine = _upload(client, owner, "chart.png", PNG, "image/png").json()
    theirs = _upload(client, other, "theirs.png", PNG, "image/png").json()
    # A value naming both: only the viewer's own file gets a link.
    [link] = files.download_links(owner.actor, {"a": mine, "b": [theirs]})
    assert link["name"] == "chart.png"
    assert link["image"] is True
    got = client.get(link["url"])
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-disposition"].startswith("attachment;")
    expires, mac = link["url"].split("sig=")[1].split(".")
    forged = [
        f"/api/files/{theirs['$file']}?sig={expires}.{mac}",  # another file, same proof
        f"/api/files/{mine['$file']}?sig={int(expires) + 60}.{mac}",  # a longer life
        f"/api/files/{mine['$file']}?sig={expires}.{'0' * 64}",
        f"/api/files/{mine['$file']}?sig=garbage",
    ]
    for url in forged:
        assert client.get(url).status_code == 404, url
    [old] = files.download_links(owner.actor, mine, ttl_s=-1)
    assert client.get(old["url"]).status_code == 404
