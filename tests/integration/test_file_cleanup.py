"""The file sweep (``services.file_cleanup``): unused files and bytes without a row go once
they are older than ``AGENTFLOW_UNUSED_FILE_HOURS``, and nothing a run holds, nothing
younger, nothing that is not ours in the store.

On both stacks with the disk store, and once on S3 (real boto3 against moto's server).
The sweep is given a clock ("now") a day and more ahead instead of files being aged.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from sqlalchemy import delete, select

from agentflow_app.db import get_engine
from agentflow_app.errors import NotFound
from agentflow_app.files.backends import file_store
from agentflow_app.files.store import MissingBlob
from agentflow_app.models import StoredFile, User
from agentflow_app.services import executions, file_cleanup, files, workflows
from tests.helpers.documents import chain, node
from tests.helpers.moto import AWS_TEST_ENV, moto_server
from tests.helpers.users import new_account

F = StoredFile.__table__
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
LATER = timedelta(hours=25)  # past the default grace period of 24 hours


def _key(file_id: int) -> str | None:
    with get_engine().connect() as conn:
        return conn.execute(select(F.c.key).where(F.c.id == file_id)).scalar_one_or_none()


def _has_bytes(key: str) -> bool:
    try:
        b"".join(file_store().open(key))
    except MissingBlob:
        return False
    return True


def _used_in_a_run(account) -> dict:
    document = chain(
        "Takes a file",
        node("start", "trigger.manual", inputs=[{"name": "doc", "type": "file"}]),
    )
    workflow_id = workflows.create(account.actor, document).id
    ref = files.upload(account.actor, "kept.png", "image/png", [PNG]).as_json()
    executions.start(account.actor, workflow_id, {"doc": ref})  # queued: no worker here
    return ref


def test_unused_uploads_go_after_the_grace_period_and_used_ones_stay(stack) -> None:
    owner = new_account("sweep")
    unused = files.upload(owner.actor, "never-run.png", "image/png", [PNG]).as_json()
    used = _used_in_a_run(owner)
    unused_key, used_key = _key(unused["$file"]), _key(used["$file"])

    file_cleanup.sweep()  # nothing is a day old yet
    assert _key(unused["$file"]) == unused_key and _has_bytes(unused_key)

    assert file_cleanup.sweep(datetime.now(UTC) + LATER) >= 1
    assert _key(unused["$file"]) is None
    assert not _has_bytes(unused_key)
    with pytest.raises(NotFound):
        files.download(owner.actor, unused["$file"])
    # The run's file is untouched, rows and bytes.
    assert _key(used["$file"]) == used_key
    assert b"".join(files.download(owner.actor, used["$file"])[1]) == PNG


def test_zero_hours_keeps_unused_files(stack, set_env) -> None:
    owner = new_account("keep")
    ref = files.upload(owner.actor, "keep.png", "image/png", [PNG]).as_json()
    set_env(AGENTFLOW_UNUSED_FILE_HOURS="0")
    assert file_cleanup.sweep(datetime.now(UTC) + timedelta(days=3650)) == 0
    assert _has_bytes(_key(ref["$file"]))


def test_a_deleted_users_files_go_with_them(stack) -> None:
    gone, stays = new_account("gone"), new_account("stays")
    theirs = [
        files.upload(gone.actor, "a.png", "image/png", [PNG]).as_json(),
        _used_in_a_run(gone),
    ]
    keys = [_key(ref["$file"]) for ref in theirs]
    kept = _used_in_a_run(stays)
    with get_engine().begin() as conn:  # the database's cascade takes the rows
        conn.execute(delete(User.__table__).where(User.__table__.c.id == gone.actor.id))
    assert all(_key(ref["$file"]) is None for ref in theirs)
    assert all(_has_bytes(key) for key in keys)  # what the cascade cannot reach

    file_cleanup.sweep()  # bytes a day younger than the grace period may be an upload
    assert all(_has_bytes(key) for key in keys)
    assert file_cleanup.sweep(datetime.now(UTC) + LATER) >= 2
    assert not any(_has_bytes(key) for key in keys)
    assert b"".join(files.download(stays.actor, kept["$file"])[1]) == PNG


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_the_sweep_on_s3_leaves_what_is_not_ours(stack, moto_url: str, set_env) -> None:
    bucket = f"agentflow-{secrets.token_hex(4)}"
    set_env(**AWS_TEST_ENV, AWS_ENDPOINT_URL_S3=moto_url)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    set_env(AGENTFLOW_FILES_BACKEND="s3", AGENTFLOW_FILES_BUCKET=bucket)
    owner = new_account("s3sweep")
    unused = files.upload(owner.actor, "unused.png", "image/png", [PNG]).as_json()
    used = _used_in_a_run(owner)
    orphan = secrets.token_hex(16)
    file_store().put(orphan, [PNG], limit=len(PNG))
    s3.put_object(Bucket=bucket, Key="agentflow/files/README.txt", Body=b"not a file of ours")
    elsewhere = f"elsewhere/{secrets.token_hex(16)}"  # outside the prefix
    s3.put_object(Bucket=bucket, Key=elsewhere, Body=b"not ours")

    assert file_cleanup.sweep(datetime.now(UTC) + LATER) >= 2  # the unused file, the orphan

    left = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert left == {
        f"agentflow/files/{_key(used['$file'])}",
        "agentflow/files/README.txt",
        elsewhere,
    }
    assert _key(unused["$file"]) is None
